//! Send requests become message records that go out only when due (messages-api accepts
//! them, scheduler-tick releases them).
//!
//! A request is checked (`polite_domain::request`), stored, and then waits where it is cheapest:
//! on **send-queue** with `DelaySeconds` when it is due within 15 minutes (SQS's longest delay),
//! in the **messages table** as `scheduled` (on the sharded due index) otherwise. The **tick**
//! (EventBridge, every minute) releases what came due with a conditional `scheduled → queued`
//! write, so two overlapping ticks never release a message twice.
//!
//! Nothing is lost between the table and the queue: a queued message keeps a *lease* in the due
//! index (its visible time + [`QUEUE_LEASE`]); if the sender has not claimed it by then, the
//! queue message was lost (or the enqueue failed) and the tick queues it again. A duplicate
//! queue message is harmless — the sender claims a message with a conditional write.

mod audience;
pub mod campaigns;
pub mod export;
pub mod tick;

use jiff::Timestamp;
use polite_domain::campaign::CampaignSettings;
use polite_domain::contact::ContactRecord;
use polite_domain::envelope;
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState};
use polite_domain::ports::{
    ContactReader, CreateError, EventQueue, MessageIntake, MessageMoves, MessageReader, QueueError, StoreError,
};
use polite_domain::record::MessageRecord;
use polite_domain::record::{Moved, NewMessage};
use polite_domain::request::{Payload, Placement, QUEUE_LEASE, ValidSend, placement, queue_delay, window_allows};

/// What the scheduler needs: the messages table, the contacts (for the 24 h window of
/// free-form text), the template registry (the category Meta last set), send-queue, and how
/// campaigns fan out.
#[derive(Debug)]
pub struct Scheduler<M, C, Q, T, A = NoAudiences> {
    pub messages: M,
    pub contacts: C,
    /// The template registry, read when messages are created (a request, a campaign chunk).
    pub templates: T,
    pub send_queue: Q,
    pub campaigns: CampaignSettings,
    /// Where campaigns' audience files are read (`audience: {"s3": …}`).
    pub audiences: A,
}

impl<M, C, Q, T> Scheduler<M, C, Q, T> {
    /// The scheduler on these stores, this queue and these fan-out settings, without audience
    /// files ([`Self::with_audiences`] adds them).
    pub fn on(messages: M, contacts: C, templates: T, send_queue: Q, campaigns: CampaignSettings) -> Self {
        Self { messages, contacts, templates, send_queue, campaigns, audiences: NoAudiences }
    }

    /// The same scheduler reading audience files from `audiences`.
    pub fn with_audiences<A>(self, audiences: A) -> Scheduler<M, C, Q, T, A> {
        let Self { messages, contacts, templates, send_queue, campaigns, .. } = self;
        Scheduler { messages, contacts, templates, send_queue, campaigns, audiences }
    }
}

/// No audience files: a deployment without an audience bucket (a campaign naming a file is
/// refused before it is stored; one stored anyway waits on its reader and alarms).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudiences;

impl polite_domain::ports::AudienceFiles for NoAudiences {
    fn reads_from(&self, _bucket: &str) -> Result<(), String> {
        Err("this deployment reads no audience files: deploy with an audience bucket (AUDIENCE_BUCKET) or list the recipients".into())
    }

    async fn read_part(
        &self,
        file: &polite_domain::audience_file::AudienceFile,
        _offset: u64,
        _len: u64,
    ) -> Result<Option<polite_domain::ports::FilePart>, StoreError> {
        Err(StoreError::Unavailable(format!("no audience bucket is configured to read {file}").into()))
    }
}

impl polite_domain::ports::ReportFiles for NoAudiences {
    fn export_bucket(&self) -> Result<&str, String> {
        Err("this deployment has no bucket to export reports to: deploy with an audience bucket (AUDIENCE_BUCKET) or page through GET /v1/campaigns/{id}/messages".into())
    }

