//! The send gate: may this message go to this recipient now, and if not, what then?
//!
//! `decide` is checked at send time (not only when the message is requested), in the order
//! of docs/architecture.md, "The send gate": expiry, then who the recipient is and what they consented to, then the
//! 24 h window for free-form text, then *when*: quiet hours in the recipient's local time,
//! frequency caps, and pair-rate spacing. It is pure: `now` and the jitter come in.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ContactRef;
use crate::caps::{FrequencyCap, SendHistory, next_spaced};
use crate::consent::{ConsentCategory, ConsentState, ConsentStatus};
use crate::hours::{QuietHours, SendingHours, common_window};
use crate::message::{Category, DeferReason};
use crate::window::window_closes;
use crate::zone::{IanaZone, ZoneAssumption, ZoneBasis};
use std::borrow::Cow;

/// The sending policy, as configuration data. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Sending hours where nothing more specific applies (default quiet 21:00–08:00).
    pub default_hours: SendingHours,
    /// Overrides by ISO region (`"BR"`) or by dial prefix (`"+1305"`: a US state's area
    /// codes); the longest matching prefix wins over the region.
    pub hours_overrides: BTreeMap<String, SendingHours>,
    /// Categories that wait for sending hours (authentication never does).
    pub quiet_categories: Vec<Category>,
    /// Frequency caps per category.
    pub caps: Vec<FrequencyCap>,
    /// Minimum spacing between two sends to one recipient (Meta's pair rate: ~1 per 6 s).
    pub pair_spacing_seconds: u32,
    /// Categories refused for destinations by dial prefix, e.g. marketing to `"+1"`.
    pub blocked_destinations: Vec<DestinationBlock>,
    /// When a number may be in several zones, their common window must be at least this
    /// long, else the country's primary zone is assumed. The default, 6 h, keeps the
    /// intersection for Australian (≈ 8.5 h) and Brazilian (≈ 10 h) mobiles and falls back
    /// for Russian ones (UTC+2…+12: 3–4 h).
    pub min_common_window_minutes: u32,
    /// The zone assumed per region when the number's zones are unknown or disagree too much.
    pub primary_zones: BTreeMap<String, IanaZone>,
    /// The zone assumed when nothing else is known.
    pub fallback_zone: IanaZone,
    /// Upper bound of the jitter added to a quiet-hours deferral, so 08:00 is not a stampede.
    pub max_jitter_seconds: u32,
    /// How long a message of a paused (or not yet approved) template waits before it is looked
    /// at again (default 30 min; Meta's pauses last 3 or 6 h, and the first look after an
    /// APPROVED update sends it).
    pub paused_template_recheck_seconds: u32,
}

/// A category refused for numbers starting with `prefix` (`"+1"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationBlock {
    pub category: Category,
    pub prefix: String,
}

impl Default for Policy {
    fn default() -> Self {
        let primary = [
            ("AU", "Australia/Sydney"),
            ("BR", "America/Sao_Paulo"),
            ("CA", "America/Toronto"),
            ("CN", "Asia/Shanghai"),
            ("GB", "Europe/London"),
            ("ID", "Asia/Jakarta"),
            ("IN", "Asia/Kolkata"),
            ("KZ", "Asia/Almaty"),
            ("MX", "America/Mexico_City"),
            ("RU", "Europe/Moscow"),
            ("US", "America/New_York"),
        ];
        Self {
            default_hours: SendingHours::default_quiet(),
            hours_overrides: BTreeMap::new(),
            quiet_categories: vec![Category::Marketing, Category::Utility],
            caps: vec![FrequencyCap::DEFAULT_MARKETING],
            pair_spacing_seconds: 6,
            blocked_destinations: Vec::new(),
            min_common_window_minutes: 360,
            primary_zones: primary
                .into_iter()
                .filter_map(|(r, z)| IanaZone::parse(z).ok().map(|z| (r.to_owned(), z)))
                .collect(),
            fallback_zone: IanaZone::utc(),
            max_jitter_seconds: 600,
            paused_template_recheck_seconds: 1800,
        }
    }
}

impl Policy {
    /// How long a send matters to the gate: the longest frequency-cap window, at least a day
    /// so pair spacing always sees the last send. Send-log records expire after it.
    pub fn send_memory(&self) -> SignedDuration {
        let hours = self.caps.iter().map(|c| c.window_hours).max().unwrap_or(0).max(24);
        SignedDuration::from_hours(i64::from(hours))
    }

    /// The sending hours for a recipient: the contact's own quiet hours, else the longest
    /// matching dial-prefix override, else the region's, else the default.
    /// For a business-scoped user id (no number known), the region's.
    pub fn hours_for<'a>(&'a self, to: &ContactRef, contact_override: Option<&'a SendingHours>) -> &'a SendingHours {
        if let Some(h) = contact_override {
            return h;
        }
        let by_prefix = to.phone().and_then(|to| {
            self.hours_overrides
                .iter()
                .filter_map(|(k, h)| Some((k.strip_prefix('+')?, h)))
                .filter(|(digits, _)| to.as_str().starts_with(digits))
                .max_by_key(|(digits, _)| digits.len())
                .map(|(_, h)| h)
        });
        by_prefix.or_else(|| to.main_region().and_then(|r| self.hours_overrides.get(&r))).unwrap_or(&self.default_hours)
    }

