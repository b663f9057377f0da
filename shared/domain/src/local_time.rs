//! Local-time delivery (`deliver_at_local`): each recipient of a campaign at a wall-clock time
//! in their own zone — 10:00 in São Paulo for one, 10:00 in Lisbon for another — spread over a
//! window so 10:00 is not a spike.
//!
//! A person's zone is their own (`timezone` in their settings) or, failing that, the zones
//! their number (or user id's country) may be in — the zones quiet hours are judged in. When
//! there are several, the message goes at the *latest* of their 10:00s: never early anywhere
//! the person might be (a +1 number that may be in New York or Los Angeles gets 10:00 Los
//! Angeles time, 13:00 in New York). Quiet hours still hold at send time (the gate defers a
//! message whose time falls in them), and a message past its campaign's `expires_at` expires.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::hours::LocalTime;
use crate::ids::stable_hash;
use crate::zone::IanaZone;

/// The longest window a campaign may spread each zone's recipients over.
pub const MAX_WINDOW_MINUTES: u32 = 12 * 60;

/// `deliver_at_local` of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDelivery {
    /// The wall-clock time, `"HH:MM"`.
    pub time: LocalTime,
    /// The day; without one, the first day the time is still ahead for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// Recipients of one zone are spread evenly over this many minutes from `time`.
    #[serde(default = "default_window")]
    pub window_minutes: u32,
    /// What happens to a person whose time has already passed that day.
    #[serde(default)]
    pub if_passed: IfPassed,
}

fn default_window() -> u32 {
    60
}

/// What happens to a person whose time has already passed on the campaign's day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfPassed {
    /// The same time the next day.
    #[default]
    NextDay,
    /// Not at all (their message is suppressed `local_time_passed`, so the counts stay exact).
    Skip,
}

/// When one person's message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalSlot {
    At(Timestamp),
    /// Their time had passed and the campaign skips them.
    Passed,
}

/// The reason a skipped person's message is suppressed with.
pub const LOCAL_TIME_PASSED: &str = "local_time_passed";

impl LocalDelivery {
    /// Checks the request's values at `now`.
    ///
    /// # Errors
    /// The problem, for the `deliver_at_local` field.
    pub fn check(&self, now: Timestamp) -> Result<(), String> {
        if self.window_minutes > MAX_WINDOW_MINUTES {
            return Err(format!("window_minutes is at most {MAX_WINDOW_MINUTES} (12 hours)"));
        }
        // Every zone's `date` is over once it is over in the westernmost (UTC−12).
        let today_everywhere = now.to_zoned(TimeZone::fixed(jiff::tz::offset(-12))).date();
        if let Some(date) = self.date
            && date < today_everywhere
        {
            return Err(format!("date {date} has passed everywhere"));
        }
        Ok(())
    }

    /// When the person `key` names, in `zones` (one or more: see the module), gets a
    /// campaign that starts at `start`: `time` on the campaign's day, moved by the person's
    /// place in the window (the same for the same key, so a second fan-out agrees), at the
    /// latest of their zones; the next day (or [`LocalSlot::Passed`]) when that is before
    /// `start`.
    pub fn slot(&self, zones: &[IanaZone], start: Timestamp, key: &str) -> LocalSlot {
        let utc = [IanaZone::utc()];
        let zones = if zones.is_empty() { &utc[..] } else { zones };
        let spread = u64::from(self.window_minutes) * 60;
        let offset = if spread == 0 { 0 } else { stable_hash(key) % spread };
        let offset = SignedDuration::from_secs(i64::try_from(offset).unwrap_or(0));
        // `zones` is never empty here (UTC stands in), so there is always a first day.
        let today = zones.iter().map(|z| start.to_zoned(z.tz().clone()).date()).min();
        let Some(first) = self.date.or(today) else { return LocalSlot::Passed };
        // Two days cover any zone's "today" at `start` and its next day.
        for day in 0..3 {
            let Ok(date) = first.checked_add(jiff::Span::new().days(day)) else { break };
            let at = zones.iter().filter_map(|z| self.on(date, z.tz())).max();
            let Some(at) = at.and_then(|t| t.checked_add(offset).ok()) else { continue };
            if at >= start {
                return LocalSlot::At(at);
            }
            if self.if_passed == IfPassed::Skip {
                return LocalSlot::Passed;
            }
        }
        LocalSlot::Passed
    }