    async fn put_file(&self, key: &str, _bytes: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(format!("no bucket is configured to write {key}").into()))
    }
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Free-form text, but the recipient's 24 h window will be closed when it would go.
    #[error("the recipient's 24 h customer-service window is closed")]
    WindowClosed { open_until: Option<Timestamp>, reply: bool },
    /// The idempotency key was used with another body.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyConflict,
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// A new message id: `msg_` + a UUIDv7 (time-ordered, so ids sort by creation).
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

impl<M, C, Q, T, A> Scheduler<M, C, Q, T, A>
where
    T: polite_domain::ports::TemplateReader + Sync,
    M: MessageIntake + MessageReader + MessageMoves + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
{
    /// Stores a checked request and places it (queue or table). An idempotent replay returns
    /// the message the key first created, as it is now.
    ///
    /// # Errors
    /// [`SubmitError`]: a closed window for free-form text, an idempotency conflict, or the
    /// store failing (nothing was created then).
    pub async fn submit(
        &self,
        send: ValidSend,
        body_hash: String,
        now: Timestamp,
    ) -> Result<MessageRecord, SubmitError> {
        let start = send.send_at.map_or(now, |s| s.max(now));
        if send.payload.is_free_form() {
            let contact = self.contacts.get(&send.to).await?;
            let open_until = contact.as_ref().and_then(ContactRecord::window_open_until);
            if !window_allows(&send.payload, open_until, start) {
                let reply = matches!(send.payload, Payload::Reply { .. });
                return Err(SubmitError::WindowClosed { open_until, reply });
            }
        }
        let governing = self.governing_category(&send.payload, now).await;
        let mut new = prepare(send, body_hash, now);
        new.record.govern(governing);
        let stored = self.messages.create(&new).await.map_err(|e| match e {
            CreateError::IdempotencyConflict => SubmitError::IdempotencyConflict,
            CreateError::Store(e) => SubmitError::Store(e),
        })?;
        if stored.id != new.record.id {
            tracing::info!(message_id = %stored.id, "idempotent replay: the key's message is returned");
            return Ok(stored);
        }
        if let Some(job) = Job::of(&stored) {
            self.enqueue(vec![job], now).await;
        }
        tracing::info!(message_id = %stored.id, state = stored.state.as_str(), to = %stored.to.masked(), "message accepted");
        Ok(stored)
    }

    /// The category the template registry holds for `payload`'s template (for
    /// [`MessageRecord::govern`]). The registry failing changes nothing here: the sender
    /// consults it again before the message goes.
    pub(super) async fn governing_category(&self, payload: &Payload, now: Timestamp) -> Option<Category> {
        self.template_of(payload).await.and_then(|t| t.category_at(now))
    }

    /// `payload`'s template as the registry holds it (its category, its variables); `None` for
    /// free-form content, an unknown template, or a registry that cannot be read — nothing
    /// here depends on it: the sender consults the registry again, and Meta checks values.
    pub(super) async fn template_of(&self, payload: &Payload) -> Option<polite_domain::template::TemplateRecord> {
        let key = payload.template_key()?;
        match self.templates.template(&key).await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(template = %key, error = %e, "template registry unreadable; the sender will look again");
                None
            }
        }
    }

    /// Puts queued messages on send-queue, each visible at its `not_before`. A message SQS
    /// refused stays `queued` (its `not_before` kept) with its lease cut to now, so the next
    /// tick (within a minute) queues it again; if even that write fails, the lease already in
    /// place brings it back later. Never lost, never early. Returns how many were not queued.
    pub(super) async fn enqueue(&self, jobs: Vec<Job>, now: Timestamp) -> usize {
        let mut messages = Vec::with_capacity(jobs.len());
        let mut failed: Vec<&str> = Vec::new();
        for job in &jobs {
            match envelope::send_job(&job.id, delay_until(job.not_before, now)) {
                Ok(m) => messages.push(m),
                Err(e) => {
                    tracing::warn!(message_id = %job.id, error = %e, "send job could not be encoded");
                    failed.push(&job.id);
                }
            }
        }
        match self.send_queue.send_all(messages).await {
            Ok(()) => {}
            Err(QueueError::Partial { failed: entries }) => {
                failed.extend(jobs.iter().filter(|j| entries.iter().any(|f| f.id == j.id)).map(|j| j.id.as_str()));
            }
            Err(e @ QueueError::Unavailable(_)) => {
                tracing::warn!(error = %e, "send-queue is unavailable");
                failed = jobs.iter().map(|j| j.id.as_str()).collect();
            }
        }
        for job in jobs.iter().filter(|j| failed.contains(&j.id.as_str())) {
            tracing::warn!(message_id = %job.id, "send-queue refused the message; the tick will queue it");
            let details =
                TransitionDetails { not_before: job.not_before, due_at: Some(now), ..TransitionDetails::default() };
            let from = [MessageState::Queued];
            if let Err(e) = self.messages.transition(&job.id, &from, MessageState::Queued, now, details).await {
                tracing::warn!(message_id = %job.id, error = %e, "could not shorten the lease; it will expire on its own");
            }
        }
        failed.len()
    }

    /// Cancels a message that has not reached the sender (`scheduled`, `queued`, `deferred`).
    /// Cancelling a cancelled message again answers the same.
    ///
    /// # Errors
    /// [`StoreError`] when the table fails.
    pub async fn cancel(&self, id: &str, now: Timestamp) -> Result<Cancel, StoreError> {
        let from: Vec<MessageState> = MessageState::ALL.into_iter().filter(|s| s.is_cancellable()).collect();
        let details = TransitionDetails { reason: Some("cancelled_by_caller".into()), ..TransitionDetails::default() };
        match self.messages.transition(id, &from, MessageState::Cancelled, now, details).await? {
            Moved::Yes(record) => Ok(Cancel::Cancelled(record)),
            Moved::No(None) => Ok(Cancel::Unknown),
            Moved::No(Some(MessageState::Cancelled)) => {
                Ok(self.messages.get(id).await?.map_or(Cancel::Unknown, |r| Cancel::Cancelled(Box::new(r))))
            }
            Moved::No(Some(state)) => Ok(Cancel::TooLate(state)),
        }
    }
}