    /// Whether `category` is blocked for the destination: a number by its prefix; a user id by
    /// its country's calling code when the prefix is no longer than that code (`+1` blocks
    /// `US.…`; `+1305` cannot be told from a user id and does not).
    fn is_blocked(&self, to: &ContactRef, category: Category) -> bool {
        let digits = match to {
            ContactRef::Phone(p) => Cow::Borrowed(p.as_str()),
            ContactRef::User(u) => match crate::zone::calling_code(u.region()) {
                Some(code) => Cow::Owned(code.to_string()),
                None => return false,
            },
        };
        self.blocked_destinations
            .iter()
            .any(|b| b.category == category && digits.starts_with(b.prefix.trim_start_matches('+')))
    }
}

/// What the message is, as far as the gate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// How the message will be addressed: the person's phone when known, else their
    /// business-scoped user id.
    pub to: ContactRef,
    pub category: Category,
    /// Free-form text (as opposed to a template) needs the 24 h window.
    pub free_form: bool,
    pub expires_at: Option<Timestamp>,
}

/// What the gate knows of the recipient, read (strongly consistently) at send time.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub consent: ConsentState,
    /// A do-not-contact tombstone from an erasure, until a new explicit opt-in.
    pub erased: bool,
    /// The business blocked this user (130403) or the user blocked the business.
    pub blocked: bool,
    /// 131026: undeliverable; suppressed until then.
    pub undeliverable_until: Option<Timestamp>,
    /// The contact's own IANA zone, when known.
    pub timezone: Option<IanaZone>,
    /// The contact's own quiet hours, when set.
    pub quiet_hours: Option<QuietHours>,
    pub last_inbound_at: Option<Timestamp>,
    pub sends: SendHistory,
}

impl Recipient {
    /// The gate's view of a stored contact (`None`: never heard of — no consent) and its
    /// recent sends.
    pub fn from_contact(contact: Option<&crate::contact::ContactRecord>, sends: SendHistory) -> Self {
        let Some(c) = contact else { return Self { sends, ..Self::default() } };
        Self {
            consent: c.consent.clone(),
            erased: c.erased,
            blocked: c.blocked,
            undeliverable_until: c.undeliverable_until,
            timezone: c.timezone.clone(),
            quiet_hours: c.quiet_hours,
            last_inbound_at: c.last_inbound_at,
            sends,
        }
    }

    /// Whether the customer-service window is open at `now`.
    pub fn window_open(&self, now: Timestamp) -> bool {
        self.window_open_until().is_some_and(|until| now < until)
    }

    /// When the customer-service window closes (24 h after the last inbound message).
    pub fn window_open_until(&self) -> Option<Timestamp> {
        self.last_inbound_at.and_then(window_closes)
    }

    /// Whether a service message or free-form text may use the window now: it must be open,
    /// and opened by a message written *after* the person's latest opt-out of everything (a
    /// STOP is itself an inbound message; it opens Meta's window but invites no reply but the
    /// optional confirmation).
    pub fn service_window(&self, now: Timestamp) -> Result<(), SuppressReason> {
        if !self.window_open(now) {
            return Err(SuppressReason::WindowClosed);
        }
        let opted_out_of_everything = match (&self.consent.marketing, &self.consent.utility) {
            (Some(m), Some(u)) if m.status == ConsentStatus::OptedOut && u.status == ConsentStatus::OptedOut => {
                Some(m.changed_at.max(u.changed_at))
            }
            _ => None,
        };
        match (opted_out_of_everything, self.last_inbound_at) {
            (Some(stopped), Some(wrote)) if wrote <= stopped => Err(SuppressReason::OptedOut),
            _ => Ok(()),
        }
    }
}

/// Why a message will not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    Erased,
    Blocked,
    Undeliverable,
    /// No consent was ever captured for the category.
    NoConsent,
    OptedOut,
    DestinationBlocked,
    /// Free-form text or a service message outside the 24 h window.
    WindowClosed,
    /// An authentication template to a person known only by a business-scoped user id: Meta
    /// refuses those (131062).
    NeedsPhoneNumber,
}

impl SuppressReason {
    /// The wire name (a message's `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erased => "erased",
            Self::Blocked => "blocked",
            Self::Undeliverable => "undeliverable",
            Self::NoConsent => "no_consent",
            Self::OptedOut => "opted_out",
            Self::DestinationBlocked => "destination_blocked",
            Self::WindowClosed => "window_closed",
            Self::NeedsPhoneNumber => "needs_phone_number",
        }
    }
}

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    Defer { until: Timestamp, reason: DeferReason },
    Suppress { reason: SuppressReason },
    Expire,
}

/// The verdict, and the zone(s) it assumed for the recipient when quiet hours were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOutcome {
    pub decision: Decision,
    pub zone: Option<ZoneAssumption>,
}

