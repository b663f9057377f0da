//! send-scheduler: business send requests become message records that go out only when due.
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

pub mod api;
pub mod config;
pub mod tick;

use jiff::Timestamp;
use polite_adapters::envelope;
use polite_domain::message::{HistoryEntry, MessageRecord, MessageState};
use polite_domain::ports::{
    ContactRecord, ContactStore, CreateError, EventQueue, MessageStore, Moved, NewMessage, StoreError,
    TransitionDetails,
};
use polite_domain::request::{Placement, QUEUE_LEASE, ValidSend, placement, window_allows};

pub use config::Config;

/// The HTTP function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "send-scheduler";

/// The tick function's name.
pub const TICK_FUNCTION: &str = "scheduler-tick";

/// What the scheduler needs: the messages table, the contacts (for the 24 h window of
/// free-form text) and send-queue.
#[derive(Debug)]
pub struct Scheduler<M, C, Q> {
    pub messages: M,
    pub contacts: C,
    pub send_queue: Q,
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Free-form text, but the recipient's 24 h window will be closed when it would go.
    #[error("the recipient's 24 h customer-service window is closed")]
    WindowClosed { open_until: Option<Timestamp> },
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

impl<M, C, Q> Scheduler<M, C, Q>
where
    M: MessageStore + Sync,
    C: ContactStore + Sync,
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
                return Err(SubmitError::WindowClosed { open_until });
            }
        }
        let id = new_message_id();
        let (state, not_before, due_at, delay) = match placement(send.send_at, now) {
            Placement::Queue { delay_seconds } => {
                let visible = now + jiff::SignedDuration::from_secs(i64::from(delay_seconds));
                let not_before = send.send_at.filter(|s| *s > now);
                (MessageState::Queued, not_before, Some(visible + QUEUE_LEASE), Some(delay_seconds))
            }
            Placement::Schedule { due_at } => (MessageState::Scheduled, Some(due_at), Some(due_at), None),
        };
        let record = MessageRecord {
            id: id.clone(),
            to: send.to,
            category: send.category,
            payload: send.payload.to_value(),
            state,
            reason: None,
            not_before,
            expires_at: send.expires_at,
            campaign_id: send.campaign_id,
            wamid: None,
            error: None,
            history: vec![HistoryEntry { state: state.as_str().to_owned(), at: now, reason: None }],
            created_at: now,
        };
        let new = NewMessage { record, idempotency_key: send.idempotency_key, body_hash, due_at };
        let stored = self.messages.create(&new).await.map_err(|e| match e {
            CreateError::IdempotencyConflict => SubmitError::IdempotencyConflict,
            CreateError::Store(e) => SubmitError::Store(e),
        })?;
        if stored.id != id {
            tracing::info!(message_id = %stored.id, "idempotent replay: the key's message is returned");
            return Ok(stored);
        }
        if let Some(delay) = delay {
            self.enqueue(&stored, delay, now).await;
        }
        tracing::info!(message_id = %stored.id, state = stored.state.as_str(), to = %stored.to.masked(), "message accepted");
        Ok(stored)
    }

    /// Puts a queued message on send-queue. If that fails the message stays `queued` and its
    /// lease is cut to now, so the next tick (within a minute) queues it again; if even that
    /// write fails, the lease already in place brings it back later. Never lost either way.
    async fn enqueue(&self, record: &MessageRecord, delay_seconds: u32, now: Timestamp) {
        let sent = match envelope::send_job(&record.id, delay_seconds) {
            Ok(message) => self.send_queue.send_all(vec![message]).await.map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = sent {
            tracing::warn!(message_id = %record.id, error = %e, "send-queue refused the message; the tick will queue it");
            let details = TransitionDetails { due_at: Some(now), ..TransitionDetails::default() };
            let state = record.state;
            if let Err(e) = self.messages.transition(&record.id, &[state], state, now, details).await {
                tracing::warn!(message_id = %record.id, error = %e, "could not shorten the lease; it will expire on its own");
            }
        }
    }

    /// Cancels a message that has not reached the sender (`scheduled`, `queued`, `deferred`).
    /// Cancelling a cancelled message again answers the same.
    ///
    /// # Errors
    /// [`StoreError`] when the table fails.
    pub async fn cancel(&self, id: &str, now: Timestamp) -> Result<Cancel, StoreError> {
        let from = [MessageState::Scheduled, MessageState::Queued, MessageState::Deferred];
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

/// What a cancellation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancel {
    Cancelled(Box<MessageRecord>),
    /// The sender already has it (or it already ended): 409.
    TooLate(MessageState),
    Unknown,
}
