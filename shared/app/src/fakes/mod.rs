//! In-memory implementations of the domain's ports, for the use cases' tests: they keep to
//! the ports' contracts — idempotent appends, conditional writes, strongly consistent reads,
//! the limits the real services enforce — so a use case tested on them behaves the same on
//! AWS. [`crate::contract`] holds each port's contract as a test suite, run on these fakes and
//! (in `tests/`) on the AWS adapters against moto, so the two cannot drift.

mod contacts;
mod messages;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::{SignedDuration, Timestamp};
use polite_domain::audience_file::AudienceFile;
use polite_domain::caps::{Reservation, SendHistory, SentRecord};
use polite_domain::events::Event;
use polite_domain::ports::{
    AudienceFiles, EventBus, EventQueue, FailedEntry, FilePart, MAX_MESSAGE_BYTES, Outbox, PublishedEvents, QueueError,
    QueueMessage, ReportFiles, SendLog, StoreError, TemplateCatalog, TemplateReader, TemplateStore, WhatsAppApi,
};
use polite_domain::template::{
    CatalogError, ListedTemplate, TemplateKey, TemplatePage, TemplateRecord, TemplateUpdate,
};
use polite_domain::whatsapp::{Accepted, GraphError, Outbound, SendFailure};
use polite_domain::{BusinessScopedUserId, ContactRef, WaId};

/// Audience files in memory (S3's `GetObject` with a range), and the exports written there
/// (`PutObject` into [`EXPORT_BUCKET`]).
#[derive(Debug, Default)]
pub struct MemoryAudiences {
    files: Mutex<HashMap<(String, String), Vec<u8>>>,
    /// Writes left before the answers are lost ([`MemoryAudiences::lose_answers_after`]).
    answers_left: Mutex<Option<usize>>,
}

/// The bucket [`MemoryAudiences`] writes exports to.
pub const EXPORT_BUCKET: &str = "audiences";

impl MemoryAudiences {
    /// Stores (or replaces) the file `key` in `bucket`.
    pub fn put(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        lock(&self.files).insert((bucket.to_owned(), key.to_owned()), bytes.into());
    }

    /// The file `key` of `bucket`, if there is one.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        lock(&self.files).get(&(bucket.to_owned(), key.to_owned())).cloned()
    }

    /// After `n` more writes, each write lands but fails as if its answer was lost (a timeout,
    /// a crash before the export moved on); `None`: every write answers.
    pub fn lose_answers_after(&self, n: Option<usize>) {
        *lock(&self.answers_left) = n;
    }
}

impl ReportFiles for MemoryAudiences {
    fn export_bucket(&self) -> Result<&str, String> {
        Ok(EXPORT_BUCKET)
    }

