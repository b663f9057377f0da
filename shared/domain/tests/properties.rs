//! Property tests: the rules hold for every input, not just the examples.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use polite_domain::caps::{SendHistory, SentRecord};
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};
use polite_domain::gate::{Decision, Outbound, Policy, Recipient, decide};
use polite_domain::hours::{Days, LocalTime, QuietHours, SendingHours, Window};
use polite_domain::message::DeferReason;
use polite_domain::message::{Category, MessageState, StatusValue, Transition};
use polite_domain::{IanaZone, WaId};
use proptest::prelude::*;

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "America/Sao_Paulo",
    "America/St_Johns",
    "America/Santiago",
    "Europe/Lisbon",
    "Europe/Moscow",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
];

const NUMBERS: &[&str] = &[
    "+12125551234",   // New York
    "+18085551234",   // Honolulu
    "+5511987654321", // São Paulo mobile
    "+61412345678",   // Australian mobile: 8 zones
    "+79161234567",   // Russian mobile: 16 zones, falls back to Moscow
    "+447700900123",  // unknown zone
    "+351912345678",  // Portugal
    "+919812345678",  // India
];

/// Instants across 2026–2027, so DST transitions everywhere are covered.
fn instant() -> impl Strategy<Value = Timestamp> {
    (1_767_225_600i64..1_830_297_600).prop_map(|s| Timestamp::from_second(s).unwrap())
}

fn local_time() -> impl Strategy<Value = LocalTime> {
    (0i8..24, 0i8..60).prop_map(|(h, m)| LocalTime::hm(h, m).unwrap())
}

fn window() -> impl Strategy<Value = Window> {
    (1u8..128, local_time(), local_time()).prop_map(|(bits, start, end)| {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days: Vec<&str> = (0..7).filter(|i| bits & (1 << i) != 0).map(|i| names[i]).collect();
        Window { days: days.join(",").parse::<Days>().unwrap(), start, end }
    })
}

fn hours() -> impl Strategy<Value = SendingHours> {
    prop_oneof![
        (local_time(), local_time()).prop_map(|(start, end)| SendingHours::from_quiet(QuietHours { start, end })),
        prop::collection::vec(window(), 1..4).prop_map(|w| SendingHours::allowed(w).unwrap()),
    ]
}

fn zone() -> impl Strategy<Value = TimeZone> {
    prop::sample::select(ZONES).prop_map(|z| TimeZone::get(z).unwrap())
}

fn status() -> impl Strategy<Value = StatusValue> {
    prop::sample::select(vec![
        StatusValue::Sent,
        StatusValue::Delivered,
        StatusValue::Read,
        StatusValue::Played,
        StatusValue::Failed,
        StatusValue::Other("deleted".into()),
    ])
}

fn consent_event() -> impl Strategy<Value = ConsentEvent> {
    // Few distinct times, so ties are common.
    (any::<bool>(), any::<bool>(), 0i64..4, 0u8..3).prop_map(|(marketing, out, hour, source)| {
        let category = if marketing { ConsentCategory::Marketing } else { ConsentCategory::Utility };
        let status = if out { ConsentStatus::OptedOut } else { ConsentStatus::OptedIn };
        let at = Timestamp::from_second(1_780_000_000 + hour * 3600).unwrap();
        let source = ConsentSource::business(["crm", "web", "store"][usize::from(source)]).unwrap();
        ConsentEvent::from_business(&WaId::parse("+5511987654321").unwrap(), category, status, source, None, at, at)
            .unwrap()
    })
}

fn consent_state() -> impl Strategy<Value = ConsentState> {
    prop::collection::vec(consent_event(), 0..4).prop_map(|events| ConsentState::fold(&events))
}

