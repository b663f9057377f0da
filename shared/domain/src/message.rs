//! Messages: categories, the states a message goes through, and the status lattice that
//! turns Meta's duplicated, reordered status webhooks into one truthful state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of message, for consent, quiet hours, caps and pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Promotions; needs marketing consent; capped and quiet-houred.
    Marketing,
    /// Transactional updates; needs utility (or marketing) consent; quiet-houred.
    Utility,
    /// One-time codes; needs any consent; never waits for quiet hours.
    Authentication,
    /// Free-form replies inside the 24 h customer-service window.
    Service,
}

impl Category {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Utility => "utility",
            Self::Authentication => "authentication",
            Self::Service => "service",
        }
    }
}

/// The state of a message (docs/architecture.md, "Message states"; the wire names are a contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting in the table for `send_at` or a long deferral.
    Scheduled,
    /// On send-queue.
    Queued,
    /// Held by the gate, waiting on the queue with a delay.
    Deferred,
    /// The sender claimed it and is calling Meta.
    Sending,
    /// Meta accepted it (`wamid` known).
    Sent,
    Delivered,
    Read,
    /// Meta reported an error, or the outcome of a send is unknown.
    Failed,
    /// The gate refused it (no consent, opted out, erased, window closed…).
    Suppressed,
    /// `expires_at` passed before it could go.
    Expired,
    Cancelled,
}

impl MessageState {
    /// Every state, in the order the campaign view lists counts.
    pub const ALL: [MessageState; 11] = [
        Self::Scheduled,
        Self::Queued,
        Self::Deferred,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Suppressed,
        Self::Expired,
        Self::Cancelled,
    ];

    /// The wire name (also the campaign counter's name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Deferred => "deferred",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Not yet handed to the sender: a caller may still cancel it.
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Scheduled | Self::Queued | Self::Deferred)
    }

    /// The sender may claim it (`→ sending`) only from these.
    pub fn is_claimable(self) -> bool {
        matches!(self, Self::Queued | Self::Deferred)
    }

    /// Not yet settled by the sender: waiting in the table or on the queue, or being sent.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Scheduled | Self::Queued | Self::Deferred | Self::Sending)
    }

    /// Whether status webhooks concern a message in this state (it reached the sender).
    pub fn takes_statuses(self) -> bool {
        self.status_rank().is_some()
    }

    /// Position in the status lattice, for states a status webhook can move; `None` for
    /// states statuses never touch (a message polite did not send).
    ///
    /// `failed` sits between `sent` and `delivered`: a failure report moves a sent message
    /// to failed and never moves a delivered one back, while a delivery report is stronger
    /// evidence than a failure report. That total order is what makes the final state
    /// independent of arrival order.
    fn status_rank(self) -> Option<u8> {
        match self {
            // A status proves Meta took the message, whatever polite last wrote: an ambiguous
            // answer left it `sending`, or (before polite treated those as unknown outcomes)
            // `queued`/`deferred`/`scheduled` for a retry. Settling it stops the retry.
            Self::Scheduled | Self::Queued | Self::Deferred | Self::Sending => Some(0),
            Self::Sent => Some(1),
            Self::Failed => Some(2),
            Self::Delivered => Some(3),
            Self::Read => Some(4),
            _ => None,
        }
    }

    /// Applies a status webhook: the state moves only up the lattice
    /// `waiting (scheduled, queued, deferred, sending) < sent < failed < delivered < read`. Duplicates, late `sent` after `read`,
    /// `failed` after `delivered` and unknown statuses do not move it; they belong in
    /// history only.
    pub fn apply_status(self, status: &StatusValue) -> Transition {
        let target = match status {
            StatusValue::Sent => Self::Sent,
            StatusValue::Delivered => Self::Delivered,
            StatusValue::Read | StatusValue::Played => Self::Read,
            StatusValue::Failed => Self::Failed,
            StatusValue::Other(_) => return Transition::Ignored(IgnoreReason::UnknownStatus),
        };
        match (self.status_rank(), target.status_rank()) {
            (Some(from), Some(to)) if to > from => Transition::Moved { from: self, to: target },
            (Some(_), Some(_)) => Transition::Ignored(IgnoreReason::Stale),
            _ => Transition::Ignored(IgnoreReason::NotSent),
        }
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `statuses[].status` value from Meta. Unknown values (e.g. the legacy `deleted`) are
/// kept, not rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatusValue {
    Sent,
    Delivered,
    Read,
    /// Voice messages: counts as read.
    Played,
    Failed,
    Other(String),
}

impl StatusValue {
    /// Reads Meta's value.
    pub fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The value as Meta wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Other(s) => s,
        }
    }
}

