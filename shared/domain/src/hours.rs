//! Quiet hours as data, and the next instant a recipient may be messaged.
//!
//! A policy is a set of *allowed* local windows ("sending hours"): the default is every day
//! 08:00–21:00 (quiet 21:00–08:00, the US TCPA rule); Brazil's state laws are Monday–Friday
//! 08:00–18:00; France's canvassing rule is two windows a weekday. Whether an instant is
//! allowed depends only on the recipient's local wall-clock time, which changes value only
//! at a window boundary or at a time-zone transition — so the next allowed instant is the
//! first of those candidate instants at which the predicate holds. That makes the search
//! DST-correct by construction: a window opening inside a spring-forward gap opens at the
//! transition, and an overlap's second pass through a boundary is a candidate too.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far ahead the search looks: a week, plus a day for windows that cross midnight and a
/// day for the one before `now` that may still be open.
const SEARCH_DAYS: i64 = 9;

/// Invalid sending-hours configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("'{0}' is not a local time; write it as HH:MM, e.g. \"08:00\"")]
    InvalidTime(String),
    #[error("'{0}' is not a set of days; write e.g. \"daily\", \"mon-fri\", \"sat,sun\"")]
    InvalidDays(String),
    #[error("sending hours need at least one window with at least one day")]
    NoWindow,
}

/// A local time of day at minute precision, written `"HH:MM"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(Time);

impl LocalTime {
    /// `hour:minute`; `None` when out of range.
    pub fn hm(hour: i8, minute: i8) -> Option<Self> {
        Time::new(hour, minute, 0, 0).ok().map(Self)
    }

    /// The civil time.
    pub fn time(self) -> Time {
        self.0
    }
}

impl FromStr for LocalTime {
    type Err = HoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HoursError::InvalidTime(s.to_owned());
        let (h, m) = s.trim().split_once(':').ok_or_else(err)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(err());
        }
        let (h, m) = (h.parse::<i8>().map_err(|_| err())?, m.parse::<i8>().map_err(|_| err())?);
        Self::hm(h, m).ok_or_else(err)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl fmt::Debug for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

deserialize_from_str!(LocalTime, Days);

/// A set of weekdays, written `"daily"`, `"mon-fri"`, `"sat,sun"` or `"mon,wed-fri"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Days {
    /// Every day of the week.
    pub const ALL: Days = Days(0b111_1111);
    /// Monday to Friday.
    pub const WEEKDAYS: Days = Days(0b001_1111);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Days {
    type Err = HoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HoursError::InvalidDays(s.to_owned());
        let lower = s.trim().to_ascii_lowercase();
        if lower == "daily" || lower == "all" {
            return Ok(Self::ALL);
        }
        let index = |name: &str| DAY_NAMES.iter().position(|d| *d == name.trim()).ok_or_else(err);
        let mut bits = 0u8;
        for part in lower.split(',') {
            let (from, to) = match part.split_once('-') {
                Some((a, b)) => (index(a)?, index(b)?),
                None => (index(part)?, index(part)?),
            };
            if from > to {
                return Err(err());
            }
            (from..=to).for_each(|i| bits |= 1 << i);
        }
        Ok(Self(bits))
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("daily");
        }
        let names: Vec<&str> = (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Days {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One allowed local window, opening at `start` on each of `days`. When `end <= start` the
/// window crosses midnight and closes at `end` the next day (`start == end`: 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default = "all_days")]
    pub days: Days,
    pub start: LocalTime,
    pub end: LocalTime,
}

fn all_days() -> Days {
    Days::ALL
}

impl Window {
    fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    fn contains(&self, dt: DateTime) -> bool {
        let (day, t) = (dt.weekday(), dt.time());
        if self.crosses_midnight() {
            (self.days.contains(day) && t >= self.start.0) || (self.days.contains(day.previous()) && t < self.end.0)
        } else {
            self.days.contains(day) && self.start.0 <= t && t < self.end.0
        }
    }
}

/// A quiet period written the way people say it: no messages from `start` to `end` local
/// time, every day (`{"start": "21:00", "end": "08:00"}`). Used for per-contact overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: LocalTime,
    pub end: LocalTime,
}

