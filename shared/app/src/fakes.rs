//! In-memory implementations of the domain's ports, for the use cases' tests: they keep to
//! the ports' contracts — idempotent appends, conditional writes, strongly consistent reads,
//! the limits the real services enforce — so a use case tested on them behaves the same on
//! AWS. [`crate::contract`] holds each port's contract as a test suite, run on these fakes and
//! (in `tests/`) on the AWS adapters against moto, so the two cannot drift.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::caps::{Reservation, SendHistory, SentRecord};
use polite_domain::ports::{
    EventQueue, FailedEntry, MAX_MESSAGE_BYTES, QueueError, QueueMessage, SendLog, StoreError, TemplateStore,
};
use polite_domain::template::{TemplateKey, TemplateRecord, TemplateUpdate};

/// The longest delivery delay a queue accepts (SQS `DelaySeconds`).
const MAX_DELAY_SECONDS: u32 = 900;

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

impl TemplateStore for MemoryTemplates {
    async fn template(&self, key: &TemplateKey) -> Result<Option<TemplateRecord>, StoreError> {
        Ok(lock(&self.records).get(key).cloned())
    }

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

    async fn loaded_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(*lock(&self.loaded_at))
    }

    async fn mark_loaded(&self, at: Timestamp) -> Result<(), StoreError> {
        *lock(&self.loaded_at) = Some(at);
        Ok(())
    }
}

/// One person's send log: its version and its sends by key (a message id, or an echo's).
#[derive(Debug, Default)]
struct Log {
    version: u64,
    sends: BTreeMap<String, SentRecord>,
}

/// Each person's recent sends. Times are kept to the second, as the contacts table keeps them;
/// records do not expire here (a reader asks for those since a time anyway).
#[derive(Debug, Default)]
pub struct MemorySendLog {
    logs: Mutex<HashMap<ContactRef, Log>>,
}

/// Prefix of an echoed send's key, apart from message ids.
const ECHO: &str = "echo#";

fn to_the_second(sent: SentRecord) -> SentRecord {
    SentRecord { at: Timestamp::from_second(sent.at.as_second()).unwrap_or(sent.at), ..sent }
}

impl SendLog for MemorySendLog {
    async fn recent_sends(&self, person: &ContactRef, since: Timestamp) -> Result<SendHistory, StoreError> {
        let logs = lock(&self.logs);
        let Some(log) = logs.get(person) else { return Ok(SendHistory::default()) };
        let mut sends: Vec<SentRecord> = log.sends.values().copied().filter(|s| s.at >= since).collect();
        sends.sort_unstable_by_key(|s| s.at);
        Ok(SendHistory { sends, version: log.version })
    }

    async fn reserve_send(
        &self,
        person: &ContactRef,
        message_id: &str,
        sent: SentRecord,
        _keep: SignedDuration,
        read: &SendHistory,
    ) -> Result<Reservation, StoreError> {
        let mut logs = lock(&self.logs);
        let log = logs.entry(person.clone()).or_default();
        if log.sends.contains_key(message_id) {
            return Ok(Reservation::Reserved);
        }
        if log.version != read.version {
            return Ok(Reservation::Raced);
        }
        log.sends.insert(message_id.to_owned(), to_the_second(sent));
        log.version += 1;
        Ok(Reservation::Reserved)
    }

    async fn record_sent(
        &self,
        person: &ContactRef,
        key: &str,
        sent: SentRecord,
        _keep: SignedDuration,
    ) -> Result<(), StoreError> {
        let mut logs = lock(&self.logs);
        let log = logs.entry(person.clone()).or_default();
        if let std::collections::btree_map::Entry::Vacant(entry) = log.sends.entry(format!("{ECHO}{key}")) {
            entry.insert(to_the_second(sent));
            log.version += 1;
        }
        Ok(())
    }

    async fn release_send(&self, person: &ContactRef, message_id: &str) -> Result<(), StoreError> {
        if let Some(log) = lock(&self.logs).get_mut(person) {
            log.sends.remove(message_id);
        }
        Ok(())
    }
}