/// The result of applying a status: a real transition (counters move exactly once: `from`
/// down, `to` up) or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Moved { from: MessageState, to: MessageState },
    Ignored(IgnoreReason),
}

impl Transition {
    /// Whether the state moved.
    pub fn moved(self) -> bool {
        matches!(self, Self::Moved { .. })
    }
}

/// Why a status did not move the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The state is already at or past it (duplicate or out of order).
    Stale,
    /// A status value polite does not know.
    UnknownStatus,
    /// The message was never sent (suppressed, cancelled…): statuses cannot apply.
    NotSent,
}

/// Why a message waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    QuietHours,
    FrequencyCap,
    PairRate,
    /// Meta's throughput or per-user limits (130429, 131056, 131049): set by the sender.
    RateLimited,
    /// The Graph API was unreachable or failed temporarily (5xx, 131000…): set by the sender.
    GraphApiUnavailable,
}

impl DeferReason {
    /// The wire name (a message's `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuietHours => "quiet_hours",
            Self::FrequencyCap => "frequency_cap",
            Self::PairRate => "pair_rate",
            Self::RateLimited => "rate_limited",
            Self::GraphApiUnavailable => "graph_api_unavailable",
        }
    }
}

/// A change to make together with a state transition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransitionDetails {
    pub reason: Option<String>,
    pub not_before: Option<jiff::Timestamp>,
    pub wamid: Option<String>,
    pub error: Option<SendError>,
    /// For `scheduled`: when the tick should release it; for `queued`/`deferred`: the end of
    /// the lease after which the tick queues it again (sets the due index; any other
    /// transition removes it).
    pub due_at: Option<jiff::Timestamp>,
}

/// Something the scheduler tick should look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Due {
    /// A message (by id).
    Message(String),
    /// A campaign chunk that has not fanned out yet (or whose fan-out stopped half-way).
    Chunk { campaign_id: String, index: u32 },
    /// A campaign report's export with files still to write (`crate::export`).
    Export { campaign_id: String, export_id: String },
}

/// Shards of the due index (`template.yaml`, MessagesTable.DueIndex).
pub const DUE_SHARDS: u8 = 16;