/// When messages may go out, as local windows. Written in configuration either as a daily
/// quiet period or as explicit allowed windows:
///
/// ```json
/// {"quiet": {"start": "21:00", "end": "08:00"}}
/// {"allowed": [{"days": "mon-fri", "start": "08:00", "end": "18:00"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingHours {
    spec: HoursSpec,
    windows: Vec<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum HoursSpec {
    Quiet(QuietHours),
    Allowed(Vec<Window>),
}

impl SendingHours {
    /// Quiet from `quiet.start` to `quiet.end` every day; allowed the rest of the time.
    pub fn from_quiet(quiet: QuietHours) -> Self {
        let window = Window { days: Days::ALL, start: quiet.end, end: quiet.start };
        Self { spec: HoursSpec::Quiet(quiet), windows: vec![window] }
    }

    /// Explicit allowed windows.
    pub fn allowed(windows: Vec<Window>) -> Result<Self, HoursError> {
        if windows.is_empty() || windows.iter().any(|w| w.days.is_empty()) {
            return Err(HoursError::NoWindow);
        }
        Ok(Self { spec: HoursSpec::Allowed(windows.clone()), windows })
    }

    /// polite's default: quiet 21:00–08:00 local, every day (47 CFR 64.1200(c)(1)).
    pub fn default_quiet() -> Self {
        Self::from_quiet(QuietHours {
            start: LocalTime(Time::constant(21, 0, 0, 0)),
            end: LocalTime(Time::constant(8, 0, 0, 0)),
        })
    }

    /// The quiet period, when the hours were written as one.
    pub fn quiet(&self) -> Option<QuietHours> {
        match self.spec {
            HoursSpec::Quiet(q) => Some(q),
            HoursSpec::Allowed(_) => None,
        }
    }

    /// Whether the local wall-clock time `dt` is inside an allowed window.
    pub fn allows_local(&self, dt: DateTime) -> bool {
        self.windows.iter().any(|w| w.contains(dt))
    }

    /// Whether the instant `t` is allowed for a recipient in `tz`.
    pub fn allows(&self, t: Timestamp, tz: &TimeZone) -> bool {
        self.allows_local(tz.to_datetime(t))
    }

    /// The first instant at or after `now` that is allowed in `tz`; `None` only when the
    /// windows never open (impossible for hours built through this type's constructors).
    pub fn next_allowed(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if self.allows(now, tz) {
            return Some(now);
        }
        let opens = self.boundaries(now, tz, |w, day| Some(day.to_datetime(w.start.0)));
        Self::candidates(now, tz, opens).find(|&c| self.allows(c, tz))
    }

    /// The first instant after `t` that is not allowed in `tz` (the end of the allowed
    /// stretch `t` is in); `None` when there is none within the search horizon (24/7).
    pub fn allowed_until(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let closes = self.boundaries(t, tz, |w, day| {
            let end_day = if w.crosses_midnight() { day.tomorrow().ok()? } else { day };
            Some(end_day.to_datetime(w.end.0))
        });
        Self::candidates(t, tz, closes).find(|&c| !self.allows(c, tz))
    }

    /// Local boundary datetimes (window opens or closes) from the day before `t` on.
    fn boundaries(&self, t: Timestamp, tz: &TimeZone, at: impl Fn(&Window, Date) -> Option<DateTime>) -> Vec<DateTime> {
        let today = tz.to_datetime(t).date();
        let mut out = Vec::new();
        for offset in -1..SEARCH_DAYS {
            let Ok(day) = today.checked_add(offset.days()) else { continue };
            for w in self.windows.iter().filter(|w| w.days.contains(day.weekday())) {
                out.extend(at(w, day));
            }
        }
        out
    }

    /// Sorted instants after `t` where allowedness may change: each local boundary resolved
    /// in `tz` (both passes of an overlap; the transition itself for a gap) plus every
    /// transition of the zone within the horizon.
    fn candidates(t: Timestamp, tz: &TimeZone, local: Vec<DateTime>) -> impl Iterator<Item = Timestamp> {
        let horizon = t.checked_add(SignedDuration::from_hours(24 * SEARCH_DAYS)).unwrap_or(Timestamp::MAX);
        let mut out: Vec<Timestamp> = local.into_iter().flat_map(|dt| resolve_local(tz, dt)).collect();
        out.extend(tz.following(t).map(|tr| tr.timestamp()).take_while(|&ts| ts <= horizon));
        out.retain(|&c| c > t);
        out.sort_unstable();
        out.dedup();
        out.into_iter()
    }
}