/// Decides whether `msg` may go to `recipient` at `now` under `policy`.
///
/// `jitter` (clamped to `[0, policy.max_jitter_seconds]` and to half the allowed window) is
/// added to a deferral that ends at a quiet-hours window's opening (never to authentication,
/// pair spacing or caps) so that recipients held overnight do not all go at 08:00:00; callers
/// derive it from the message id so a retry decides the same.
pub fn decide(
    msg: &Outbound,
    recipient: &Recipient,
    policy: &Policy,
    now: Timestamp,
    jitter: SignedDuration,
) -> GateOutcome {
    let verdict = |decision| GateOutcome { decision, zone: None };
    // 1. Expired.
    if msg.expires_at.is_some_and(|e| e <= now) {
        return verdict(Decision::Expire);
    }
    // 2. Who the recipient is and what they agreed to.
    if let Some(reason) = refusal(msg, recipient, policy, now) {
        return verdict(Decision::Suppress { reason });
    }
    // 3. Free-form text needs the 24 h window open now (and not opened by a STOP).
    if msg.free_form
        && let Err(reason) = recipient.service_window(now)
    {
        return verdict(Decision::Suppress { reason });
    }
    // 4–6. When: the earliest instant that satisfies quiet hours, caps and spacing at once.
    // The reason reported is the first constraint (in the design's order) that holds it now.
    let quiet = policy.quiet_categories.contains(&msg.category).then(|| QuietPlan::new(msg, recipient, policy));
    let caps: Vec<FrequencyCap> = policy.caps.iter().copied().filter(|c| c.category == msg.category).collect();
    if caps.iter().any(|c| c.max == 0) {
        return verdict(Decision::Suppress { reason: SuppressReason::DestinationBlocked });
    }
    let spacing = SignedDuration::from_secs(i64::from(policy.pair_spacing_seconds));
    let mut reason = None;
    let mut zone = None;
    let mut t = now;
    let mut window_end = None;
    // Whether `t` is the opening of a quiet-hours window (the last constraint to move it).
    let mut at_window_opening = false;
    // Each pass only moves t forward; a few passes settle (each constraint is monotone).
    for _ in 0..16 {
        let start = t;
        if let Some(plan) = &quiet {
            let Some((open, end, assumed)) = plan.next_open(t) else {
                return verdict(Decision::Expire);
            };
            if open > t {
                reason.get_or_insert(DeferReason::QuietHours);
                at_window_opening = true;
            }
            (t, window_end, zone) = (open, end, Some(assumed));
        }
        let capped = caps.iter().map(|c| c.next_allowed(t, &recipient.sends)).max().unwrap_or(t);
        if capped > t {
            reason.get_or_insert(DeferReason::FrequencyCap);
            (t, at_window_opening) = (capped, false);
        }
        let spaced = next_spaced(t, &recipient.sends, spacing);
        if spaced > t {
            reason.get_or_insert(DeferReason::PairRate);
            (t, at_window_opening) = (spaced, false);
        }
        if t == start {
            break;
        }
    }
    let Some(reason) = reason else { return GateOutcome { decision: Decision::Send, zone } };
    // Jitter spreads only the crowd a quiet-hours window releases at its opening; a spacing or
    // a cap ends at one person's own instant, and a one-time code never waits longer than it
    // must.
    let jittered = at_window_opening && msg.category != Category::Authentication;
    let jitter = if jittered { bounded_jitter(jitter, policy, t, window_end) } else { SignedDuration::ZERO };
    let until = t.checked_add(jitter).unwrap_or(t);
    let decision =
        if msg.expires_at.is_some_and(|e| until >= e) { Decision::Expire } else { Decision::Defer { until, reason } };
    GateOutcome { decision, zone }
}

/// Step 2 of the gate: a reason the recipient must not get this category at all.
fn refusal(msg: &Outbound, r: &Recipient, policy: &Policy, now: Timestamp) -> Option<SuppressReason> {
    use ConsentCategory::{Marketing, Utility};
    if r.erased {
        return Some(SuppressReason::Erased);
    }
    if msg.category == Category::Authentication && msg.to.phone().is_none() {
        return Some(SuppressReason::NeedsPhoneNumber);
    }
    if r.blocked {
        return Some(SuppressReason::Blocked);
    }
    // 131026's mark never blocks a reply to someone who is writing to the business right now.
    let replying = msg.category == Category::Service && r.window_open(now);
    if r.undeliverable_until.is_some_and(|u| u > now) && !replying {
        return Some(SuppressReason::Undeliverable);
    }
    let status = |c| r.consent.status(c);
    let opted_out = |c| status(c) == Some(ConsentStatus::OptedOut);
    let needs = |allowed: &[ConsentCategory]| {
        if allowed.iter().any(|&c| r.consent.is_opted_in(c)) {
            None
        } else if allowed.iter().any(|&c| opted_out(c)) {
            Some(SuppressReason::OptedOut)
        } else {
            Some(SuppressReason::NoConsent)
        }
    };
    let consent = match msg.category {
        Category::Marketing => needs(&[Marketing]),
        // An explicit utility opt-out is not overridden by marketing consent.
        Category::Utility if opted_out(Utility) => Some(SuppressReason::OptedOut),
        Category::Utility => needs(&[Utility, Marketing]),
        Category::Authentication => needs(&[Marketing, Utility]),
        Category::Service => r.service_window(now).err(),
    };
    consent.or_else(|| policy.is_blocked(&msg.to, msg.category).then_some(SuppressReason::DestinationBlocked))
}

/// Keeps the jitter within policy and inside the allowed window it lands in.
fn bounded_jitter(
    jitter: SignedDuration,
    policy: &Policy,
    at: Timestamp,
    window_end: Option<Timestamp>,
) -> SignedDuration {
    let mut max = SignedDuration::from_secs(i64::from(policy.max_jitter_seconds));
    if let Some(end) = window_end {
        max = max.min(end.duration_since(at) / 2);
    }
    jitter.clamp(SignedDuration::ZERO, max.max(SignedDuration::ZERO))
}

/// The zones a person may be in by their reference alone: their number's (libphonenumber's
/// zones for its prefix), or their user id's country's; empty when neither says.
pub fn candidate_zones(to: &ContactRef) -> (Cow<'_, [IanaZone]>, ZoneBasis) {
    match to {
        ContactRef::Phone(p) => {
            let facts = p.facts();
            (Cow::Borrowed(facts.iana_zones.as_slice()), ZoneBasis::PhonePrefix { precision: facts.zones.precision })
        }
        ContactRef::User(u) => {
            let zones = crate::zone::zones_for_region(u.region()).zones;
            (Cow::Owned(zones.iter().filter_map(|z| IanaZone::parse(z).ok()).collect()), ZoneBasis::UserIdCountry)
        }
    }
}