fn allowed_in_all(hours: &SendingHours, t: Timestamp, zones: &[String]) -> bool {
    zones.iter().all(|z| hours.allows(t, IanaZone::parse(z).unwrap().tz()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn next_allowed_instant_is_allowed_not_before_now_and_the_earliest(h in hours(), tz in zone(), now in instant()) {
        let next = h.next_allowed(now, &tz).expect("windows built by the constructors always open");
        prop_assert!(next >= now);
        prop_assert!(h.allows(next, &tz), "{next} is inside quiet hours");
        if next > now {
            let before = next - SignedDuration::from_secs(1);
            prop_assert!(before < now || !h.allows(before, &tz), "{before} was already allowed");
        }
    }

    #[test]
    fn allowed_until_is_the_first_quiet_instant(h in hours(), tz in zone(), now in instant()) {
        let open = h.next_allowed(now, &tz).unwrap();
        if let Some(close) = h.allowed_until(open, &tz) {
            prop_assert!(close > open);
            prop_assert!(!h.allows(close, &tz));
            prop_assert!(h.allows(close - SignedDuration::from_secs(1), &tz));
        }
    }

    #[test]
    fn the_gate_never_sends_in_quiet_hours_or_without_consent(
        policy_hours in hours(),
        contact_quiet in prop::option::of((local_time(), local_time())),
        contact_zone in prop::option::of(prop::sample::select(ZONES)),
        number in prop::sample::select(NUMBERS),
        category in prop::sample::select(vec![Category::Marketing, Category::Utility, Category::Authentication, Category::Service]),
        free_form in any::<bool>(),
        consent in consent_state(),
        last_inbound_hours_ago in prop::option::of(0i64..72),
        sends_hours_ago in prop::collection::vec(0i64..400, 0..4),
        now in instant(),
        jitter_s in 0i64..3600,
    ) {
        let policy = Policy { default_hours: policy_hours.clone(), ..Policy::default() };
        let quiet_hours = contact_quiet.map(|(start, end)| QuietHours { start, end });
        let recipient = Recipient {
            consent: consent.clone(),
            timezone: contact_zone.map(|z| IanaZone::parse(z).unwrap()),
            quiet_hours,
            last_inbound_at: last_inbound_hours_ago.map(|h| now - SignedDuration::from_hours(h)),
            sends: SendHistory {
                version: 0,
                sends: sends_hours_ago.iter().map(|h| SentRecord { category, at: now - SignedDuration::from_hours(*h) }).collect(),
            },
            ..Recipient::default()
        };
        let msg = Outbound { to: WaId::parse(number).unwrap().into(), category, free_form, expires_at: None };
        let out = decide(&msg, &recipient, &policy, now, SignedDuration::from_secs(jitter_s));
        let hours = quiet_hours.map_or(policy_hours, SendingHours::from_quiet);
        let quiet_applies = matches!(category, Category::Marketing | Category::Utility);
        match out.decision {
            Decision::Send => {
                let consented = match category {
                    Category::Marketing => consent.is_opted_in(ConsentCategory::Marketing),
                    Category::Utility => consent.status(ConsentCategory::Utility) != Some(ConsentStatus::OptedOut)
                        && (consent.is_opted_in(ConsentCategory::Utility) || consent.is_opted_in(ConsentCategory::Marketing)),
                    Category::Authentication => consent.is_opted_in(ConsentCategory::Marketing) || consent.is_opted_in(ConsentCategory::Utility),
                    Category::Service => recipient.window_open(now),
                };
                prop_assert!(consented, "sent without consent");
                if free_form { prop_assert!(recipient.window_open(now), "free-form sent with the window closed"); }
                if quiet_applies {
                    let zone = out.zone.expect("quiet hours decisions record the zone");
                    prop_assert!(allowed_in_all(&hours, now, &zone.zones), "sent in quiet hours in {:?}", zone.zones);
                }
            }
            Decision::Defer { until, reason } => {
                prop_assert!(until > now);
                if quiet_applies {
                    let zone = out.zone.expect("quiet hours decisions record the zone");
                    prop_assert!(allowed_in_all(&hours, until, &zone.zones), "deferred into quiet hours");
                } else {
                    prop_assert_ne!(reason, DeferReason::QuietHours);
                }
            }
            Decision::Suppress { .. } | Decision::Expire => {}
        }
    }

    #[test]
    fn any_permutation_of_statuses_with_duplicates_ends_in_the_same_state_and_counts(
        statuses in prop::collection::vec(status(), 0..12),
        seed in any::<u64>(),
    ) {
        let shuffled = shuffle(&statuses, seed);
        let (a, moves_a) = apply_all(&statuses);
        let (b, moves_b) = apply_all(&shuffled);
        prop_assert_eq!(a, b);
        // Counters: each move takes one from `from` and adds one to `to`; the net effect of
        // any order is one message moved from `sending` to the final state.
        prop_assert_eq!(net_counts(&moves_a), net_counts(&moves_b));
        let distinct: std::collections::HashSet<_> = statuses.iter().collect();
        prop_assert!(moves_a.len() <= distinct.len(), "a duplicate moved the state");
    }

    #[test]
    fn consent_fold_is_order_independent_and_idempotent(
        events in prop::collection::vec(consent_event(), 0..10),
        seed in any::<u64>(),
    ) {
        let mut doubled = shuffle(&events, seed);
        doubled.extend(events.iter().cloned());
        prop_assert_eq!(ConsentState::fold(&events), ConsentState::fold(&shuffle(&doubled, seed ^ 0x9e37)));
    }
}

fn apply_all(statuses: &[StatusValue]) -> (MessageState, Vec<(MessageState, MessageState)>) {
    let mut state = MessageState::Sending;
    let mut moves = Vec::new();
    for s in statuses {
        if let Transition::Moved { from, to } = state.apply_status(s) {
            moves.push((from, to));
            state = to;
        }
    }
    (state, moves)
}

fn net_counts(moves: &[(MessageState, MessageState)]) -> std::collections::BTreeMap<MessageState, i32> {
    let mut counts = std::collections::BTreeMap::new();
    for (from, to) in moves {
        *counts.entry(*from).or_insert(0) -= 1;
        *counts.entry(*to).or_insert(0) += 1;
    }
    counts.retain(|_, v| *v != 0);
    counts
}

/// A deterministic Fisher–Yates shuffle (the seed comes from proptest, so failures shrink).
fn shuffle<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from(seed >> 33).unwrap() % (i + 1);
        out.swap(i, j);
    }
    out
}
