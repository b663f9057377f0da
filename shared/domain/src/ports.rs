//! The ports polite's functions use, named by role. Adapters (`shared/adapters`) implement
//! them on DynamoDB and SQS; a function depends only on the ports it uses, and its IAM policy
//! matches. Futures are `Send` so handlers can run on the multi-threaded Lambda runtime.

use std::future::Future;

use crate::campaign::NewCampaign;
use crate::caps::Reservation;
use crate::contact::{ConsentAppend, ContactRecord, ContactSettings, Linked};
use crate::message::{Due, TransitionDetails};
use crate::record::{Moved, NewMessage};
use crate::status::StatusUpdate;
use crate::template::{CatalogError, TemplatePage};

/// The most one queue message's body (and one batch of them) may carry: SQS's 256 KiB. (AWS
/// raised it to 1 MiB in 2025; 256 KiB holds on every queue and on moto, and polite's events
/// are far smaller.)
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message for a queue: a versioned JSON body and an optional delivery delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Unique within one batch (SQS batch entry id: letters, digits, `-`, `_`; ≤ 80 chars).
    pub id: String,
    pub body: String,
    /// Seconds before the message becomes visible; SQS allows 0–900.
    pub delay_seconds: u32,
}

/// Why messages could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Some entries were refused for good (SQS `SenderFault`, e.g. a delay over 900 s) or
    /// kept failing after retries; the others were queued.
    #[error("{} of the messages could not be queued: {}", .failed.len(), .failed.iter().map(|f| format!("{} ({})", f.id, f.reason)).collect::<Vec<_>>().join(", "))]
    Partial { failed: Vec<FailedEntry> },
    /// The queue could not be reached at all.
    #[error("the queue is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An entry that was not queued, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    pub id: String,
    pub reason: String,
}

/// Where events go: inbound-events, status-events, send-queue, the webhook parking queue.
pub trait EventQueue {
    /// Queues every message (in SendMessageBatch calls of at most 10), retrying entries that
    /// failed for transient reasons.
    ///
    /// # Errors
    /// [`QueueError::Partial`] names exactly the entries that were not queued;
    /// [`QueueError::Unavailable`] when no call reached the queue.
    fn send_all(&self, messages: Vec<QueueMessage>) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Why a contact-store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Concurrent writers kept changing the item; the caller may retry the whole operation
    /// (an SQS record is redelivered).
    #[error("the item kept changing under concurrent writes")]
    Contended,
    /// A stored item could not be read back into the domain (written by an incompatible
    /// version, or edited by hand).
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
    /// DynamoDB could not be reached or refused the call.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The contacts table: persons — their identities, derived consent and settings — and their
/// consent ledgers, behind four narrow ports (a function's IAM role grants only what the ports
/// it uses need; `tests/tests/architecture.rs` checks it). Every call names the person by any
/// of their identities (a phone number or a business-scoped user id); the store finds the
/// person that identity belongs to.
pub trait ContactStore: ContactReader + ContactWriter + DeliveryMarks + ContactEraser {}

impl<T: ContactReader + ContactWriter + DeliveryMarks + ContactEraser> ContactStore for T {}

/// Reading a person and their ledger (DynamoDB `GetItem`, `Query`).
pub trait ContactReader {
    /// Reads the person `contact` belongs to, strongly consistent (an opt-out recorded a
    /// moment ago must be seen by the sender).
    fn get(
        &self,
        contact: &crate::ContactRef,
    ) -> impl Future<Output = Result<Option<ContactRecord>, StoreError>> + Send;

    /// The person's ledger, oldest event first (by `occurred_at`).
    fn consent_history(
        &self,
        contact: &crate::ContactRef,
    ) -> impl Future<Output = Result<Vec<crate::consent::ConsentEvent>, StoreError>> + Send;
}

/// Changing what polite knows of a person: consent, inbound times, identities, settings.
pub trait ContactWriter {
    /// Appends `event` to the person's ledger (idempotent on its id) and, when it orders after
    /// the current state, makes it current — both in one transaction, conditional on the
    /// stored state being the one the decision was made on.
    ///
    /// # Errors
    /// [`StoreError::Contended`] after repeated concurrent changes to the same person.
    fn append_consent(
        &self,
        contact: &crate::ContactRef,
        event: &crate::consent::ConsentEvent,
    ) -> impl Future<Output = Result<ConsentAppend, StoreError>> + Send;