/// Which zone(s) quiet hours are evaluated in for a recipient, resolved once per decision.
struct QuietPlan<'a> {
    /// The jurisdiction's hours for the number (the policy's).
    jurisdiction: &'a SendingHours,
    /// The contact's own quiet hours: they narrow the jurisdiction's window, never widen it.
    own: Option<SendingHours>,
    zones: Vec<IanaZone>,
    basis: ZoneBasis,
    /// The zone to fall back to when several zones have no long-enough common window.
    primary: Option<IanaZone>,
    min_window: SignedDuration,
}

impl<'a> QuietPlan<'a> {
    fn new(msg: &Outbound, r: &Recipient, policy: &'a Policy) -> Self {
        let jurisdiction = policy.hours_for(&msg.to, None);
        let own = r.quiet_hours.map(SendingHours::from_quiet);
        let primary = msg.to.main_region().and_then(|region| policy.primary_zones.get(&region)).cloned();
        let min_window = SignedDuration::from_mins(i64::from(policy.min_common_window_minutes));
        let (candidates, basis) = candidate_zones(&msg.to);
        let (zones, basis) = if let Some(z) = &r.timezone {
            (vec![z.clone()], ZoneBasis::Contact)
        } else {
            match (&primary, candidates.is_empty()) {
                (_, false) => (candidates.into_owned(), basis),
                (Some(p), true) => (vec![p.clone()], ZoneBasis::CountryPrimary { candidates: 0 }),
                (None, true) => (vec![policy.fallback_zone.clone()], ZoneBasis::Fallback),
            }
        };
        Self { jurisdiction, own, zones, basis, primary, min_window }
    }