    async fn put_file(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        self.put(EXPORT_BUCKET, key, bytes);
        let mut left = lock(&self.answers_left);
        match left.as_mut() {
            Some(0) => Err(StoreError::Unavailable(format!("{key} written, but the answer was lost").into())),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl AudienceFiles for MemoryAudiences {
    fn reads_from(&self, bucket: &str) -> Result<(), String> {
        let known = lock(&self.files).keys().any(|(b, _)| b == bucket);
        if known { Ok(()) } else { Err(format!("audience files are read from another bucket than {bucket}")) }
    }

    async fn read_part(&self, file: &AudienceFile, offset: u64, len: u64) -> Result<Option<FilePart>, StoreError> {
        let files = lock(&self.files);
        let Some(bytes) = files.get(&(file.bucket.clone(), file.key.clone())) else { return Ok(None) };
        let size = bytes.len() as u64;
        let from = usize::try_from(offset.min(size)).unwrap_or(usize::MAX);
        let to = usize::try_from(offset.saturating_add(len).min(size)).unwrap_or(usize::MAX);
        Ok(Some(FilePart { bytes: bytes[from..to].to_vec(), size }))
    }
}

/// The longest delivery delay a queue accepts (SQS `DelaySeconds`).
const MAX_DELAY_SECONDS: u32 = 900;

pub use contacts::{CONTACTS_TABLE, MemoryContacts};
pub use messages::{MESSAGES_TABLE, MemoryMessages};

/// Locks `mutex`, carrying on after a panic elsewhere (the data is plain values).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A queue: what was sent stays until [`MemoryQueue::take`] reads it. Refuses, entry by
/// entry, what SQS refuses: a body over [`MAX_MESSAGE_BYTES`], a delay over 900 s.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<QueueMessage>>,
}

impl MemoryQueue {
    /// Everything queued so far, in order; the queue is empty afterwards.
    pub fn take(&self) -> Vec<QueueMessage> {
        std::mem::take(&mut *lock(&self.messages))
    }

    /// The bodies of [`Self::take`].
    pub fn take_bodies(&self) -> Vec<String> {
        self.take().into_iter().map(|m| m.body).collect()
    }
}

impl EventQueue for MemoryQueue {
    async fn send_all(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        let mut failed = Vec::new();
        let mut queue = lock(&self.messages);
        for message in messages {
            if message.body.len() > MAX_MESSAGE_BYTES {
                let reason = format!("the body is {} bytes; SQS takes at most {MAX_MESSAGE_BYTES}", message.body.len());
                failed.push(FailedEntry { id: message.id, reason });
            } else if message.delay_seconds > MAX_DELAY_SECONDS {
                let reason = format!("InvalidParameterValue: DelaySeconds must be at most {MAX_DELAY_SECONDS}");
                failed.push(FailedEntry { id: message.id, reason });
            } else {
                queue.push(message);
            }
        }
        if failed.is_empty() { Ok(()) } else { Err(QueueError::Partial { failed }) }
    }
}

/// The template registry: one record per template, the time of the last complete load.
#[derive(Debug, Default)]
pub struct MemoryTemplates {
    records: Mutex<BTreeMap<TemplateKey, TemplateRecord>>,
    loaded_at: Mutex<Option<Timestamp>>,
}

impl TemplateReader for MemoryTemplates {
    async fn template(&self, key: &TemplateKey) -> Result<Option<TemplateRecord>, StoreError> {
        Ok(lock(&self.records).get(key).cloned())
    }

    async fn loaded_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(*lock(&self.loaded_at))
    }
}

impl TemplateStore for MemoryTemplates {
    async fn apply_template(&self, update: &TemplateUpdate) -> Result<bool, StoreError> {
        let mut records = lock(&self.records);
        let mut record = records.get(&update.key).cloned().unwrap_or_else(|| TemplateRecord::new(update.key.clone()));
        let before = record.clone();
        let changed = record.apply(update);
        if record == before {
            return Ok(false);
        }
        records.insert(update.key.clone(), record);
        Ok(changed)
    }

    async fn templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        Ok(lock(&self.records).values().cloned().collect())
    }

    async fn mark_loaded(&self, at: Timestamp) -> Result<(), StoreError> {
        *lock(&self.loaded_at) = Some(at);
        Ok(())
    }
}

/// One person's send log: its version and its sends by key (a message id, or an echo's).
#[derive(Debug, Default, Clone)]
struct Log {
    version: u64,
    sends: BTreeMap<String, SentRecord>,
}

/// Every person's send log, as [`MemorySendLog`] and [`MemoryContacts`] keep it.
type Logs = HashMap<ContactRef, Log>;

/// Each person's recent sends. Times are kept to the second, as the contacts table keeps them;
/// records do not expire here (a reader asks for those since a time anyway).
#[derive(Debug, Default)]
pub struct MemorySendLog {
    logs: Mutex<Logs>,
}

/// Prefix of an echoed send's key, apart from message ids.
const ECHO: &str = "echo#";

fn to_the_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

fn recent_sends(logs: &Logs, person: &ContactRef, since: Timestamp) -> SendHistory {
    let Some(log) = logs.get(person) else { return SendHistory::default() };
    let mut sends: Vec<SentRecord> = log.sends.values().copied().filter(|s| s.at >= since).collect();
    sends.sort_unstable_by_key(|s| s.at);
    SendHistory { sends, version: log.version }
}