impl Default for SendingHours {
    fn default() -> Self {
        Self::default_quiet()
    }
}

impl From<QuietHours> for SendingHours {
    fn from(q: QuietHours) -> Self {
        Self::from_quiet(q)
    }
}

impl Serialize for SendingHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SendingHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match HoursSpec::deserialize(d)? {
            HoursSpec::Quiet(q) => Ok(Self::from_quiet(q)),
            HoursSpec::Allowed(w) => Self::allowed(w).map_err(serde::de::Error::custom),
        }
    }
}

/// The instants at which the local clock in `tz` first reads `dt` or later: one normally;
/// two in a fall-back overlap (the clock passes `dt` twice); in a spring-forward gap, the
/// transition instant (the clock jumps over `dt`).
fn resolve_local(tz: &TimeZone, dt: DateTime) -> Vec<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).into_iter().collect(),
        AmbiguousOffset::Fold { before, after } => {
            [before, after].into_iter().filter_map(|o| o.to_timestamp(dt).ok()).collect()
        }
        AmbiguousOffset::Gap { before, after } => {
            let earliest = [before, after].into_iter().filter_map(|o| o.to_timestamp(dt).ok()).min();
            earliest.and_then(|e| tz.following(e).next()).map(|tr| tr.timestamp()).into_iter().collect()
        }
    }
}

/// The first instant at or after `now` when a recipient in `zone` may be messaged under
/// `hours`. DST-correct: see the module docs.
pub fn next_allowed_instant(now: Timestamp, zone: &crate::IanaZone, hours: &SendingHours) -> Option<Timestamp> {
    hours.next_allowed(now, zone.tz())
}

