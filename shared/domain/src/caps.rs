//! Frequency caps (at most N messages of a category per rolling window per recipient) and
//! pair-rate spacing (Meta allows about one message per 6 s to the same user: 131056).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::message::Category;

/// At most `max` messages of `category` to one recipient in any rolling `window_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    pub category: Category,
    pub max: u32,
    pub window_hours: u32,
}

impl FrequencyCap {
    /// polite's default: 2 marketing messages per rolling 7 days.
    pub const DEFAULT_MARKETING: FrequencyCap =
        FrequencyCap { category: Category::Marketing, max: 2, window_hours: 24 * 7 };

    fn window(self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.window_hours))
    }

    /// When one more message of the cap's category may go at or after `t`, given the
    /// recipient's recent sends: `t` itself when under the cap, else the instant the oldest
    /// counted send leaves the window (never "drop").
    pub fn next_allowed(self, t: Timestamp, history: &SendHistory) -> Timestamp {
        if self.max == 0 {
            // A zero cap means "never"; the gate treats that as a policy suppression, but be
            // total here: nothing in the window ever frees a slot.
            return Timestamp::MAX;
        }
        let window = self.window();
        let mut counted: Vec<Timestamp> = history
            .sends
            .iter()
            .filter(|s| s.category == self.category && s.at <= t && t.duration_since(s.at) < window)
            .map(|s| s.at)
            .collect();
        let max = usize::try_from(self.max).unwrap_or(usize::MAX);
        if counted.len() < max {
            return t;
        }
        counted.sort_unstable();
        // With k counted and a cap of max, k - max + 1 of them must leave the window.
        let must_leave = counted[counted.len() - max];
        must_leave.checked_add(window).unwrap_or(Timestamp::MAX)
    }
}

/// One send to the recipient, for caps and spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub category: Category,
    pub at: Timestamp,
}

/// A recipient's recent sends, kept apart from the consent state so neither overwrites the
/// other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendHistory {
    pub sends: Vec<SentRecord>,
    /// The send log's version when read: a reservation made on this history holds only if
    /// no other send was reserved since (caps and spacing stay exact under concurrency).
    #[serde(default)]
    pub version: u64,
}

impl SendHistory {
    /// The latest send, for pair spacing.
    pub fn last_sent_at(&self) -> Option<Timestamp> {
        self.sends.iter().map(|s| s.at).max()
    }

    /// Records a send and forgets those older than `keep` (the longest cap window).
    pub fn record(&mut self, record: SentRecord, keep: SignedDuration) {
        self.sends.push(record);
        self.sends.retain(|s| record.at.duration_since(s.at) < keep);
    }
}

/// The first instant at or after `t` that keeps `spacing` from the previous send.
pub fn next_spaced(t: Timestamp, history: &SendHistory, spacing: SignedDuration) -> Timestamp {
    match history.last_sent_at().and_then(|last| last.checked_add(spacing).ok()) {
        Some(earliest) if earliest > t => earliest,
        _ => t,
    }
}

/// What a send reservation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Reserved (or already reserved by this message).
    Reserved,
    /// Another send to the person was reserved since the history was read: decide again.
    Raced,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn sent(category: Category, at: &str) -> SentRecord {
        SentRecord { category, at: t(at) }
    }

    #[test]
    fn under_the_cap_a_message_may_go_now() {
        let h = SendHistory { version: 0, sends: vec![sent(Category::Marketing, "2026-06-01T10:00:00Z")] };
        let now = t("2026-06-03T10:00:00Z");
        assert_eq!(FrequencyCap::DEFAULT_MARKETING.next_allowed(now, &h), now);
    }

    #[test]
    fn third_marketing_message_in_a_week_waits_until_the_oldest_leaves_the_window() {
        let h = SendHistory {
            version: 0,
            sends: vec![
                sent(Category::Marketing, "2026-06-01T10:00:00Z"),
                sent(Category::Marketing, "2026-06-03T09:00:00Z"),
            ],
        };
        let next = FrequencyCap::DEFAULT_MARKETING.next_allowed(t("2026-06-05T12:00:00Z"), &h);
        assert_eq!(next, t("2026-06-08T10:00:00Z"));
    }

    #[test]
    fn sends_outside_the_window_or_of_other_categories_do_not_count() {
        let h = SendHistory {
            version: 0,
            sends: vec![
                sent(Category::Marketing, "2026-05-01T10:00:00Z"),
                sent(Category::Utility, "2026-06-04T10:00:00Z"),
                sent(Category::Utility, "2026-06-04T11:00:00Z"),
                sent(Category::Marketing, "2026-06-04T12:00:00Z"),
            ],
        };
        let now = t("2026-06-05T12:00:00Z");
        assert_eq!(FrequencyCap::DEFAULT_MARKETING.next_allowed(now, &h), now);
    }

    #[test]
    fn over_the_cap_the_wait_frees_exactly_one_slot() {
        // Cap lowered to 2 while 4 were sent: wait until 3 of them have left the window.
        let h = SendHistory {
            version: 0,
            sends: ["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z"]
                .iter()
                .map(|a| sent(Category::Marketing, a))
                .collect(),
        };
        let next = FrequencyCap::DEFAULT_MARKETING.next_allowed(t("2026-06-05T00:00:00Z"), &h);
        assert_eq!(next, t("2026-06-10T00:00:00Z"));
    }

    #[test]
    fn pair_spacing_keeps_six_seconds_between_sends() {
        let h = SendHistory { version: 0, sends: vec![sent(Category::Utility, "2026-06-01T10:00:00Z")] };
        let six = SignedDuration::from_secs(6);
        assert_eq!(next_spaced(t("2026-06-01T10:00:02Z"), &h, six), t("2026-06-01T10:00:06Z"));
        assert_eq!(next_spaced(t("2026-06-01T10:00:07Z"), &h, six), t("2026-06-01T10:00:07Z"));
        assert_eq!(next_spaced(t("2026-06-01T10:00:02Z"), &SendHistory::default(), six), t("2026-06-01T10:00:02Z"));
    }

    #[test]
    fn recording_a_send_forgets_what_no_cap_can_count() {
        let mut h = SendHistory { version: 0, sends: vec![sent(Category::Marketing, "2026-05-01T10:00:00Z")] };
        h.record(sent(Category::Marketing, "2026-06-01T10:00:00Z"), SignedDuration::from_hours(24 * 7));
        assert_eq!(h.sends, vec![sent(Category::Marketing, "2026-06-01T10:00:00Z")]);
    }
}