/// A queued message to put on send-queue: visible at its `not_before`, at once without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Job {
    pub id: String,
    pub not_before: Option<Timestamp>,
}

impl Job {
    /// The job of a stored message, when it is `queued` (a scheduled one waits for the tick).
    pub(super) fn of(record: &MessageRecord) -> Option<Job> {
        (record.state == MessageState::Queued).then(|| Job { id: record.id.clone(), not_before: record.not_before })
    }
}

/// The queue delay for a message that may go at `not_before` (0 when it may go now).
pub(super) fn delay_until(not_before: Option<Timestamp>, now: Timestamp) -> u32 {
    queue_delay(not_before.map_or(jiff::SignedDuration::ZERO, |t| t.duration_since(now)))
}

/// Builds the record of a checked request at `now`: queued (under a lease) when it is due
/// within 15 minutes, scheduled on the due index otherwise.
pub(super) fn prepare(send: ValidSend, body_hash: String, now: Timestamp) -> NewMessage {
    let id = new_message_id();
    let (state, not_before, due_at) = match placement(send.send_at, now) {
        Placement::Queue { delay_seconds } => {
            let visible = now + jiff::SignedDuration::from_secs(i64::from(delay_seconds));
            let not_before = send.send_at.filter(|s| *s > now);
            (MessageState::Queued, not_before, Some(visible + QUEUE_LEASE))
        }
        Placement::Schedule { due_at } => (MessageState::Scheduled, Some(due_at), Some(due_at)),
    };
    let record = MessageRecord {
        not_before,
        due_at,
        expires_at: send.expires_at,
        campaign_id: send.campaign_id,
        ..MessageRecord::new(id, send.to, send.category, send.payload, state, now)
    };
    NewMessage { record, idempotency_key: send.idempotency_key, body_hash }
}

/// What a cancellation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancel {
    Cancelled(Box<MessageRecord>),
    /// The sender already has it (or it already ended): 409.
    TooLate(MessageState),
    Unknown,
}