/// The earliest instant at or after `now` that is allowed in *every* one of `zones` by *every*
/// one of `hours` (the jurisdiction's and the contact's own: each may only narrow the other),
/// inside a common window at least `min_len` long (and when that window closes); `None` when
/// there is no such window within the search horizon.
///
/// A window is judged by its whole length, not by what is left of it: at 18:41 in Lisbon a
/// Portuguese mobile (Lisbon or the Azores) is inside a 12-hour common window and may be
/// messaged now, though only 2 h 19 min of it remain. The search therefore starts a day before
/// `now` when a minimum applies, so the window `now` falls in is measured from its opening.
///
/// Used when a phone number can be in several zones: never early anywhere the recipient
/// might be.
pub fn common_window(
    now: Timestamp,
    zones: &[&TimeZone],
    hours: &[&SendingHours],
    min_len: SignedDuration,
) -> Option<(Timestamp, Option<Timestamp>)> {
    let limit = now.checked_add(SignedDuration::from_hours(24 * 8)).ok()?;
    // Without a minimum (one zone: the gate's common case, on the sender's hot path) any open
    // window will do, so the search starts at `now`. With one, it starts 25 h back — longer than
    // any daily window can be without being open all day, so a window that began before that
    // is longer than any sensible minimum anyway.
    let mut t = if min_len.is_zero() { now } else { now.checked_sub(SignedDuration::from_hours(25)).ok()? };
    while t <= limit {
        let mut moved = false;
        for tz in zones {
            for h in hours {
                let next = h.next_allowed(t, tz)?;
                if next > t {
                    t = next;
                    moved = true;
                }
            }
        }
        if moved {
            continue;
        }
        let end = zones.iter().flat_map(|tz| hours.iter().filter_map(|h| h.allowed_until(t, tz))).min();
        match end {
            // Over before `now`, or too short to trust: the next one.
            Some(end) if end <= now || end.duration_since(t) < min_len => t = end,
            _ => return Some((t.max(now), end)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }
    fn hm(s: &str) -> LocalTime {
        s.parse().unwrap()
    }
    fn quiet(start: &str, end: &str) -> SendingHours {
        SendingHours::from_quiet(QuietHours { start: hm(start), end: hm(end) })
    }
    fn window(days: &str, start: &str, end: &str) -> Window {
        Window { days: days.parse().unwrap(), start: hm(start), end: hm(end) }
    }

    #[test]
    fn daytime_is_allowed_immediately() {
        let ny = tz("America/New_York");
        // 12:00 EDT
        assert_eq!(
            SendingHours::default().next_allowed(ts("2026-06-10T16:00:00Z"), &ny),
            Some(ts("2026-06-10T16:00:00Z"))
        );
    }

    #[test]
    fn late_evening_waits_until_8am_next_day() {
        let ny = tz("America/New_York");
        // 22:00 EDT on the 10th → 08:00 EDT on the 11th
        let next = SendingHours::default().next_allowed(ts("2026-06-11T02:00:00Z"), &ny);
        assert_eq!(next, Some(ts("2026-06-11T12:00:00Z")));
    }

    #[test]
    fn early_morning_waits_until_8am_same_day() {
        let sp = tz("America/Sao_Paulo");
        // 07:59 BRT (UTC-3) → 08:00 BRT
        let next = SendingHours::default().next_allowed(ts("2026-06-10T10:59:00Z"), &sp);
        assert_eq!(next, Some(ts("2026-06-10T11:00:00Z")));
    }

    #[test]
    fn nine_pm_exactly_is_quiet_and_eight_am_exactly_is_allowed() {
        let utc = TimeZone::UTC;
        let h = SendingHours::default();
        assert!(!h.allows(ts("2026-06-10T21:00:00Z"), &utc));
        assert!(h.allows(ts("2026-06-10T20:59:59Z"), &utc));
        assert!(h.allows(ts("2026-06-10T08:00:00Z"), &utc));
        assert!(!h.allows(ts("2026-06-10T07:59:59Z"), &utc));
    }

    #[test]
    fn a_quiet_window_that_does_not_cross_midnight_works() {
        // Quiet over lunch only: 12:00–14:00.
        let h = quiet("12:00", "14:00");
        let utc = TimeZone::UTC;
        assert_eq!(h.next_allowed(ts("2026-06-10T12:30:00Z"), &utc), Some(ts("2026-06-10T14:00:00Z")));
        assert!(h.allows(ts("2026-06-10T23:30:00Z"), &utc));
        assert!(h.allows(ts("2026-06-10T03:30:00Z"), &utc));
    }

    #[test]
    fn an_allowed_window_that_crosses_midnight_covers_both_days() {
        // A night-shift business: allowed 22:00–06:00, Fridays only (so Saturday 00:00–06:00 too).
        let h = SendingHours::allowed(vec![window("fri", "22:00", "06:00")]).unwrap();
        let utc = TimeZone::UTC;
        assert!(h.allows(ts("2026-06-12T23:00:00Z"), &utc)); // Fri 23:00
        assert!(h.allows(ts("2026-06-13T05:59:00Z"), &utc)); // Sat 05:59
        assert!(!h.allows(ts("2026-06-13T06:00:00Z"), &utc)); // Sat 06:00
        assert!(!h.allows(ts("2026-06-12T05:00:00Z"), &utc)); // Fri 05:00 (Thu was not a start day)
        assert_eq!(h.next_allowed(ts("2026-06-13T06:00:00Z"), &utc), Some(ts("2026-06-19T22:00:00Z")));
    }

    #[test]
    fn weekday_only_windows_skip_the_weekend() {
        // Brazil (state laws): Monday–Friday 08:00–18:00. Friday 2026-06-12 19:00 BRT.
        let h = SendingHours::allowed(vec![window("mon-fri", "08:00", "18:00")]).unwrap();
        let next = h.next_allowed(ts("2026-06-12T22:00:00Z"), &tz("America/Sao_Paulo"));
        assert_eq!(next, Some(ts("2026-06-15T11:00:00Z"))); // Monday 08:00 BRT
    }

    #[test]
    fn two_windows_a_day_leave_the_lunch_gap_quiet() {
        // France (telephone canvassing): weekdays 10–13 and 14–20.
        let h = SendingHours::allowed(vec![window("mon-fri", "10:00", "13:00"), window("mon-fri", "14:00", "20:00")])
            .unwrap();
        let paris = tz("Europe/Paris");
        // Wednesday 13:30 CEST (11:30Z) → 14:00 CEST
        assert_eq!(h.next_allowed(ts("2026-06-10T11:30:00Z"), &paris), Some(ts("2026-06-10T12:00:00Z")));
        assert_eq!(h.allowed_until(ts("2026-06-10T12:00:00Z"), &paris), Some(ts("2026-06-10T18:00:00Z")));
    }

    #[test]
    fn window_opening_inside_a_spring_forward_gap_opens_at_the_transition() {
        // New York jumps 02:00 → 03:00 EST→EDT on 2026-03-08 (07:00Z). A window opening at
        // 02:30 that day opens when the clock first reads ≥ 02:30: 03:00 EDT = 07:00Z.
        let h = SendingHours::allowed(vec![window("daily", "02:30", "20:00")]).unwrap();
        let next = h.next_allowed(ts("2026-03-08T06:00:00Z"), &tz("America/New_York"));
        assert_eq!(next, Some(ts("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn eight_am_after_spring_forward_is_eight_am_daylight_time() {
        // 2026-03-08 00:30 EST (05:30Z) → 08:00 EDT = 12:00Z, not 13:00Z.
        let next = SendingHours::default().next_allowed(ts("2026-03-08T05:30:00Z"), &tz("America/New_York"));
        assert_eq!(next, Some(ts("2026-03-08T12:00:00Z")));
    }

    #[test]
    fn window_opening_inside_a_fall_back_overlap_opens_at_the_first_pass() {
        // New York falls back 02:00 EDT → 01:00 EST on 2026-11-01 (06:00Z). 01:30 happens at
        // 05:30Z (EDT) and again at 06:30Z (EST); the window opens at the first.
        let h = SendingHours::allowed(vec![window("daily", "01:30", "21:00")]).unwrap();
        let next = h.next_allowed(ts("2026-11-01T05:00:00Z"), &tz("America/New_York"));
        assert_eq!(next, Some(ts("2026-11-01T05:30:00Z")));
    }

    #[test]
    fn fall_back_can_make_an_allowed_clock_quiet_again_and_the_second_pass_reopens_it() {
        // Allowed 01:30–21:00. 01:45 EDT is allowed; at 06:00Z the clock reads 01:00 EST,
        // quiet again until 01:30 EST = 06:30Z.
        let h = SendingHours::allowed(vec![window("daily", "01:30", "21:00")]).unwrap();
        let ny = tz("America/New_York");
        assert!(h.allows(ts("2026-11-01T05:45:00Z"), &ny));
        assert_eq!(h.allowed_until(ts("2026-11-01T05:45:00Z"), &ny), Some(ts("2026-11-01T06:00:00Z")));
        assert_eq!(h.next_allowed(ts("2026-11-01T06:10:00Z"), &ny), Some(ts("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn half_hour_zones_are_respected() {
        // Kolkata is UTC+05:30: 07:00 IST = 01:30Z → 08:00 IST = 02:30Z.
        let next = SendingHours::default().next_allowed(ts("2026-06-10T01:30:00Z"), &tz("Asia/Kolkata"));
        assert_eq!(next, Some(ts("2026-06-10T02:30:00Z")));
    }

    #[test]
    fn common_window_of_several_zones_is_their_intersection() {
        // Eastern (UTC-4) and Pacific (UTC-7) in June: 08:00 PT = 15:00Z opens both;
        // 21:00 ET = 01:00Z closes the common window.
        let (ny, la) = (tz("America/New_York"), tz("America/Los_Angeles"));
        let (start, end) =
            common_window(ts("2026-06-10T12:00:00Z"), &[&ny, &la], &[&SendingHours::default()], SignedDuration::ZERO)
                .unwrap();
        assert_eq!(start, ts("2026-06-10T15:00:00Z"));
        assert_eq!(end, Some(ts("2026-06-11T01:00:00Z")));
    }

    #[test]
    fn a_long_common_window_is_open_until_it_closes_however_little_of_it_is_left() {
        // A Portuguese mobile: Lisbon (UTC+0) or the Azores (UTC-1) in November. The common
        // window is 09:00–21:00 Lisbon time, 12 h; at 18:41 it is open for 2 h 19 min more.
        let (lisbon, azores) = (tz("Europe/Lisbon"), tz("Atlantic/Azores"));
        let h = SendingHours::default();
        let six_hours = SignedDuration::from_hours(6);
        let evening = ts("2026-11-23T18:41:00Z");
        let found = common_window(evening, &[&lisbon, &azores], &[&h], six_hours).unwrap();
        assert_eq!(found, (evening, Some(ts("2026-11-23T21:00:00Z"))));
        // Before it opens, it opens at 09:00 Lisbon; after it closes, the next morning.
        let early = common_window(ts("2026-11-23T08:30:00Z"), &[&lisbon, &azores], &[&h], six_hours).unwrap();
        assert_eq!(early.0, ts("2026-11-23T09:00:00Z"));
        let late = common_window(ts("2026-11-23T21:30:00Z"), &[&lisbon, &azores], &[&h], six_hours).unwrap();
        assert_eq!(late.0, ts("2026-11-24T09:00:00Z"));
    }

    #[test]
    fn a_short_common_window_is_skipped_even_from_inside_it() {
        // Kaliningrad (UTC+2) and Kamchatka (UTC+12) share 06:00Z–09:00Z; at 07:00Z it is open
        // but only 3 h long in all: with a 4-hour minimum it does not count.
        let (a, b) = (tz("Europe/Kaliningrad"), tz("Asia/Kamchatka"));
        let h = SendingHours::default();
        let inside = ts("2026-06-10T07:00:00Z");
        assert_eq!(common_window(inside, &[&a, &b], &[&h], SignedDuration::from_hours(4)), None);
        assert_eq!(
            common_window(inside, &[&a, &b], &[&h], SignedDuration::from_hours(2)),
            Some((inside, Some(ts("2026-06-10T09:00:00Z"))))
        );
    }

    #[test]
    fn common_window_shorter_than_the_minimum_is_skipped_and_none_when_impossible() {
        // UTC+2 and UTC+12 (Russia's span): 08:00–21:00 windows overlap for 3 hours
        // (06:00Z–09:00Z). A 4-hour minimum finds nothing.
        let (a, b) = (tz("Europe/Kaliningrad"), tz("Asia/Kamchatka"));
        let h = SendingHours::default();
        let found = common_window(ts("2026-06-10T00:00:00Z"), &[&a, &b], &[&h], SignedDuration::from_hours(2)).unwrap();
        assert_eq!(found, (ts("2026-06-10T06:00:00Z"), Some(ts("2026-06-10T09:00:00Z"))));
        assert_eq!(common_window(ts("2026-06-10T00:00:00Z"), &[&a, &b], &[&h], SignedDuration::from_hours(4)), None);
    }

    #[test]
    fn hours_are_read_from_json_in_both_forms() {
        let q: SendingHours = serde_json::from_str(r#"{"quiet":{"start":"20:00","end":"08:00"}}"#).unwrap();
        assert_eq!(q, quiet("20:00", "08:00"));
        let a: SendingHours =
            serde_json::from_str(r#"{"allowed":[{"days":"mon-fri","start":"08:00","end":"18:00"}]}"#).unwrap();
        assert_eq!(a, SendingHours::allowed(vec![window("mon-fri", "08:00", "18:00")]).unwrap());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"allowed":[{"days":"mon,tue,wed,thu,fri","start":"08:00","end":"18:00"}]}"#
        );
    }

    #[test]
    fn bad_hours_configuration_is_refused_with_a_reason() {
        for (json, needle) in [
            (r#"{"quiet":{"start":"25:00","end":"08:00"}}"#, "HH:MM"),
            (r#"{"quiet":{"start":"9pm","end":"08:00"}}"#, "HH:MM"),
            (r#"{"allowed":[{"days":"weekdays","start":"08:00","end":"18:00"}]}"#, "days"),
            (r#"{"allowed":[]}"#, "at least one window"),
            (r#"{"sometimes":{}}"#, "unknown variant"),
        ] {
            let err = serde_json::from_str::<SendingHours>(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn day_sets_parse_ranges_and_lists() {
        let d: Days = "mon,wed-fri".parse().unwrap();
        assert!(d.contains(Weekday::Monday) && d.contains(Weekday::Thursday));
        assert!(!d.contains(Weekday::Tuesday) && !d.contains(Weekday::Sunday));
        assert_eq!("daily".parse::<Days>().unwrap(), Days::ALL);
        assert!("fri-mon".parse::<Days>().is_err());
    }
}
