//! The ports polite's functions use, named by role. Adapters (`shared/adapters`) implement
//! them on DynamoDB and SQS; a function depends only on the ports it uses, and its IAM policy
//! matches. Futures are `Send` so handlers can run on the multi-threaded Lambda runtime.

use std::future::Future;

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

/// A contact as stored: derived consent and settings. The send history lives apart (its own
/// item) so consent updates and sends never overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub wa_id: crate::WaId,
    pub consent: crate::consent::ConsentState,
    pub timezone: Option<crate::IanaZone>,
    pub quiet_hours: Option<crate::hours::QuietHours>,
    pub locale: Option<String>,
    pub last_inbound_at: Option<jiff::Timestamp>,
    pub undeliverable_until: Option<jiff::Timestamp>,
    pub blocked: bool,
}

impl ContactRecord {
    /// A contact polite has never heard of: no consent, no settings.
    pub fn new(wa_id: crate::WaId) -> Self {
        Self {
            wa_id,
            consent: crate::consent::ConsentState::default(),
            timezone: None,
            quiet_hours: None,
            locale: None,
            last_inbound_at: None,
            undeliverable_until: None,
            blocked: false,
        }
    }
}

/// What appending a consent event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAppend {
    /// A new ledger event; `changed` says whether it is now the category's current state
    /// (false: a newer event already decides it).
    Recorded { changed: bool },
    /// The same event id was already in the ledger (a replay): nothing changed.
    Duplicate,
}

/// Settings a business may change on a contact (`PATCH /v1/contacts/{wa_id}`); `None` leaves
/// a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactSettings {
    pub timezone: Option<crate::IanaZone>,
    pub quiet_hours: Option<crate::hours::QuietHours>,
    pub locale: Option<String>,
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

/// The contacts table: each contact's derived consent and settings, and its consent ledger.
pub trait ContactStore {
    /// Reads a contact with a strongly consistent read (an opt-out recorded a moment ago must
    /// be seen by the sender).
    fn get(&self, wa_id: &crate::WaId) -> impl Future<Output = Result<Option<ContactRecord>, StoreError>> + Send;

    /// Appends `event` to the ledger (idempotent on its id) and, when it orders after the
    /// current state, makes it current — both in one transaction, conditional on the stored
    /// state being the one the decision was made on.
    ///
    /// # Errors
    /// [`StoreError::Contended`] after repeated concurrent changes to the same contact.
    fn append_consent(
        &self,
        wa_id: &crate::WaId,
        event: &crate::consent::ConsentEvent,
    ) -> impl Future<Output = Result<ConsentAppend, StoreError>> + Send;

    /// The contact's ledger, oldest event first (by `occurred_at`).
    fn consent_history(
        &self,
        wa_id: &crate::WaId,
    ) -> impl Future<Output = Result<Vec<crate::consent::ConsentEvent>, StoreError>> + Send;

    /// Records an inbound message time (opens the 24 h window); an older time never
    /// overwrites a newer one.
    fn record_inbound(
        &self,
        wa_id: &crate::WaId,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes settings, creating the contact when new; returns the contact as stored.
    fn update_settings(
        &self,
        wa_id: &crate::WaId,
        settings: &ContactSettings,
    ) -> impl Future<Output = Result<ContactRecord, StoreError>> + Send;
}
