//! A message as stored: its recipient, category, payload, state and history, and what the
//! store's writes take and answer.

use serde::{Deserialize, Serialize};

use crate::message::{
    Category, DeferReason, HistoryEntry, IgnoreReason, MessageState, SendError, StatusValue, Transition,
    TransitionDetails, UNKNOWN_OUTCOME,
};
use crate::request::Payload;

/// A message to create, with the idempotency key and a hash of the request body it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub record: MessageRecord,
    pub idempotency_key: Option<String>,
    /// Same key + same body hash → the same message; same key + another hash → conflict.
    pub body_hash: String,
}

/// A page of messages and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePage {
    pub messages: Vec<MessageRecord>,
    /// The id of the last message of the page, when more may follow.
    pub next: Option<String>,
}

/// What a conditional transition did.
#[derive(Debug, Clone, PartialEq)]
pub enum Moved {
    /// The message moved; counters moved with it.
    Yes(Box<MessageRecord>),
    /// The message was not in an allowed state (or is unknown): nothing changed.
    No(Option<MessageState>),
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    /// The contact reference the message was addressed to (a phone number or a
    /// business-scoped user id).
    pub to: crate::ContactRef,
    /// The category that governs the message: the caller's, or the template registry's when
    /// Meta's category for the template disagrees (then `requested_category` keeps the caller's).
    pub category: Category,
    /// The caller's category, when the template registry's replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_category: Option<Category>,
    /// What to send: the template or free-form content as the API received it (stored in its
    /// serde form).
    pub payload: Payload,
    pub state: MessageState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SendError>,
    /// Meta's pricing, verbatim, from the status that carried it (one of delivered/read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<crate::pricing::PricingRecord>,
    /// polite's estimate of that pricing's cost (rate card), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<crate::pricing::CostEstimate>,
    /// When the scheduler tick looks at it: for `scheduled`, when it is due; for
    /// `queued`/`deferred`, the end of its lease (if the sender has not claimed it by then,
    /// its queue message was lost and the tick queues it again). `None` in other states. The
    /// store keeps it as the due index's sort key, so it is read here but written only by the
    /// store (never serialised with the record).
    #[serde(default, skip_serializing)]
    pub due_at: Option<jiff::Timestamp>,
    /// Attempts Meta accepted and then refused for a per-user limit (131049): the message
    /// waits for its retry, and those attempts' statuses — late, reordered or redelivered —
    /// change nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_wamids: Vec<String>,
    pub history: Vec<HistoryEntry>,
    pub created_at: jiff::Timestamp,
}

impl MessageRecord {
    /// The state the message was created in (the answer its `POST` got).
    pub fn created_state(&self) -> MessageState {
        let first = self.history.first().map(|h| h.state.as_str());
        MessageState::ALL.into_iter().find(|s| Some(s.as_str()) == first).unwrap_or(self.state)
    }
    /// Applies a status webhook to this message: [`MessageState::apply_status`], except that a
    /// message failed as an [`UNKNOWN_OUTCOME`] was never refused by Meta — any status of
    /// Meta's proves it was taken, so `sent`, `delivered` and `read` settle it.
    pub fn status_transition(&self, status: &StatusValue) -> Transition {
        if self.state == MessageState::Failed && self.reason.as_deref() == Some(UNKNOWN_OUTCOME) {
            return match MessageState::Sending.apply_status(status) {
                Transition::Moved { to: MessageState::Failed, .. } => Transition::Ignored(IgnoreReason::Stale),
                Transition::Moved { to, .. } => Transition::Moved { from: MessageState::Failed, to },
                ignored @ Transition::Ignored(_) => ignored,
            };
        }
        self.state.apply_status(status)
    }

    /// Back to `scheduled` until `until` (see [`crate::status::retry_after_failure`]) after Meta refused
    /// attempt `wamid` for a per-user limit: that attempt is set aside, so its other statuses
    /// change nothing ([`Self::is_refused_attempt`]).
    pub fn reschedule_after_refusal(&mut self, wamid: Option<&str>, until: jiff::Timestamp) {
        self.state = MessageState::Scheduled;
        self.reason = Some(DeferReason::RateLimited.as_str().to_owned());
        self.not_before = Some(until);
        self.due_at = Some(until);
        self.refused_wamids.extend(wamid.map(str::to_owned));
        self.wamid = None;
    }

    /// This message moved to `to` at `at` with `details`, and the history entry of the move.
    /// A scheduled message's due time is when it may go (its `not_before`); a queued one's is
    /// only a lease. The due time is kept only in the states the tick looks at.
    pub fn moved(
        &self,
        to: MessageState,
        at: jiff::Timestamp,
        details: &TransitionDetails,
    ) -> (MessageRecord, HistoryEntry) {
        let entry = HistoryEntry { state: to.as_str().to_owned(), at, reason: details.reason.clone() };
        let mut next = self.clone();
        next.state = to;
        next.reason.clone_from(&details.reason);
        next.not_before = details.not_before.or(details.due_at.filter(|_| to == MessageState::Scheduled));
        next.wamid = details.wamid.clone().or_else(|| self.wamid.clone());
        next.error.clone_from(&details.error);
        next.due_at = details.due_at.filter(|_| to.is_cancellable());
        next.history.push(entry.clone());
        (next, entry)
    }

    /// Puts the message under `category`, Meta's for its template, when it has one: the
    /// caller's becomes `requested_category` (kept from the first time).
    pub fn govern(&mut self, category: Option<Category>) {
        if let Some(category) = category.filter(|c| *c != self.category) {
            self.requested_category.get_or_insert(self.category);
            self.category = category;
        }
    }

    /// Whether a status of `wamid` is about an attempt Meta refused for a per-user limit.
    pub fn is_refused_attempt(&self, wamid: Option<&str>) -> bool {
        wamid.is_some_and(|w| self.refused_wamids.iter().any(|r| r == w))
    }

    /// A new message in `state` at `at`: its history starts with that state; no reason,
    /// times, campaign, wamid, error or pricing yet.
    pub fn new(
        id: String,
        to: crate::ContactRef,
        category: Category,
        payload: Payload,
        state: MessageState,
        at: jiff::Timestamp,
    ) -> Self {
        MessageRecord {
            id,
            to,
            category,
            requested_category: None,
            payload,
            state,
            reason: None,
            not_before: None,
            expires_at: None,
            campaign_id: None,
            wamid: None,
            error: None,
            pricing: None,
            estimated_cost: None,
            due_at: None,
            refused_wamids: Vec::new(),
            history: vec![HistoryEntry { state: state.as_str().to_owned(), at, reason: None }],
            created_at: at,
        }
    }
}