    /// The instant the clock in `tz` reads `time` on `date` (in a spring-forward gap, as far
    /// past the jump as `time` was into it: 01:30 on the night the clock jumps from 01:00 to
    /// 02:00 is 02:30 summer time).
    fn on(&self, date: Date, tz: &TimeZone) -> Option<Timestamp> {
        date.to_datetime(self.time.time()).to_zoned(tz.clone()).ok().map(|z| z.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn zone(name: &str) -> IanaZone {
        IanaZone::parse(name).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn at_ten(window: u32) -> LocalDelivery {
        LocalDelivery {
            time: LocalTime::hm(10, 0).unwrap_or_else(|| panic!("10:00")),
            date: None,
            window_minutes: window,
            if_passed: IfPassed::NextDay,
        }
    }

    #[test]
    fn each_person_gets_the_time_in_their_own_zone() {
        let start = t("2026-12-01T09:00:00Z");
        let d = at_ten(0);
        assert_eq!(d.slot(&[zone("America/Sao_Paulo")], start, "a"), LocalSlot::At(t("2026-12-01T13:00:00Z")));
        assert_eq!(d.slot(&[zone("Europe/Lisbon")], start, "a"), LocalSlot::At(t("2026-12-01T10:00:00Z")));
        // 10:00 in Tokyo passed at 01:00Z: the next day's.
        assert_eq!(d.slot(&[zone("Asia/Tokyo")], start, "a"), LocalSlot::At(t("2026-12-02T01:00:00Z")));
        // Kolkata is +05:30: 04:30Z passed, so 04:30Z tomorrow.
        assert_eq!(d.slot(&[zone("Asia/Kolkata")], start, "a"), LocalSlot::At(t("2026-12-02T04:30:00Z")));
        let skip = LocalDelivery { if_passed: IfPassed::Skip, ..d };
        assert_eq!(skip.slot(&[zone("Asia/Tokyo")], start, "a"), LocalSlot::Passed);
        assert_eq!(skip.slot(&[zone("America/Sao_Paulo")], start, "a"), LocalSlot::At(t("2026-12-01T13:00:00Z")));
    }

    #[test]
    fn a_person_who_may_be_in_several_zones_gets_the_latest_of_their_times() {
        let start = t("2026-12-01T09:00:00Z");
        let zones = [zone("America/New_York"), zone("America/Los_Angeles")];
        assert_eq!(at_ten(0).slot(&zones, start, "a"), LocalSlot::At(t("2026-12-01T18:00:00Z")), "10:00 in LA");
    }

    #[test]
    fn recipients_spread_over_the_window_the_same_way_every_time() {
        let start = t("2026-12-01T00:00:00Z");
        let d = at_ten(120);
        let ten = t("2026-12-01T10:00:00Z");
        let times: Vec<Timestamp> = (0..500)
            .map(|i| match d.slot(&[zone("Europe/London")], start, &format!("cmp_1:4477009{i:05}")) {
                LocalSlot::At(at) => at,
                LocalSlot::Passed => panic!("not passed"),
            })
            .collect();
        assert!(times.iter().all(|at| *at >= ten && *at < ten + SignedDuration::from_mins(120)));
        let first_half = times.iter().filter(|at| **at < ten + SignedDuration::from_mins(60)).count();
        assert!((200..300).contains(&first_half), "{first_half} of 500 in the first hour");
        assert_eq!(
            d.slot(&[zone("Europe/London")], start, "cmp_1:x"),
            d.slot(&[zone("Europe/London")], start, "cmp_1:x")
        );
    }

    #[test]
    fn a_given_date_and_a_clock_change_are_honoured() {
        let mut d = at_ten(0);
        d.date = Some(jiff::civil::date(2027, 3, 28));
        // Lisbon moves to summer time on 2027-03-28 at 01:00: 10:00 is then 09:00Z.
        let lisbon = [zone("Europe/Lisbon")];
        assert_eq!(d.slot(&lisbon, t("2026-12-01T09:00:00Z"), "a"), LocalSlot::At(t("2027-03-28T09:00:00Z")));
        d.time = LocalTime::hm(1, 30).unwrap_or_else(|| panic!("01:30"));
        assert_eq!(
            d.slot(&lisbon, t("2026-12-01T09:00:00Z"), "a"),
            LocalSlot::At(t("2027-03-28T01:30:00Z")),
            "the gap"
        );
        assert!(d.check(t("2027-03-29T12:00:00Z")).is_err(), "passed everywhere");
        assert!(d.check(t("2027-03-28T12:00:00Z")).is_ok());
        assert!(LocalDelivery { window_minutes: 721, ..d }.check(t("2026-12-01T00:00:00Z")).is_err());
        let read: LocalDelivery = serde_json::from_value(serde_json::json!({"time": "10:00", "date": "2026-12-01"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((read.window_minutes, read.if_passed), (60, IfPassed::NextDay));
        assert!(serde_json::from_value::<LocalDelivery>(serde_json::json!({"time": "25:00"})).is_err());
    }
}