    /// Records an inbound message time (opens the 24 h window) with the username it showed,
    /// if any, and clears an undeliverable mark (the person is reachable); an older message
    /// never overwrites a newer one.
    fn record_inbound(
        &self,
        contact: &crate::ContactRef,
        at: jiff::Timestamp,
        username: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Learns what WhatsApp showed about a person's identities
    /// ([`crate::people::Observation`]): identities seen together come to find one person;
    /// a number or user-id change moves the person to the new identity; two stored persons
    /// that turn out to be one are merged — one ledger (the latest event per category wins,
    /// opt-out on a tie, every event kept), settings filled, the latest times kept.
    /// Idempotent and order-independent: a replay changes nothing.
    fn observe(
        &self,
        observation: &crate::people::Observation,
    ) -> impl Future<Output = Result<Linked, StoreError>> + Send;

    /// Changes settings, creating the contact when new; returns the contact as stored.
    fn update_settings(
        &self,
        contact: &crate::ContactRef,
        settings: &ContactSettings,
    ) -> impl Future<Output = Result<ContactRecord, StoreError>> + Send;
}

/// What Meta said about reaching a person (one `UpdateItem` each).
pub trait DeliveryMarks {
    /// Marks the person undeliverable until `until` (Meta's 131026): the gate suppresses sends
    /// until then. A later mark is never shortened by an earlier one.
    fn mark_undeliverable(
        &self,
        contact: &crate::ContactRef,
        until: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks the person blocked by the business at `at` (Meta's 130403): the gate suppresses
    /// every send until an inbound message from them later than `at` (a blocked person cannot
    /// write to the business, so one proves the block was lifted). Order-independent: a
    /// redelivered old mark never outranks a newer inbound message.
    fn mark_blocked(
        &self,
        contact: &crate::ContactRef,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Erasing a person.
pub trait ContactEraser {
    /// Erases the person (docs/architecture.md, "Consent and erasure"): profile, settings, ledger, send history and every
    /// identity's link are deleted; only keyed hashes of their identities stay, as
    /// do-not-contact tombstones that a later explicit opt-in lifts. Returns every identity
    /// the person had (so their messages can be forgotten too).
    fn erase(
        &self,
        contact: &crate::ContactRef,
    ) -> impl Future<Output = Result<Vec<crate::ContactRef>, StoreError>> + Send;
}

/// The outbox items the publisher has put on the bus.
pub trait PublishedEvents {
    /// Drops the detail of event `event_id` from the outbox of `table` (it may name a person);
    /// the item stays, without it, as the id's marker until it expires.
    fn scrub(&self, table: &str, event_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The bus polite's events go out on (EventBridge).
pub trait EventBus {
    /// Puts `events` on the bus (any number: the adapter batches them), retrying those refused
    /// for a passing reason; every event is put, or the error names those that were not.
    fn put(&self, events: &[crate::events::Event]) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// Events that did not get onto the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// These events (by position in the call) were refused, after retries; the others were put.
    #[error("{} of the events were not put ({reason})", .failed.len())]
    Partial { failed: Vec<usize>, reason: String },
    /// The bus could not be reached at all.
    #[error("the event bus is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The outbox of a table: events whose fact is already durable elsewhere (an inbound message,
/// whose queue record stays until this write succeeds) are written on their own; writes that
/// make a fact true carry their event in their own transaction instead.
pub trait Outbox {
    /// Puts `event` in the outbox, for the publisher to hand on. Writing the same event again
    /// publishes nothing more.
    fn publish(
        &self,
        event: &crate::events::Event,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why a message could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The idempotency key was used with a different request body (HTTP 409).
    #[error("the idempotency key was already used with a different request")]
    IdempotencyConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The messages table: message records, idempotency keys and campaign counters, behind six
/// narrow ports (a function's IAM role grants only what the ports it uses need;
/// `tests/tests/architecture.rs` checks it).
pub trait MessageStore: MessageIntake + MessageReader + MessageMoves + StatusLedger + DueIndex + MessageEraser {}

impl<T: MessageIntake + MessageReader + MessageMoves + StatusLedger + DueIndex + MessageEraser> MessageStore for T {}

/// Accepting messages: creation, idempotent on the caller's key.
pub trait MessageIntake {
    /// Creates a message (idempotent on its key), counting it in its campaign.
    ///
    /// # Errors
    /// [`CreateError::IdempotencyConflict`] when the key was used for another body.
    fn create(
        &self,
        new: &NewMessage,
    ) -> impl Future<Output = Result<crate::record::MessageRecord, CreateError>> + Send;

    /// The message an idempotency key created, so a caller's retry gets the original answer
    /// without being judged again (its `send_at` may have passed, the window closed); `None`
    /// for a key never used.
    ///
    /// # Errors
    /// [`CreateError::IdempotencyConflict`] when the key was used for another body.
    fn replay(
        &self,
        idempotency_key: &str,
        body_hash: &str,
    ) -> impl Future<Output = Result<Option<crate::record::MessageRecord>, CreateError>> + Send;
}

/// Reading messages and the counters kept beside them (`GetItem`, `Query`).
pub trait MessageReader {
    /// Reads a message (strongly consistent).
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<crate::record::MessageRecord>, StoreError>> + Send;

    /// The campaign's counters: messages per state and Meta's pricing per category, summed
    /// over the counter shards (one consistent query).
    fn campaign_tally(
        &self,
        campaign_id: &str,
    ) -> impl Future<Output = Result<crate::campaign::CampaignTally, StoreError>> + Send;

    /// How many priced service messages have drawn on `allowance` ([`allowance_key`]) so
    /// far (0 before the first).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn allowance_used(&self, allowance: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A page of at most `limit` of a campaign's messages, in creation order (message ids
    /// are time-ordered), only those in `state` when given, starting after the message id
    /// `after` (the cursor of the previous page). Eventually consistent: a message moved a
    /// moment ago may show its previous state.
    fn campaign_messages(
        &self,
        campaign_id: &str,
        state: Option<crate::message::MessageState>,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<crate::record::MessagePage, StoreError>> + Send;

    /// Whether a campaign's messages may go (strongly consistent: a pause a moment ago
    /// counts). `None` for a campaign polite did not create (a `campaign_id` given on
    /// `POST /v1/messages` only groups counters).
    fn campaign_status(
        &self,
        campaign_id: &str,
    ) -> impl Future<Output = Result<Option<crate::campaign::CampaignStatus>, StoreError>> + Send;
}

/// Moving a message between states (conditional writes with the campaign counters).
pub trait MessageMoves {
    /// Moves a message to `to` if its state is one of `from`, in one conditional write with the
    /// campaign counters (each real transition counts once).
    fn transition(
        &self,
        id: &str,
        from: &[crate::message::MessageState],
        to: crate::message::MessageState,
        at: jiff::Timestamp,
        details: TransitionDetails,
    ) -> impl Future<Output = Result<Moved, StoreError>> + Send;

    /// Moves `current` — a record just read — to `to`, in one conditional write that holds
    /// only if the message is still in `current.state` (no second read: the sender and the
    /// tick decide on the record they read). `Moved::No` with the state found when it moved
    /// meanwhile.
    fn transition_from(
        &self,
        current: &crate::record::MessageRecord,
        to: crate::message::MessageState,
        at: jiff::Timestamp,
        details: TransitionDetails,
    ) -> impl Future<Output = Result<Moved, StoreError>> + Send;
}

/// Applying Meta's delivery statuses.
pub trait StatusLedger {
    /// Applies a status webhook through the status lattice: the state and counters move only
    /// on a real transition; every distinct status is kept in history; a wamid the message
    /// lacked (its send outcome was unknown) and the first pricing are recorded — pricing
    /// counted in the campaign once. `None` when polite does not know the message (sent by
    /// another system on the same number).
    fn apply_status(
        &self,
        id: &str,
        update: &StatusUpdate,
    ) -> impl Future<Output = Result<Option<crate::message::Transition>, StoreError>> + Send;

    /// The id of the message Meta accepted as `wamid` (recorded with the move that stored the
    /// wamid), for statuses that carry no callback data; `None` for a message polite did not
    /// send (another system on the same number).
    fn message_for_wamid(&self, wamid: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

/// The due index the scheduler tick walks (`Query` on `DueIndex`).
pub trait DueIndex {
    /// What is due at or before `now` in one shard of the due index: `scheduled` messages,
    /// `queued`/`deferred` ones whose lease ran out, and campaign chunks waiting to fan out.
    fn due(
        &self,
        shard: u8,
        now: jiff::Timestamp,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send;

    /// Sets a due entry aside until `until` without reading it (the tick could not read or
    /// release it): its due time moves on, so the rest of its shard flows. Nothing happens to
    /// an entry that left the due index meanwhile.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn set_aside(&self, id: &str, until: jiff::Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Forgetting a person's messages.
pub trait MessageEraser {
    /// Erasure (docs/architecture.md, "Consent and erasure") in the messages: every message addressed to `contact` is
    /// forgotten — its recipient, payload and wamids with it — a waiting one suppressed
    /// `erased` first, so campaign counts stay exact. Returns how many messages are left
    /// because they are `sending` at this instant (erase again once their statuses settled
    /// them). Called once per identity of the erased person.
    fn erase_person(
        &self,
        contact: &crate::ContactRef,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Campaigns and their chunks (in the messages table, beside the campaign counters).
pub trait CampaignStore {
    /// Stores the campaign and all its chunks at once (all or nothing), each chunk due for
    /// fan-out now. An idempotent replay returns the campaign the key first created.
    ///
    /// # Errors
    /// [`CreateError::IdempotencyConflict`] when the key was used for another body.
    fn create_campaign(
        &self,
        new: &NewCampaign,
    ) -> impl Future<Output = Result<crate::campaign::CampaignRecord, CreateError>> + Send;

    /// The campaign an idempotency key created (see [`MessageStore::replay`]); `None` for a
    /// key never used.
    ///
    /// # Errors
    /// [`CreateError::IdempotencyConflict`] when the key was used for another body.
    fn campaign_replay(
        &self,
        idempotency_key: &str,
        body_hash: &str,
    ) -> impl Future<Output = Result<Option<crate::campaign::CampaignRecord>, CreateError>> + Send;

    /// Reads a campaign.
    fn campaign(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<crate::campaign::CampaignRecord>, StoreError>> + Send;

    /// Claims a chunk that is due at `now` for fan-out until `lease_until` (a conditional
    /// write, so two fan-outs rarely overlap — and a fan-out that stops half-way is retried
    /// once the lease runs out). `None` when it is not due (claimed by another) or done.
    fn claim_chunk(
        &self,
        campaign_id: &str,
        index: u32,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
    ) -> impl Future<
        Output = Result<Option<(crate::campaign::CampaignRecord, crate::campaign::CampaignChunk)>, StoreError>,
    > + Send;

    /// A chunk fanned out completely: it leaves the due index for good.
    fn finish_chunk(&self, campaign_id: &str, index: u32) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts `chunk` of `campaign` on the due index at `due` (replacing one at its place): work
    /// a request started and the tick carries on ([`crate::campaign::RESUME_CHUNK`]).
    fn schedule_chunk(
        &self,
        campaign: &crate::campaign::CampaignRecord,
        chunk: &crate::campaign::CampaignChunk,
        due: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves the campaign's file reader (chunk [`crate::campaign::AUDIENCE_CHUNK`]) from
    /// `from` to `to`, due again at `due` — or gone once `to` has read the whole file — and
    /// sets the campaign's `accepted`, `rejected` and how far its file is read, all in one
    /// transaction, conditional on the reader still being at `from` (a fan-out whose lease ran
    /// out cannot move it twice). `Ok(false)` when it had moved.
    fn advance_reader(
        &self,
        campaign_id: &str,
        from: &crate::campaign::Reader,
        to: &crate::campaign::Reader,
        due: jiff::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets the campaign's status to `to` if it is one of `from` (a conditional write).
    fn set_campaign_status(
        &self,
        campaign_id: &str,
        from: &[crate::campaign::CampaignStatus],
        to: crate::campaign::CampaignStatus,
    ) -> impl Future<Output = Result<crate::campaign::StatusChange, StoreError>> + Send;
}

/// Closing a campaign once its last message settled (the event publisher).
pub trait CampaignCompletion {
    /// Marks the campaign completed at `at` when its tally says so
    /// ([`crate::campaign::CampaignTally::is_complete`]), with `campaign.completed` in the same
    /// transaction — once: `Ok(false)` when it is not complete, already marked, or unknown.
    fn complete_if_done(
        &self,
        campaign_id: &str,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Exports of campaign reports (`crate::export`): jobs in the messages table, on the due index
/// while they have files to write.
pub trait ExportStore {
    /// Stores a new export, due at once.
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be written.
    fn create_export(&self, job: &crate::export::ExportJob) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The export `export_id` of `campaign_id`, as last written (a strongly consistent read).
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be read.
    fn export(
        &self,
        campaign_id: &str,
        export_id: &str,
    ) -> impl Future<Output = Result<Option<crate::export::ExportJob>, StoreError>> + Send;

    /// Claims the export for one step until `lease_until`, if it is due at `now` (so two
    /// ticks never work on it at once); `None` when it is not due (claimed, done, unknown).
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be written.
    fn claim_export(
        &self,
        campaign_id: &str,
        export_id: &str,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
    ) -> impl Future<Output = Result<Option<crate::export::ExportJob>, StoreError>> + Send;

    /// Moves the export from `from` to `to` — if it is still at `from`'s file count and
    /// stage — due again at `due` (off the due index once `to` is done). `Ok(false)` when
    /// another step moved it first.
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be written.
    fn advance_export(
        &self,
        from: &crate::export::ExportJob,
        to: &crate::export::ExportJob,
        due: jiff::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Consent imports from files (`crate::consent_import`): jobs in the contacts table.
pub trait ImportStore {
    /// Stores a new import.
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be written.
    fn create_import(
        &self,
        job: &crate::consent_import::ImportJob,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The import `id`, as last written (a strongly consistent read).
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be read.
    fn import_job(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<crate::consent_import::ImportJob>, StoreError>> + Send;

    /// Moves the import from `from` to `to` if it is still at `from`'s part count; `Ok(false)`
    /// when another reading of the part moved it first.
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be written.
    fn advance_import(
        &self,
        from: &crate::consent_import::ImportJob,
        to: &crate::consent_import::ImportJob,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where exports' and imports' result files are written (S3: the audience bucket, under
/// `exports/` and `imports/`).
pub trait ReportFiles {
    /// The bucket exports are written to; the error says why there is none.
    ///
    /// # Errors
    /// What to do instead, in words for the caller.
    fn export_bucket(&self) -> Result<&str, String>;

    /// Writes (or replaces) the object `key` of the export bucket.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it cannot be written.
    fn put_file(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A part of an audience file, and the whole file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    pub bytes: Vec<u8>,
    pub size: u64,
}

/// Audience files (S3), read a part at a time (`GetObject` with a range).
pub trait AudienceFiles {
    /// Whether files in `bucket` can be read (polite's role may read its audience bucket
    /// only); the error says where files may be.
    ///
    /// # Errors
    /// What to do instead, in words for the caller.
    fn reads_from(&self, bucket: &str) -> Result<(), String>;

    /// At most `len` bytes of `file` from `offset` (none past its end), and the file's size;
    /// `None` when there is no such file.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be read (unreachable, or polite may
    /// not read that bucket).
    fn read_part(
        &self,
        file: &crate::audience_file::AudienceFile,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Option<FilePart>, StoreError>> + Send;
}

/// The WhatsApp Cloud API, as the functions that send use it.
pub trait WhatsAppApi {
    /// Sends one message.
    ///
    /// # Errors
    /// [`crate::whatsapp::SendFailure`]: Meta's refusal with its code, an unreachable API
    /// (safe to retry), an unknown outcome (never resend blindly) or an unreadable answer.
    fn send(
        &self,
        message: &crate::whatsapp::Outbound,
    ) -> impl Future<Output = Result<crate::whatsapp::Accepted, crate::whatsapp::SendFailure>> + Send;
}

/// Each person's recent sends, for frequency caps and pair spacing, whatever identity a message
/// was addressed by: `person` is the stored person's id ([`ContactRecord::id`]), or the
/// message's recipient for a person polite has not stored. Kept in items of their own (one per
/// message) so a consent update and a send never overwrite each other, and concurrent senders
/// never contend on one item.
pub trait SendLog {
    /// The recipient's sends at or after `since`, strongly consistent.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn recent_sends(
        &self,
        person: &crate::ContactRef,
        since: jiff::Timestamp,
    ) -> impl Future<Output = Result<crate::caps::SendHistory, StoreError>> + Send;

    /// Reserves the send of `message_id` to the recipient *before* Meta is called, on the
    /// history the gate decided on: one conditional write that holds only if no other send was
    /// reserved since `read.version` (so two jobs for one person in flight at once cannot both
    /// pass caps and spacing). Idempotent on the message id. The record expires after `keep`
    /// (the longest cap window).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn reserve_send(
        &self,
        person: &crate::ContactRef,
        message_id: &str,
        sent: crate::caps::SentRecord,
        keep: jiff::SignedDuration,
        read: &crate::caps::SendHistory,
    ) -> impl Future<Output = Result<Reservation, StoreError>> + Send;

    /// Records a send polite did not make — a message the business wrote from the WhatsApp
    /// Business app (an echo) — under `key` (its wamid): unconditional, idempotent on the key,
    /// and moving the log's version, so a sender that read the history before it decides again.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn record_sent(
        &self,
        person: &crate::ContactRef,
        key: &str,
        sent: crate::caps::SentRecord,
        keep: jiff::SignedDuration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives a reservation back: Meta refused the message for sure (it did not go).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn release_send(
        &self,
        person: &crate::ContactRef,
        message_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Reading the template registry ([`crate::template`]): what a send is checked against.
pub trait TemplateReader {
    /// The template's record, strongly consistent.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn template(
        &self,
        key: &crate::template::TemplateKey,
    ) -> impl Future<Output = Result<Option<crate::template::TemplateRecord>, StoreError>> + Send;

    /// When the registry was last loaded whole from Meta's list (`None`: never — it then has
    /// no say on templates it does not hold).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn loaded_at(&self) -> impl Future<Output = Result<Option<jiff::Timestamp>, StoreError>> + Send;
}

/// The template registry ([`crate::template`]) as its keeper changes it: one record per
/// template (name and language), each aspect updated only by a newer update.
pub trait TemplateStore: TemplateReader {
    /// Applies `update` to its template's record (creating it); true when a value changed.
    /// Concurrent updates of one template never lose one another.
    ///
    /// # Errors
    /// [`StoreError::Contended`] after repeated concurrent changes to the same template.
    fn apply_template(
        &self,
        update: &crate::template::TemplateUpdate,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every template, by name then language.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn templates(&self) -> impl Future<Output = Result<Vec<crate::template::TemplateRecord>, StoreError>> + Send;

    /// Records a complete load from Meta's list.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn mark_loaded(&self, at: jiff::Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Meta's list of the business's templates (`GET /<WABA_ID>/message_templates`), a page at a
/// time.
pub trait TemplateCatalog {
    /// The page after cursor `after` (the first page with `None`).
    ///
    /// # Errors
    /// [`CatalogError`] when Meta cannot be reached or refuses.
    fn page(&self, after: Option<&str>) -> impl Future<Output = Result<TemplatePage, CatalogError>> + Send;
}

/// Every port trait, for code that calls a store's methods without naming the narrow port
/// each comes from (tests, the dev stack): `use polite_domain::ports::prelude::*;`.
pub mod prelude {
    pub use super::{
        AudienceFiles as _, CampaignCompletion as _, CampaignStore as _, ContactEraser as _, ContactReader as _,
        ContactWriter as _, DeliveryMarks as _, DueIndex as _, EventBus as _, EventQueue as _, ExportStore as _,
        ImportStore as _, MessageEraser as _, MessageIntake as _, MessageMoves as _, MessageReader as _, Outbox as _,
        PublishedEvents as _, ReportFiles as _, SendLog as _, StatusLedger as _, TemplateCatalog as _,
        TemplateReader as _, TemplateStore as _, WhatsAppApi as _,
    };
}