/// The due-index shard of a message id: stable, spread evenly (FNV-1a of the id).
pub fn due_shard(id: &str) -> u8 {
    u8::try_from(crate::ids::stable_hash(id) % u64::from(DUE_SHARDS)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MessageRecord;
    use MessageState as S;
    use StatusValue as V;

    fn run(start: MessageState, statuses: &[StatusValue]) -> (MessageState, usize) {
        statuses.iter().fold((start, 0), |(s, n), v| match s.apply_status(v) {
            Transition::Moved { to, .. } => (to, n + 1),
            Transition::Ignored(_) => (s, n),
        })
    }

    #[test]
    fn statuses_move_a_sent_message_up_the_lattice() {
        assert_eq!(run(S::Sending, &[V::Sent, V::Delivered, V::Read]), (S::Read, 3));
    }

    #[test]
    fn late_sent_after_read_changes_nothing() {
        assert_eq!(S::Read.apply_status(&V::Sent), Transition::Ignored(IgnoreReason::Stale));
        assert_eq!(run(S::Sending, &[V::Read, V::Delivered, V::Sent]), (S::Read, 1));
    }

    #[test]
    fn read_without_delivered_is_normal() {
        assert_eq!(S::Sent.apply_status(&V::Read), Transition::Moved { from: S::Sent, to: S::Read });
    }

    #[test]
    fn duplicate_read_status_counts_once() {
        assert_eq!(run(S::Sent, &[V::Read, V::Read, V::Read]), (S::Read, 1));
    }

    #[test]
    fn played_counts_as_read() {
        assert_eq!(run(S::Sent, &[V::Played]), (S::Read, 1));
    }

    #[test]
    fn failed_after_delivered_does_not_move_the_state_back() {
        assert_eq!(S::Delivered.apply_status(&V::Failed), Transition::Ignored(IgnoreReason::Stale));
        assert_eq!(run(S::Sending, &[V::Sent, V::Failed]), (S::Failed, 2));
    }

    #[test]
    fn a_status_arriving_before_the_sender_recorded_sent_still_applies() {
        // The sender died between Meta's 200 and its own write: the message is `sending`.
        assert_eq!(S::Sending.apply_status(&V::Delivered), Transition::Moved { from: S::Sending, to: S::Delivered });
    }

    #[test]
    fn unknown_status_values_are_ignored_but_kept() {
        let v = StatusValue::parse("deleted");
        assert_eq!(v, V::Other("deleted".into()));
        assert_eq!(v.as_str(), "deleted");
        assert_eq!(S::Sent.apply_status(&v), Transition::Ignored(IgnoreReason::UnknownStatus));
    }

    #[test]
    fn statuses_never_touch_messages_that_were_never_handed_to_meta() {
        for s in [S::Suppressed, S::Expired, S::Cancelled] {
            assert_eq!(s.apply_status(&V::Delivered), Transition::Ignored(IgnoreReason::NotSent), "{s}");
        }
    }

    #[test]
    fn a_status_settles_a_message_still_waiting_after_an_ambiguous_answer() {
        // Meta took it although the answer did not say so: a status is the proof.
        for s in [S::Scheduled, S::Queued, S::Deferred, S::Sending] {
            for (v, to) in [(V::Sent, S::Sent), (V::Delivered, S::Delivered), (V::Read, S::Read)] {
                assert_eq!(s.apply_status(&v), Transition::Moved { from: s, to }, "{s} + {v:?}");
            }
        }
    }

    #[test]
    fn a_status_settles_a_message_failed_as_an_unknown_outcome_but_not_a_real_failure() {
        let unknown = MessageRecord {
            state: S::Failed,
            reason: Some(UNKNOWN_OUTCOME.into()),
            ..MessageRecord::new(
                "m".into(),
                crate::ContactRef::parse("+16505551234").unwrap(),
                Category::Marketing,
                crate::request::Payload::Text("hi".into()),
                S::Failed,
                "2026-01-01T00:00:00Z".parse().unwrap(),
            )
        };
        assert_eq!(unknown.status_transition(&V::Sent), Transition::Moved { from: S::Failed, to: S::Sent });
        assert_eq!(unknown.status_transition(&V::Read), Transition::Moved { from: S::Failed, to: S::Read });
        let refused = MessageRecord { reason: None, ..unknown.clone() };
        assert_eq!(refused.status_transition(&V::Sent), Transition::Ignored(IgnoreReason::Stale));
        assert_eq!(refused.status_transition(&V::Delivered), Transition::Moved { from: S::Failed, to: S::Delivered });
    }

    #[test]
    fn a_per_user_limit_failure_waits_a_day_unless_the_message_expires_first() {
        let at: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let limited = SendError { code: 131_049, title: "limit".into() };
        let message = MessageRecord::new(
            "m".into(),
            crate::ContactRef::parse("+16505551234").unwrap(),
            Category::Marketing,
            crate::request::Payload::Text("hi".into()),
            S::Sent,
            at,
        );
        let day_later: jiff::Timestamp = "2026-01-02T12:00:00Z".parse().unwrap();
        assert_eq!(crate::status::retry_after_failure(&message, Some(&limited), at), Some(day_later));
        let other = SendError { code: 131_026, title: "undeliverable".into() };
        assert_eq!(crate::status::retry_after_failure(&message, Some(&other), at), None);
        assert_eq!(crate::status::retry_after_failure(&message, None, at), None);
        let expiring = MessageRecord { expires_at: Some("2026-01-02T00:00:00Z".parse().unwrap()), ..message.clone() };
        assert_eq!(crate::status::retry_after_failure(&expiring, Some(&limited), at), None);
        let mut waiting = MessageRecord { wamid: Some("wamid.A".into()), ..message };
        waiting.reschedule_after_refusal(Some("wamid.A"), day_later);
        assert_eq!(
            (waiting.state, waiting.not_before, waiting.due_at, waiting.wamid.as_deref()),
            (S::Scheduled, Some(day_later), Some(day_later), None)
        );
        assert!(waiting.is_refused_attempt(Some("wamid.A")) && !waiting.is_refused_attempt(Some("wamid.B")));
    }

    #[test]
    fn only_unsent_messages_are_cancellable_and_claimable() {
        assert!(S::Scheduled.is_cancellable() && S::Deferred.is_cancellable());
        assert!(!S::Sending.is_cancellable() && !S::Sent.is_cancellable());
        assert!(S::Queued.is_claimable() && S::Deferred.is_claimable());
        assert!(!S::Scheduled.is_claimable() && !S::Sending.is_claimable());
    }

    #[test]
    fn wire_names_match_the_contract() {
        let names: Vec<&str> = MessageState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "scheduled",
                "queued",
                "deferred",
                "sending",
                "sent",
                "delivered",
                "read",
                "failed",
                "suppressed",
                "expired",
                "cancelled"
            ]
        );
        for s in MessageState::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
    }
}

/// The `reason` of a message failed because no answer and no status ever told whether Meta
/// took it (docs/decisions/0005-unknown-outcomes.md); a later status still settles it.
pub const UNKNOWN_OUTCOME: &str = "unknown_outcome";

/// One entry of a message's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The state entered, or for statuses that did not move it, the status value received.
    pub state: String,
    pub at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Meta's error on a failed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendError {
    pub code: i64,
    pub title: String,
}
