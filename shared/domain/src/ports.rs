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