    /// The next instant the recipient's window is open at or after `t`, the instant it
    /// closes, and the zones assumed.
    fn next_open(&self, t: Timestamp) -> Option<(Timestamp, Option<Timestamp>, ZoneAssumption)> {
        let assumption = |zones: &[IanaZone], basis: ZoneBasis| ZoneAssumption {
            zones: zones.iter().map(|z| z.name().to_owned()).collect(),
            basis,
        };
        let tzs: Vec<&jiff::tz::TimeZone> = self.zones.iter().map(IanaZone::tz).collect();
        let min = if tzs.len() > 1 { self.min_window } else { SignedDuration::ZERO };
        let both;
        let hours: &[&SendingHours] = match &self.own {
            Some(own) => {
                both = [self.jurisdiction, own];
                &both
            }
            None => std::slice::from_ref(&self.jurisdiction),
        };
        if let Some((open, end)) = common_window(t, &tzs, hours, min) {
            return Some((open, end, assumption(&self.zones, self.basis.clone())));
        }
        let primary = self.primary.as_ref()?;
        let (open, end) = common_window(t, &[primary.tz()], hours, SignedDuration::ZERO)?;
        let basis = ZoneBasis::CountryPrimary { candidates: self.zones.len() };
        Some((open, end, assumption(std::slice::from_ref(primary), basis)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::SentRecord;
    use crate::consent::{ConsentEvent, ConsentSource};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn reason_names_are_the_serialised_names() {
        use DeferReason as D;
        use SuppressReason as S;
        for d in [D::QuietHours, D::FrequencyCap, D::PairRate, D::RateLimited, D::GraphApiUnavailable] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        for r in
            [S::Erased, S::Blocked, S::Undeliverable, S::NoConsent, S::OptedOut, S::DestinationBlocked, S::WindowClosed]
        {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    fn consent(category: ConsentCategory, status: ConsentStatus) -> ConsentState {
        let e = ConsentEvent::from_business(
            &crate::WaId::parse(NY).unwrap(),
            category,
            status,
            ConsentSource::business("test").unwrap(),
            None,
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        ConsentState::fold([&e])
    }

    fn opted_in_marketing() -> Recipient {
        Recipient { consent: consent(ConsentCategory::Marketing, ConsentStatus::OptedIn), ..Recipient::default() }
    }

    fn msg(to: &str, category: Category) -> Outbound {
        Outbound { to: ContactRef::parse(to).unwrap(), category, free_form: false, expires_at: None }
    }

    const NY: &str = "+12125551234"; // America/New_York by area code
    const NOON_NY: &str = "2026-06-10T16:00:00Z";
    const LATE_NY: &str = "2026-06-11T02:00:00Z"; // 22:00 EDT

    fn decide0(m: &Outbound, r: &Recipient, now: &str) -> GateOutcome {
        decide(m, r, &Policy::default(), t(now), SignedDuration::ZERO)
    }

    #[test]
    fn an_erased_stored_contact_is_suppressed_even_with_a_stale_opt_in() {
        let mut stored = crate::contact::ContactRecord::new(ContactRef::parse(NY).unwrap());
        stored.consent = consent(ConsentCategory::Marketing, ConsentStatus::OptedIn);
        stored.erased = true;
        let r = Recipient::from_contact(Some(&stored), SendHistory::default());
        assert_eq!(
            decide0(&msg(NY, Category::Marketing), &r, NOON_NY).decision,
            Decision::Suppress { reason: SuppressReason::Erased }
        );
        let unknown = Recipient::from_contact(None, SendHistory::default());
        assert_eq!(
            decide0(&msg(NY, Category::Marketing), &unknown, NOON_NY).decision,
            Decision::Suppress { reason: SuppressReason::NoConsent }
        );
    }

    #[test]
    fn consented_marketing_message_in_daytime_is_sent() {
        let out = decide0(&msg(NY, Category::Marketing), &opted_in_marketing(), NOON_NY);
        assert_eq!(out.decision, Decision::Send);
        let zone = out.zone.unwrap();
        assert_eq!(zone.zones, ["America/New_York"]);
        assert_eq!(zone.basis, ZoneBasis::PhonePrefix { precision: crate::zone::PrefixPrecision::Area });
    }

    #[test]
    fn a_person_known_only_by_user_id_is_placed_by_its_country_and_gets_no_one_time_code() {
        const BR_USER: &str = "BR.13491208655302741918";
        // 15:00 in Brasília is daytime in every Brazilian zone: sent, under all of them.
        let out = decide0(&msg(BR_USER, Category::Marketing), &opted_in_marketing(), "2026-06-10T18:00:00Z");
        assert_eq!(out.decision, Decision::Send);
        let zone = out.zone.unwrap();
        assert_eq!(zone.basis, ZoneBasis::UserIdCountry);
        assert!(
            zone.zones.iter().any(|z| z == "America/Sao_Paulo") && zone.zones.iter().any(|z| z == "America/Manaus")
        );
        // 07:30 in São Paulo is quiet; and 08:00 in São Paulo is 07:00 in Manaus: the window
        // opens when it is 08:00 everywhere the person may be.
        let early = decide0(&msg(BR_USER, Category::Marketing), &opted_in_marketing(), "2026-06-10T10:30:00Z");
        match early.decision {
            Decision::Defer { until, reason: DeferReason::QuietHours } => {
                assert!(until >= t("2026-06-10T12:00:00Z"), "{until}");
            }
            other => panic!("{other:?}"),
        }
        // Meta refuses authentication templates to a user id (131062): suppressed, not burnt.
        let code = decide0(&msg(BR_USER, Category::Authentication), &opted_in_marketing(), "2026-06-10T18:00:00Z");
        assert_eq!(code.decision, Decision::Suppress { reason: SuppressReason::NeedsPhoneNumber });
        assert_eq!(SuppressReason::NeedsPhoneNumber.as_str(), "needs_phone_number");
        // A destination block by calling code covers the country's user ids too.
        let policy = Policy {
            blocked_destinations: vec![DestinationBlock { category: Category::Marketing, prefix: "+1".into() }],
            ..Policy::default()
        };
        let us = msg("US.13491208655302741918", Category::Marketing);
        let blocked = decide(&us, &opted_in_marketing(), &policy, t(NOON_NY), SignedDuration::ZERO);
        assert_eq!(blocked.decision, Decision::Suppress { reason: SuppressReason::DestinationBlocked });
        let brazil = decide(
            &msg(BR_USER, Category::Marketing),
            &opted_in_marketing(),
            &policy,
            t("2026-06-10T18:00:00Z"),
            SignedDuration::ZERO,
        );
        assert_eq!(brazil.decision, Decision::Send);
    }

    #[test]
    fn expired_message_expires_before_anything_else_is_checked() {
        let mut m = msg(NY, Category::Marketing);
        m.expires_at = Some(t(NOON_NY));
        let r = Recipient { erased: true, ..Recipient::default() };
        assert_eq!(decide0(&m, &r, NOON_NY).decision, Decision::Expire);
    }

    #[test]
    fn marketing_without_consent_is_suppressed_no_consent() {
        let out = decide0(&msg(NY, Category::Marketing), &Recipient::default(), NOON_NY);
        assert_eq!(out.decision, Decision::Suppress { reason: SuppressReason::NoConsent });
    }

    #[test]
    fn marketing_after_opt_out_is_suppressed_opted_out() {
        let r =
            Recipient { consent: consent(ConsentCategory::Marketing, ConsentStatus::OptedOut), ..Recipient::default() };
        let out = decide0(&msg(NY, Category::Marketing), &r, NOON_NY);
        assert_eq!(out.decision, Decision::Suppress { reason: SuppressReason::OptedOut });
    }

    #[test]
    fn erased_blocked_and_undeliverable_recipients_are_suppressed() {
        let base = opted_in_marketing();
        let cases = [
            (Recipient { erased: true, ..base.clone() }, SuppressReason::Erased),
            (Recipient { blocked: true, ..base.clone() }, SuppressReason::Blocked),
            (
                Recipient { undeliverable_until: Some(t("2026-06-20T00:00:00Z")), ..base.clone() },
                SuppressReason::Undeliverable,
            ),
        ];
        for (r, reason) in cases {
            assert_eq!(decide0(&msg(NY, Category::Marketing), &r, NOON_NY).decision, Decision::Suppress { reason });
        }
        let healed = Recipient { undeliverable_until: Some(t("2026-06-01T00:00:00Z")), ..base };
        assert_eq!(decide0(&msg(NY, Category::Marketing), &healed, NOON_NY).decision, Decision::Send);
    }

    #[test]
    fn utility_is_allowed_by_utility_or_marketing_consent_but_not_after_a_utility_opt_out() {
        let m = msg(NY, Category::Utility);
        assert_eq!(decide0(&m, &opted_in_marketing(), NOON_NY).decision, Decision::Send);
        let utility =
            Recipient { consent: consent(ConsentCategory::Utility, ConsentStatus::OptedIn), ..Recipient::default() };
        assert_eq!(decide0(&m, &utility, NOON_NY).decision, Decision::Send);
        let mut both = opted_in_marketing();
        both.consent.utility = consent(ConsentCategory::Utility, ConsentStatus::OptedOut).utility;
        assert_eq!(decide0(&m, &both, NOON_NY).decision, Decision::Suppress { reason: SuppressReason::OptedOut });
    }

    #[test]
    fn authentication_needs_any_consent_and_never_waits_for_quiet_hours() {
        let m = msg(NY, Category::Authentication);
        let utility =
            Recipient { consent: consent(ConsentCategory::Utility, ConsentStatus::OptedIn), ..Recipient::default() };
        assert_eq!(decide0(&m, &utility, LATE_NY).decision, Decision::Send);
        assert_eq!(
            decide0(&m, &Recipient::default(), LATE_NY).decision,
            Decision::Suppress { reason: SuppressReason::NoConsent }
        );
    }

    #[test]
    fn service_messages_need_an_open_window() {
        let m = msg(NY, Category::Service);
        let open = Recipient { last_inbound_at: Some(t("2026-06-10T10:00:00Z")), ..Recipient::default() };
        assert_eq!(decide0(&m, &open, NOON_NY).decision, Decision::Send);
        let closed = Recipient { last_inbound_at: Some(t("2026-06-09T15:59:59Z")), ..Recipient::default() };
        assert_eq!(decide0(&m, &closed, NOON_NY).decision, Decision::Suppress { reason: SuppressReason::WindowClosed });
    }

    #[test]
    fn a_stop_opens_no_window_for_service_messages_until_the_person_writes_again() {
        // The STOP message itself is an inbound message: it must not license a reply offer.
        let stop_at = t("2026-06-10T15:59:57Z");
        let stop = crate::consent::ConsentEvent::from_keyword(
            crate::consent::KeywordIntent::OptOut,
            "wamid.STOP",
            stop_at,
            stop_at,
        );
        let mut r =
            Recipient { consent: ConsentState::fold(&stop), last_inbound_at: Some(stop_at), ..Recipient::default() };
        for free_form in [false, true] {
            let m = Outbound { free_form, ..msg(NY, Category::Service) };
            assert_eq!(
                decide0(&m, &r, NOON_NY).decision,
                Decision::Suppress { reason: SuppressReason::OptedOut },
                "free_form {free_form}"
            );
        }
        // The person writes again after the STOP: they are talking to the business.
        r.last_inbound_at = Some(t("2026-06-10T15:59:59Z"));
        assert_eq!(decide0(&msg(NY, Category::Service), &r, NOON_NY).decision, Decision::Send);
        // A marketing-only opt-out (the "Stop promotions" button) never closed the window.
        let button = crate::consent::ConsentEvent::from_button("wamid.TAP", stop_at, stop_at);
        let tapped = Recipient {
            consent: ConsentState::fold([&button]),
            last_inbound_at: Some(stop_at),
            ..Recipient::default()
        };
        assert_eq!(decide0(&msg(NY, Category::Service), &tapped, NOON_NY).decision, Decision::Send);
    }

    #[test]
    fn an_undeliverable_mark_never_blocks_a_service_reply_inside_an_open_window() {
        let r = Recipient {
            undeliverable_until: Some(t("2026-07-01T00:00:00Z")),
            last_inbound_at: Some(t("2026-06-10T15:00:00Z")),
            ..opted_in_marketing()
        };
        assert_eq!(decide0(&msg(NY, Category::Service), &r, NOON_NY).decision, Decision::Send);
        assert_eq!(
            decide0(&msg(NY, Category::Marketing), &r, NOON_NY).decision,
            Decision::Suppress { reason: SuppressReason::Undeliverable }
        );
    }

    #[test]
    fn free_form_text_needs_the_24h_window_even_with_consent() {
        let mut m = msg(NY, Category::Utility);
        m.free_form = true;
        let mut r = opted_in_marketing();
        assert_eq!(decide0(&m, &r, NOON_NY).decision, Decision::Suppress { reason: SuppressReason::WindowClosed });
        r.last_inbound_at = Some(t("2026-06-10T09:00:00Z"));
        assert_eq!(decide0(&m, &r, NOON_NY).decision, Decision::Send);
    }

    #[test]
    fn marketing_to_blocked_destinations_is_suppressed() {
        let policy = Policy {
            blocked_destinations: vec![DestinationBlock { category: Category::Marketing, prefix: "+1".into() }],
            ..Policy::default()
        };
        let out =
            decide(&msg(NY, Category::Marketing), &opted_in_marketing(), &policy, t(NOON_NY), SignedDuration::ZERO);
        assert_eq!(out.decision, Decision::Suppress { reason: SuppressReason::DestinationBlocked });
        let utility =
            decide(&msg(NY, Category::Utility), &opted_in_marketing(), &policy, t(NOON_NY), SignedDuration::ZERO);
        assert_eq!(utility.decision, Decision::Send);
    }

    #[test]
    fn marketing_message_is_deferred_until_8am_local_time() {
        let out = decide0(&msg(NY, Category::Marketing), &opted_in_marketing(), LATE_NY);
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T12:00:00Z"), reason: DeferReason::QuietHours });
    }

    #[test]
    fn quiet_hours_deferral_gets_the_callers_jitter_within_policy_bounds() {
        let policy = Policy::default();
        let r = opted_in_marketing();
        let m = msg(NY, Category::Marketing);
        let out = decide(&m, &r, &policy, t(LATE_NY), SignedDuration::from_secs(90));
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T12:01:30Z"), reason: DeferReason::QuietHours });
        let capped = decide(&m, &r, &policy, t(LATE_NY), SignedDuration::from_hours(5));
        assert_eq!(
            capped.decision,
            Decision::Defer { until: t("2026-06-11T12:10:00Z"), reason: DeferReason::QuietHours }
        );
    }

    #[test]
    fn the_contacts_own_zone_and_quiet_hours_win() {
        let mut r = opted_in_marketing();
        r.timezone = Some(IanaZone::parse("Europe/Lisbon").unwrap());
        // 16:00Z is 17:00 in Lisbon; the contact's quiet hours start at 17:00.
        r.quiet_hours = Some(QuietHours { start: "17:00".parse().unwrap(), end: "09:00".parse().unwrap() });
        let out = decide0(&msg(NY, Category::Marketing), &r, NOON_NY);
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T08:00:00Z"), reason: DeferReason::QuietHours });
        assert_eq!(out.zone.unwrap().basis, ZoneBasis::Contact);
    }

    #[test]
    fn a_contacts_own_quiet_hours_narrow_the_jurisdictions_window_but_never_widen_it() {
        let mut r = opted_in_marketing();
        // Quiet only 23:00–06:00: wider open hours than the number's own 21:00–08:00.
        r.quiet_hours = Some(QuietHours { start: "23:00".parse().unwrap(), end: "06:00".parse().unwrap() });
        // 07:00 EDT: the contact would take it, the jurisdiction says not before 08:00.
        let out = decide0(&msg(NY, Category::Marketing), &r, "2026-06-10T11:00:00Z");
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-10T12:00:00Z"), reason: DeferReason::QuietHours });
        // 22:00 EDT: the same, the other end of the day.
        let out = decide0(&msg(NY, Category::Marketing), &r, LATE_NY);
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T12:00:00Z"), reason: DeferReason::QuietHours });
        // Narrower hours of the contact's own still hold: quiet from 17:00 at 17:30 EDT.
        r.quiet_hours = Some(QuietHours { start: "17:00".parse().unwrap(), end: "09:00".parse().unwrap() });
        let out = decide0(&msg(NY, Category::Marketing), &r, "2026-06-10T21:30:00Z");
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T13:00:00Z"), reason: DeferReason::QuietHours });
    }

    #[test]
    fn a_dial_prefix_override_beats_the_region_override() {
        // Florida (305) 08:00–20:00 is stricter than the US rule.
        let florida: SendingHours = serde_json::from_str(r#"{"quiet":{"start":"20:00","end":"08:00"}}"#).unwrap();
        let us: SendingHours = serde_json::from_str(r#"{"quiet":{"start":"22:00","end":"08:00"}}"#).unwrap();
        let policy = Policy {
            hours_overrides: [("+1305".to_owned(), florida.clone()), ("US".to_owned(), us.clone())].into(),
            ..Policy::default()
        };
        assert_eq!(policy.hours_for(&ContactRef::parse("+13055551234").unwrap(), None), &florida);
        assert_eq!(policy.hours_for(&ContactRef::parse("+12125551234").unwrap(), None), &us);
        assert_eq!(policy.hours_for(&ContactRef::parse("+5511987654321").unwrap(), None), &SendingHours::default());
        // 20:30 EDT in Miami: quiet for Florida.
        let out = decide(
            &msg("+13055551234", Category::Marketing),
            &opted_in_marketing(),
            &policy,
            t("2026-06-11T00:30:00Z"),
            SignedDuration::ZERO,
        );
        assert!(matches!(out.decision, Decision::Defer { reason: DeferReason::QuietHours, .. }));
    }

    #[test]
    fn multi_zone_numbers_wait_for_the_window_common_to_every_zone() {
        // An Australian mobile may be in Perth (UTC+8) or Sydney (UTC+10 in June)… and Lord
        // Howe, Eucla, Christmas and Cocos islands. 22:00Z = 08:00 Sydney but 06:00 Perth.
        let out = decide0(&msg("+61412345678", Category::Marketing), &opted_in_marketing(), "2026-06-10T22:00:00Z");
        let Decision::Defer { until, reason } = out.decision else { panic!("{:?}", out.decision) };
        assert_eq!(reason, DeferReason::QuietHours);
        assert_eq!(until, t("2026-06-11T01:30:00Z"), "08:00 on the Cocos Islands (UTC+06:30) is the last to open");
        let zone = out.zone.unwrap();
        assert_eq!(zone.zones.len(), 8);
        assert_eq!(zone.basis, ZoneBasis::PhonePrefix { precision: crate::zone::PrefixPrecision::Country });
    }

    #[test]
    fn russian_mobiles_fall_back_to_the_countrys_primary_zone() {
        // +7 mobiles span UTC+2…+12: the common window is too short, so Moscow is assumed.
        let out = decide0(&msg("+79161234567", Category::Marketing), &opted_in_marketing(), "2026-06-10T03:00:00Z");
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-10T05:00:00Z"), reason: DeferReason::QuietHours });
        let zone = out.zone.unwrap();
        assert_eq!(zone.zones, ["Europe/Moscow"]);
        assert_eq!(zone.basis, ZoneBasis::CountryPrimary { candidates: 16 });
    }

    #[test]
    fn numbers_without_a_known_zone_use_the_primary_zone_then_the_fallback() {
        let out = decide0(&msg("+447700900123", Category::Marketing), &opted_in_marketing(), NOON_NY);
        assert_eq!(
            out.zone.unwrap(),
            ZoneAssumption { zones: vec!["Europe/London".into()], basis: ZoneBasis::CountryPrimary { candidates: 0 } }
        );
        let policy = Policy { primary_zones: BTreeMap::new(), ..Policy::default() };
        let out = decide(
            &msg("+447700900123", Category::Marketing),
            &opted_in_marketing(),
            &policy,
            t(NOON_NY),
            SignedDuration::ZERO,
        );
        assert_eq!(out.zone.unwrap().basis, ZoneBasis::Fallback);
    }

    #[test]
    fn third_marketing_message_in_seven_days_is_deferred_by_the_cap_not_dropped() {
        let mut r = opted_in_marketing();
        r.sends.sends = vec![
            SentRecord { category: Category::Marketing, at: t("2026-06-08T15:00:00Z") },
            SentRecord { category: Category::Marketing, at: t("2026-06-09T15:00:00Z") },
        ];
        let out = decide0(&msg(NY, Category::Marketing), &r, NOON_NY);
        assert_eq!(
            out.decision,
            Decision::Defer { until: t("2026-06-15T15:00:00Z"), reason: DeferReason::FrequencyCap }
        );
    }

    #[test]
    fn a_cap_deferral_past_expiry_expires() {
        let mut r = opted_in_marketing();
        r.sends.sends = vec![
            SentRecord { category: Category::Marketing, at: t("2026-06-08T15:00:00Z") },
            SentRecord { category: Category::Marketing, at: t("2026-06-09T15:00:00Z") },
        ];
        let mut m = msg(NY, Category::Marketing);
        m.expires_at = Some(t("2026-06-12T00:00:00Z"));
        assert_eq!(decide0(&m, &r, NOON_NY).decision, Decision::Expire);
    }

    #[test]
    fn a_cap_that_frees_at_night_waits_for_the_morning_too() {
        // The cap frees at 03:00 NY time; quiet hours then hold it until 08:00.
        let mut r = opted_in_marketing();
        r.sends.sends = vec![
            SentRecord { category: Category::Marketing, at: t("2026-06-04T07:00:00Z") },
            SentRecord { category: Category::Marketing, at: t("2026-06-05T07:00:00Z") },
        ];
        let out = decide0(&msg(NY, Category::Marketing), &r, NOON_NY);
        assert_eq!(
            out.decision,
            Decision::Defer { until: t("2026-06-11T12:00:00Z"), reason: DeferReason::FrequencyCap }
        );
    }

    #[test]
    fn two_sends_to_one_recipient_keep_pair_rate_spacing() {
        let mut r = opted_in_marketing();
        r.sends.sends = vec![SentRecord { category: Category::Utility, at: t("2026-06-10T15:59:58Z") }];
        let out = decide0(&msg(NY, Category::Utility), &r, NOON_NY);
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-10T16:00:04Z"), reason: DeferReason::PairRate });
    }

    #[test]
    fn pair_spacing_and_caps_are_never_jittered() {
        // Jitter spreads a crowd released at 08:00; a 6 s spacing must stay 6 s (an OTP right
        // after another message would otherwise wait up to ten minutes).
        let mut r = opted_in_marketing();
        r.sends.sends = vec![SentRecord { category: Category::Utility, at: t("2026-06-10T15:59:58Z") }];
        let jitter = SignedDuration::from_secs(600);
        for category in [Category::Utility, Category::Authentication] {
            let out = decide(&msg(NY, category), &r, &Policy::default(), t(NOON_NY), jitter);
            assert_eq!(
                out.decision,
                Decision::Defer { until: t("2026-06-10T16:00:04Z"), reason: DeferReason::PairRate },
                "{category:?}"
            );
        }
        r.sends.sends = vec![
            SentRecord { category: Category::Marketing, at: t("2026-06-05T14:00:00Z") },
            SentRecord { category: Category::Marketing, at: t("2026-06-09T12:00:00Z") },
        ];
        let out = decide(&msg(NY, Category::Marketing), &r, &Policy::default(), t(NOON_NY), jitter);
        assert_eq!(
            out.decision,
            Decision::Defer { until: t("2026-06-12T14:00:00Z"), reason: DeferReason::FrequencyCap }
        );
    }

    #[test]
    fn authentication_is_never_jittered_even_when_a_policy_makes_it_wait_for_quiet_hours() {
        let policy = Policy { quiet_categories: vec![Category::Authentication], ..Policy::default() };
        let out = decide(
            &msg(NY, Category::Authentication),
            &opted_in_marketing(),
            &policy,
            t(LATE_NY),
            SignedDuration::from_secs(300),
        );
        assert_eq!(out.decision, Decision::Defer { until: t("2026-06-11T12:00:00Z"), reason: DeferReason::QuietHours });
    }

    #[test]
    fn policy_reads_from_json_with_defaults_and_rejects_unknown_keys() {
        let p: Policy = serde_json::from_str(
            r#"{"hours_overrides":{"BR":{"allowed":[{"days":"mon-fri","start":"08:00","end":"18:00"}]}},
                "caps":[{"category":"marketing","max":1,"window_hours":24}]}"#,
        )
        .unwrap();
        assert_eq!(p.caps, vec![FrequencyCap { category: Category::Marketing, max: 1, window_hours: 24 }]);
        assert_eq!(p.pair_spacing_seconds, 6);
        assert!(serde_json::from_str::<Policy>(r#"{"quiet_hourz":{}}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"fallback_zone":"Mars/Base"}"#).is_err());
    }
}