fn reserve_send(logs: &mut Logs, person: &ContactRef, id: &str, sent: SentRecord, read: &SendHistory) -> Reservation {
    let log = logs.entry(person.clone()).or_default();
    if log.sends.contains_key(id) {
        return Reservation::Reserved;
    }
    if log.version != read.version {
        return Reservation::Raced;
    }
    log.sends.insert(id.to_owned(), SentRecord { at: to_the_second(sent.at), ..sent });
    log.version += 1;
    Reservation::Reserved
}

fn record_sent(logs: &mut Logs, person: &ContactRef, key: &str, sent: SentRecord) {
    let log = logs.entry(person.clone()).or_default();
    if let std::collections::btree_map::Entry::Vacant(entry) = log.sends.entry(format!("{ECHO}{key}")) {
        entry.insert(SentRecord { at: to_the_second(sent.at), ..sent });
        log.version += 1;
    }
}

fn release_send(logs: &mut Logs, person: &ContactRef, id: &str) {
    if let Some(log) = logs.get_mut(person) {
        log.sends.remove(id);
    }
}

impl SendLog for MemorySendLog {
    async fn recent_sends(&self, person: &ContactRef, since: Timestamp) -> Result<SendHistory, StoreError> {
        Ok(recent_sends(&lock(&self.logs), person, since))
    }

    async fn reserve_send(
        &self,
        person: &ContactRef,
        message_id: &str,
        sent: SentRecord,
        _keep: SignedDuration,
        read: &SendHistory,
    ) -> Result<Reservation, StoreError> {
        Ok(reserve_send(&mut lock(&self.logs), person, message_id, sent, read))
    }

    async fn record_sent(
        &self,
        person: &ContactRef,
        key: &str,
        sent: SentRecord,
        _keep: SignedDuration,
    ) -> Result<(), StoreError> {
        record_sent(&mut lock(&self.logs), person, key, sent);
        Ok(())
    }

    async fn release_send(&self, person: &ContactRef, message_id: &str) -> Result<(), StoreError> {
        release_send(&mut lock(&self.logs), person, message_id);
        Ok(())
    }
}

/// The event bus: what was put stays until [`MemoryBus::take`] reads it.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<Event>>,
}

impl MemoryBus {
    /// Every event put so far, in order; the bus is empty afterwards.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *lock(&self.events))
    }
}

impl EventBus for MemoryBus {
    async fn put(&self, events: &[Event]) -> Result<(), polite_domain::ports::BusError> {
        lock(&self.events).extend_from_slice(events);
        Ok(())
    }
}

/// One outbox item: the event until the publisher scrubs its detail, then only the marker.
#[derive(Debug, Clone)]
struct OutboxItem {
    event: Option<Event>,
}

/// A table's outbox (named like the table, for [`PublishedEvents::scrub`]): one item per event
/// id, written once; a scrubbed item keeps its id as the marker a retry finds.
#[derive(Debug)]
pub struct MemoryOutbox {
    table: String,
    items: Mutex<Vec<(String, OutboxItem)>>,
}

impl MemoryOutbox {
    /// The outbox of `table`.
    pub fn new(table: impl Into<String>) -> Self {
        MemoryOutbox { table: table.into(), items: Mutex::new(Vec::new()) }
    }

    /// The items, in the order they were written: each event's id and, until it is scrubbed,
    /// the event.
    pub fn items(&self) -> Vec<(String, Option<Event>)> {
        lock(&self.items).iter().map(|(id, item)| (id.clone(), item.event.clone())).collect()
    }
}

impl Outbox for MemoryOutbox {
    async fn publish(&self, event: &Event, _at: Timestamp) -> Result<(), StoreError> {
        let mut items = lock(&self.items);
        if !items.iter().any(|(id, _)| id == event.id()) {
            items.push((event.id().to_owned(), OutboxItem { event: Some(event.clone()) }));
        }
        Ok(())
    }
}

impl PublishedEvents for MemoryOutbox {
    async fn scrub(&self, table: &str, event_id: &str) -> Result<(), StoreError> {
        if table == self.table
            && let Some((_, item)) = lock(&self.items).iter_mut().find(|(id, _)| id == event_id)
        {
            item.event = None;
        }
        Ok(())
    }
}

/// The Cloud API: accepts every message (wamids `wamid.FAKE<n>`) unless told to refuse a
/// recipient with Meta's error code. Like Meta, it answers a send by number with the person's
/// number and business-scoped user id (`<region>.<20 digits>`, the first time it sees the
/// number), a send by a user id it has shown with that id, and refuses a user id it never
/// showed (code 100).
#[derive(Debug, Default)]
pub struct MemoryWhatsApp {
    sent: Mutex<Vec<Outbound>>,
    refusals: Mutex<HashMap<ContactRef, i64>>,
    users: Mutex<Vec<(WaId, BusinessScopedUserId)>>,
}

impl MemoryWhatsApp {
    /// Every message accepted so far, in order.
    pub fn sent(&self) -> Vec<Outbound> {
        lock(&self.sent).clone()
    }

    /// Refuses every later send to `to` with Meta's error `code` (HTTP 400).
    pub fn refuse(&self, to: ContactRef, code: i64) {
        lock(&self.refusals).insert(to, code);
    }

    /// The user id of the person behind `phone` (given the first time it is asked).
    pub fn user_of(&self, phone: &WaId) -> BusinessScopedUserId {
        let mut users = lock(&self.users);
        if let Some((_, user)) = users.iter().find(|(p, _)| p == phone) {
            return user.clone();
        }
        let region = phone.main_region().unwrap_or_else(|| "US".to_owned());
        let id = format!("{region}.{:020}", users.len() + 1);
        let user = BusinessScopedUserId::parse(&id).unwrap_or_else(|e| unreachable!("{id} is well formed: {e}"));
        users.push((phone.clone(), user.clone()));
        user
    }
}

fn refusal(code: i64, message: String) -> SendFailure {
    let error = GraphError { code, error_subcode: None, message, details: None, fbtrace_id: None };
    SendFailure::Rejected { http_status: 400, error }
}

impl WhatsAppApi for MemoryWhatsApp {
    async fn send(&self, message: &Outbound) -> Result<Accepted, SendFailure> {
        if let Some(code) = lock(&self.refusals).get(&message.to).copied() {
            return Err(refusal(code, format!("refused by the fake ({code})")));
        }
        let (wa_id, user_id) = match &message.to {
            ContactRef::Phone(phone) => (Some(phone.clone()), Some(self.user_of(phone))),
            ContactRef::User(user) => {
                if !lock(&self.users).iter().any(|(_, u)| u == user) {
                    return Err(refusal(100, "(#100) The parameter recipient is not a user of this business.".into()));
                }
                (None, Some(user.clone()))
            }
        };
        let mut sent = lock(&self.sent);
        sent.push(message.clone());
        Ok(Accepted { wa_id, user_id, ..Accepted::new(format!("wamid.FAKE{}", sent.len())) })
    }
}

/// Meta's list of the business's templates, served a page at a time (cursors are positions).
#[derive(Debug)]
pub struct MemoryCatalog {
    templates: Vec<ListedTemplate>,
    page_size: usize,
}

impl MemoryCatalog {
    /// The list `templates`, `page_size` to a page.
    pub fn new(templates: Vec<ListedTemplate>, page_size: usize) -> Self {
        MemoryCatalog { templates, page_size: page_size.max(1) }
    }
}

impl TemplateCatalog for MemoryCatalog {
    async fn page(&self, after: Option<&str>) -> Result<TemplatePage, CatalogError> {
        let start = match after {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .map_err(|e| CatalogError::Refused { code: 100, message: format!("invalid cursor {cursor:?}: {e}") })?,
        };
        let end = (start + self.page_size).min(self.templates.len());
        let templates = self.templates.get(start..end).map(<[ListedTemplate]>::to_vec).unwrap_or_default();
        Ok(TemplatePage { templates, after: (end < self.templates.len()).then(|| end.to_string()) })
    }
}
