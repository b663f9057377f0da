//! [`ContactStore`] with its [`SendLog`]: the contacts table's contract, case by case. Each
//! case starts from an empty store; [`contact_store_contract!`] makes one test of each.

use jiff::{SignedDuration, Timestamp};
use polite_domain::caps::{Reservation, SentRecord};
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};
use polite_domain::contact::{ConsentAppend, ContactSettings};
use polite_domain::hours::QuietHours;
use polite_domain::message::Category;
use polite_domain::people::Observation;
use polite_domain::ports::{ContactStore, SendLog};
use polite_domain::{BusinessScopedUserId, ContactRef, IanaZone, WaId};

/// What the contract is about: the contacts table's store and send log.
pub trait Store: ContactStore + SendLog + Sync {}

impl<S: ContactStore + SendLog + Sync> Store for S {}

/// One test per case of the contract, each on a store of its own: `$fresh` is an async
/// closure making an empty store. Used by the fake's tests and the adapter's.
#[macro_export]
macro_rules! contact_store_contract {
    ($fresh:expr) => {
        #[tokio::test]
        async fn an_unknown_contact_reads_as_none() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::an_unknown_contact_reads_as_none(&store)).await;
        }
        #[tokio::test]
        async fn a_consent_event_is_recorded_and_becomes_the_current_state() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_consent_event_is_recorded_and_becomes_the_current_state(&store)).await;
        }
        #[tokio::test]
        async fn a_ledger_event_delivered_twice_is_recorded_once() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_ledger_event_delivered_twice_is_recorded_once(&store)).await;
        }
        #[tokio::test]
        async fn an_older_event_arriving_after_a_newer_one_is_kept_but_does_not_win() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::an_older_event_arriving_after_a_newer_one_is_kept_but_does_not_win(&store)).await;
        }
        #[tokio::test]
        async fn concurrent_events_for_one_contact_all_land_and_the_state_is_their_fold() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::concurrent_events_for_one_contact_all_land_and_the_state_is_their_fold(&store)).await;
        }
        #[tokio::test]
        async fn the_inbound_time_and_the_username_it_showed_never_move_backwards() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::the_inbound_time_and_the_username_it_showed_never_move_backwards(&store)).await;
        }
        #[tokio::test]
        async fn consent_changes_and_inbound_times_do_not_overwrite_each_other() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::consent_changes_and_inbound_times_do_not_overwrite_each_other(&store)).await;
        }
        #[tokio::test]
        async fn settings_are_stored_and_consent_still_applies_to_a_contact_created_by_them() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::settings_are_stored_and_consent_still_applies_to_a_contact_created_by_them(&store)).await;
        }
        #[tokio::test]
        async fn erasure_forgets_everything_but_that_the_number_was_erased() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::erasure_forgets_everything_but_that_the_number_was_erased(&store)).await;
        }
        #[tokio::test]
        async fn a_new_explicit_opt_in_after_erasure_lifts_the_tombstone() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_new_explicit_opt_in_after_erasure_lifts_the_tombstone(&store)).await;
        }
        #[tokio::test]
        async fn a_replayed_opt_in_from_before_the_erasure_does_not_lift_it() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_replayed_opt_in_from_before_the_erasure_does_not_lift_it(&store)).await;
        }
        #[tokio::test]
        async fn sends_are_reserved_once_per_message_and_read_back_within_the_window() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::sends_are_reserved_once_per_message_and_read_back_within_the_window(&store)).await;
        }
        #[tokio::test]
        async fn of_concurrent_reservations_on_one_history_exactly_one_wins_and_erasure_forgets_them() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::of_concurrent_reservations_on_one_history_exactly_one_wins_and_erasure_forgets_them(&store)).await;
        }
        #[tokio::test]
        async fn an_undeliverable_mark_is_kept_and_never_shortened_by_an_older_one() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::an_undeliverable_mark_is_kept_and_never_shortened_by_an_older_one(&store)).await;
        }
        #[tokio::test]
        async fn a_message_from_the_person_clears_an_undeliverable_mark() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_message_from_the_person_clears_an_undeliverable_mark(&store)).await;
        }
        #[tokio::test]
        async fn a_stop_by_user_id_reaches_the_phone_once_they_are_seen_together_and_replays_change_nothing() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_stop_by_user_id_reaches_the_phone_once_they_are_seen_together_and_replays_change_nothing(&store)).await;
        }
        #[tokio::test]
        async fn a_merge_carries_the_sends_over_and_a_sender_that_read_the_log_before_it_decides_again() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_merge_carries_the_sends_over_and_a_sender_that_read_the_log_before_it_decides_again(&store)).await;
        }
        #[tokio::test]
        async fn a_number_change_and_a_user_id_change_applied_at_once_leave_one_person() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_number_change_and_a_user_id_change_applied_at_once_leave_one_person(&store)).await;
        }
        #[tokio::test]
        async fn a_user_id_change_moves_the_opt_out_and_the_old_id_finds_no_one() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_user_id_change_moves_the_opt_out_and_the_old_id_finds_no_one(&store)).await;
        }
        #[tokio::test]
        async fn erasing_by_one_identity_erases_every_identity() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::erasing_by_one_identity_erases_every_identity(&store)).await;
        }
        #[tokio::test]
        async fn a_person_who_first_wrote_by_user_id_alone_is_linked_to_the_phone_they_show_later() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::contacts::a_person_who_first_wrote_by_user_id_alone_is_linked_to_the_phone_they_show_later(&store)).await;
        }
    };
}

/// Ana, by her phone number.
pub fn ana() -> ContactRef {
    ContactRef::parse("+5511987654321").unwrap()
}

/// A time in RFC 3339.
pub fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A business-side marketing capture for Ana at `at`.
pub fn capture(status: ConsentStatus, at: &str, evidence: &str) -> ConsentEvent {
    ConsentEvent::from_business(
        &ana(),
        ConsentCategory::Marketing,
        status,
        ConsentSource::business("web_checkout").unwrap(),
        Some(evidence.into()),
        t(at),
        t("2026-06-01T00:00:00Z"),
    )
    .unwrap()
}

fn opt_in_at(at: Timestamp) -> ConsentEvent {
    ConsentEvent::from_business(
        &ana(),
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        ConsentSource::business("web").unwrap(),
        None,
        at,
        at,
    )
    .unwrap()
}

/// Reserves a send the way the sender does: on the history it just read.
/// A case of the contract (see the module).
pub async fn reserve<S: Store>(store: &S, id: &str, sent: SentRecord) -> Reservation {
    let read = store.recent_sends(&ana(), t("2000-01-01T00:00:00Z")).await.unwrap();
    store.reserve_send(&ana(), id, sent, SignedDuration::from_hours(24 * 7), &read).await.unwrap()
}

/// Ana's business-scoped user id.
pub const ANA_USER: &str = "BR.13491208655302741918";

/// Ana, by her user id.
pub fn ana_user() -> ContactRef {
    ContactRef::parse(ANA_USER).unwrap()
}

/// A webhook showing `phone` and `user` together at `at`.
pub fn seen_together(phone: &str, user: &str, at: &str) -> Observation {
    Observation::Together {
        phone: Some(WaId::parse(phone).unwrap()),
        user: Some(BusinessScopedUserId::parse(user).unwrap()),
        parent: None,
        at: t(at),
    }
}

/// A marketing opt-out of `contact` at `at`.
pub fn stop_at(contact: &ContactRef, at: &str) -> ConsentEvent {
    ConsentEvent::from_business(
        contact,
        ConsentCategory::Marketing,
        ConsentStatus::OptedOut,
        ConsentSource::business("crm").unwrap(),
        None,
        t(at),
        t(at),
    )
    .unwrap()
}

/// A case of the contract (see the module).
pub async fn an_unknown_contact_reads_as_none<S: Store>(store: &S) {
    assert_eq!(store.get(&ana()).await.unwrap(), None);
}

/// A case of the contract (see the module).
pub async fn a_consent_event_is_recorded_and_becomes_the_current_state<S: Store>(store: &S) {
    let e = capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox");
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Recorded { changed: true });
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
    assert_eq!(contact.consent.marketing.unwrap().event_id, e.id);
}

/// A case of the contract (see the module).
pub async fn a_ledger_event_delivered_twice_is_recorded_once<S: Store>(store: &S) {
    let e = capture(ConsentStatus::OptedOut, "2026-05-01T10:00:00Z", "STOP");
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Recorded { changed: true });
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Duplicate);
    assert_eq!(store.consent_history(&ana()).await.unwrap(), vec![e]);
}

/// A case of the contract (see the module).
pub async fn an_older_event_arriving_after_a_newer_one_is_kept_but_does_not_win<S: Store>(store: &S) {
    let newer = capture(ConsentStatus::OptedOut, "2026-05-02T10:00:00Z", "STOP");
    let older = capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox");
    store.append_consent(&ana(), &newer).await.unwrap();
    assert_eq!(store.append_consent(&ana(), &older).await.unwrap(), ConsentAppend::Recorded { changed: false });
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    let history = store.consent_history(&ana()).await.unwrap();
    assert_eq!(history, vec![older, newer], "history is oldest first by event time");
}

/// A case of the contract (see the module).
pub async fn concurrent_events_for_one_contact_all_land_and_the_state_is_their_fold<S: Store>(store: &S) {
    let events: Vec<ConsentEvent> = (0..10)
        .map(|i| {
            let status = if i % 3 == 0 { ConsentStatus::OptedOut } else { ConsentStatus::OptedIn };
            let at = t("2026-05-01T10:00:00Z") + SignedDuration::from_mins(i * 7 % 10);
            ConsentEvent::from_business(
                &ana(),
                ConsentCategory::Marketing,
                status,
                ConsentSource::business("crm").unwrap(),
                Some(format!("e{i}")),
                at,
                at,
            )
            .unwrap()
        })
        .collect();
    let who = ana();
    let results = futures_util::future::join_all(events.iter().map(|e| store.append_consent(&who, e))).await;
    assert!(results.iter().all(|r| matches!(r, Ok(ConsentAppend::Recorded { .. }))), "{results:?}");
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.consent, ConsentState::fold(&events));
    assert_eq!(store.consent_history(&ana()).await.unwrap().len(), 10);
}

/// A case of the contract (see the module).
pub async fn the_inbound_time_and_the_username_it_showed_never_move_backwards<S: Store>(store: &S) {
    let seen = async || {
        let c = store.get(&ana()).await.unwrap().unwrap();
        (c.last_inbound_at, c.username)
    };
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z"), Some("@ana")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-01T10:00:00Z"), Some("@ana_old")).await.unwrap();
    assert_eq!(seen().await, (Some(t("2026-05-02T10:00:00Z")), Some("@ana".to_owned())));
    // A message without a username leaves the one known.
    store.record_inbound(&ana(), t("2026-05-03T10:00:00Z"), None).await.unwrap();
    assert_eq!(seen().await, (Some(t("2026-05-03T10:00:00Z")), Some("@ana".to_owned())));
    store.record_inbound(&ana(), t("2026-05-04T10:00:00Z"), Some("@ana_new")).await.unwrap();
    assert_eq!(seen().await, (Some(t("2026-05-04T10:00:00Z")), Some("@ana_new".to_owned())));
}

/// A case of the contract (see the module).
pub async fn consent_changes_and_inbound_times_do_not_overwrite_each_other<S: Store>(store: &S) {
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z"), None).await.unwrap();
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-03T10:00:00Z"), None).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
    assert_eq!(contact.last_inbound_at, Some(t("2026-05-03T10:00:00Z")));
}

/// A case of the contract (see the module).
pub async fn settings_are_stored_and_consent_still_applies_to_a_contact_created_by_them<S: Store>(store: &S) {
    let settings = ContactSettings {
        timezone: Some(IanaZone::parse("Europe/Lisbon").unwrap()),
        quiet_hours: Some(QuietHours { start: "20:00".parse().unwrap(), end: "09:00".parse().unwrap() }),
        locale: Some("pt_BR".into()),
    };
    let stored = store.update_settings(&ana(), &settings).await.unwrap();
    assert_eq!(stored.timezone, settings.timezone);
    assert_eq!(stored.quiet_hours, settings.quiet_hours);
    assert_eq!(stored.locale.as_deref(), Some("pt_BR"));
    let e = capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox");
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Recorded { changed: true });
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
    assert_eq!(contact.timezone, settings.timezone, "consent change kept the settings");
    let only_locale = ContactSettings { locale: Some("en_US".into()), ..ContactSettings::default() };
    let after = store.update_settings(&ana(), &only_locale).await.unwrap();
    assert_eq!((after.locale.as_deref(), after.timezone), (Some("en_US"), settings.timezone));
}

/// A case of the contract (see the module).
pub async fn erasure_forgets_everything_but_that_the_number_was_erased<S: Store>(store: &S) {
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z"), None).await.unwrap();
    store
        .update_settings(&ana(), &ContactSettings { locale: Some("pt_BR".into()), ..ContactSettings::default() })
        .await
        .unwrap();

    store.erase(&ana()).await.unwrap();

    let contact = store.get(&ana()).await.unwrap().expect("an erased number still reads, as erased");
    assert!(contact.erased);
    assert_eq!((contact.consent, contact.locale, contact.last_inbound_at), (ConsentState::default(), None, None));
    assert!(store.consent_history(&ana()).await.unwrap().is_empty());
}

/// A case of the contract (see the module).
pub async fn a_new_explicit_opt_in_after_erasure_lifts_the_tombstone<S: Store>(store: &S) {
    store.erase(&ana()).await.unwrap();
    store.append_consent(&ana(), &opt_in_at(Timestamp::now() + SignedDuration::from_mins(1))).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(!contact.erased);
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
}

/// A case of the contract (see the module).
pub async fn a_replayed_opt_in_from_before_the_erasure_does_not_lift_it<S: Store>(store: &S) {
    let before = Timestamp::now() - SignedDuration::from_hours(1);
    store.append_consent(&ana(), &opt_in_at(before)).await.unwrap();
    store.erase(&ana()).await.unwrap();
    // Meta (or the CRM) replays the old opt-in after the erasure.
    store.append_consent(&ana(), &opt_in_at(before)).await.unwrap();
    assert!(store.get(&ana()).await.unwrap().unwrap().erased);
}

/// A case of the contract (see the module).
pub async fn sends_are_reserved_once_per_message_and_read_back_within_the_window<S: Store>(store: &S) {
    let sent = |category, at| SentRecord { category, at: t(at) };
    assert_eq!(reserve(store, "msg_1", sent(Category::Marketing, "2026-06-01T10:00:00Z")).await, Reservation::Reserved);
    // A redelivered job reserves again: still one send.
    assert_eq!(reserve(store, "msg_1", sent(Category::Marketing, "2026-06-01T10:00:05Z")).await, Reservation::Reserved);
    reserve(store, "msg_2", sent(Category::Utility, "2026-06-03T10:00:00Z")).await;
    reserve(store, "msg_0", sent(Category::Marketing, "2026-05-20T10:00:00Z")).await;

    let history = store.recent_sends(&ana(), t("2026-05-27T00:00:00Z")).await.unwrap();
    assert_eq!(
        history.sends,
        [sent(Category::Marketing, "2026-06-01T10:00:00Z"), sent(Category::Utility, "2026-06-03T10:00:00Z")],
        "oldest first, the first record of msg_1 kept, msg_0 outside the window"
    );
    assert_eq!(store.get(&ana()).await.unwrap(), None, "sends do not make a contact");
    // A definite refusal gives the reservation back.
    store.release_send(&ana(), "msg_2").await.unwrap();
    let history = store.recent_sends(&ana(), t("2026-05-27T00:00:00Z")).await.unwrap();
    assert_eq!(history.sends, [sent(Category::Marketing, "2026-06-01T10:00:00Z")]);
}

/// A case of the contract (see the module).
pub async fn of_concurrent_reservations_on_one_history_exactly_one_wins_and_erasure_forgets_them<S: Store>(store: &S) {
    let week = SignedDuration::from_hours(24 * 7);
    // Twenty jobs for one person read the same history and all passed the gate on it.
    let read = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    let writes = (0..20).map(|i| {
        let at = t("2026-06-01T10:00:00Z");
        let read = &read;
        async move {
            let sent = SentRecord { category: Category::Marketing, at };
            store.reserve_send(&ana(), &format!("msg_{i}"), sent, week, read).await
        }
    });
    let results: Vec<Reservation> =
        futures_util::future::join_all(writes).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| **r == Reservation::Reserved).count(), 1, "{results:?}");
    assert_eq!(store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap().sends.len(), 1);
    store.erase(&ana()).await.unwrap();
    let after = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    assert!(after.sends.is_empty() && after.version == 0);
}

/// A case of the contract (see the module).
pub async fn a_send_from_the_business_app_is_recorded_once_and_makes_a_sender_on_an_older_read_decide_again<
    S: Store,
>(
    store: &S,
) {
    let week = SignedDuration::from_hours(24 * 7);
    let read = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    let echo = SentRecord { category: Category::Service, at: t("2026-06-01T10:00:00Z") };
    store.record_sent(&ana(), "wamid.ECHO1", echo, week).await.unwrap();
    // Meta retries the webhook: still one send.
    store.record_sent(&ana(), "wamid.ECHO1", echo, week).await.unwrap();
    let after = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    assert_eq!(after.sends, [echo]);
    assert!(after.version > read.version);
    // A sender that read the log before the echo must look again.
    let sent = SentRecord { category: Category::Marketing, at: t("2026-06-01T10:00:01Z") };
    assert_eq!(store.reserve_send(&ana(), "msg_1", sent, week, &read).await.unwrap(), Reservation::Raced);
    assert_eq!(store.reserve_send(&ana(), "msg_1", sent, week, &after).await.unwrap(), Reservation::Reserved);
}

/// A case of the contract (see the module).
pub async fn an_undeliverable_mark_is_kept_and_never_shortened_by_an_older_one<S: Store>(store: &S) {
    store.mark_undeliverable(&ana(), t("2026-05-09T10:00:00Z")).await.unwrap();
    store.mark_undeliverable(&ana(), t("2026-05-08T10:00:00Z")).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.undeliverable_until, Some(t("2026-05-09T10:00:00Z")));
    store.mark_undeliverable(&ana(), t("2026-05-10T10:00:00Z")).await.unwrap();
    assert_eq!(store.get(&ana()).await.unwrap().unwrap().undeliverable_until, Some(t("2026-05-10T10:00:00Z")));
}

/// A case of the contract (see the module).
pub async fn a_message_from_the_person_clears_an_undeliverable_mark<S: Store>(store: &S) {
    store.mark_undeliverable(&ana(), t("2026-05-09T10:00:00Z")).await.unwrap();
    store.record_inbound(&ana(), t("2026-04-10T12:00:00Z"), None).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.undeliverable_until, None, "they wrote in: WhatsApp reaches them");
    assert_eq!(contact.last_inbound_at, Some(t("2026-04-10T12:00:00Z")));
}

/// A case of the contract (see the module).
pub async fn a_stop_by_user_id_reaches_the_phone_once_they_are_seen_together_and_replays_change_nothing<S: Store>(
    store: &S,
) {
    // The business captured consent by phone; the person, a username user, stops by user id.
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.append_consent(&ana_user(), &stop_at(&ana_user(), "2026-05-02T10:00:00Z")).await.unwrap();
    assert!(store.get(&ana()).await.unwrap().unwrap().consent.is_opted_in(ConsentCategory::Marketing));

    // A later webhook shows both: one person, one ledger, the STOP (newer) wins.
    let linked = store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-03T10:00:00Z")).await.unwrap();
    assert_eq!((linked.merged, linked.events_moved), (1, 1), "{linked:?}");
    for by in [ana(), ana_user()] {
        let person = store.get(&by).await.unwrap().unwrap();
        assert_eq!(person.id, ana(), "the phone's person kept its key");
        assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
        assert_eq!(person.identities.user_id().map(ToString::to_string).as_deref(), Some(ANA_USER));
        assert_eq!(store.consent_history(&by).await.unwrap().len(), 2, "history kept");
    }
    // The same webhook again, or an older one showing the same: nothing to do.
    for again in ["2026-05-03T10:00:00Z", "2026-04-01T10:00:00Z"] {
        let replay = store.observe(&seen_together("+5511987654321", ANA_USER, again)).await.unwrap();
        assert!(replay.is_unchanged(), "{again}: {replay:?}");
    }
}

/// A case of the contract (see the module).
pub async fn a_merge_carries_the_sends_over_and_a_sender_that_read_the_log_before_it_decides_again<S: Store>(
    store: &S,
) {
    let week = SignedDuration::from_hours(24 * 7);
    let sent = |at: &str| SentRecord { category: Category::Marketing, at: t(at) };
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    let empty = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    // A promotion went to the user id while polite did not yet know it was Ana.
    let by_user = store.recent_sends(&ana_user(), t("2026-05-01T00:00:00Z")).await.unwrap();
    let reserved = store.reserve_send(&ana_user(), "msg_u", sent("2026-05-02T10:00:00Z"), week, &by_user).await;
    assert_eq!(reserved.unwrap(), Reservation::Reserved);
    store.append_consent(&ana_user(), &stop_at(&ana_user(), "2026-04-02T10:00:00Z")).await.unwrap();

    store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-03T10:00:00Z")).await.unwrap();
    let log = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    assert_eq!(log.sends.len(), 1, "the user id's send counts for the person");
    // A sender that read Ana's (empty) log before the merge must not reserve on it.
    let late = store.reserve_send(&ana(), "msg_p", sent("2026-05-03T11:00:00Z"), week, &empty).await.unwrap();
    assert_eq!(late, Reservation::Raced);
    let again = store.reserve_send(&ana(), "msg_p", sent("2026-05-03T11:00:00Z"), week, &log).await.unwrap();
    assert_eq!(again, Reservation::Reserved);
}

/// A case of the contract (see the module).
pub async fn a_number_change_and_a_user_id_change_applied_at_once_leave_one_person<S: Store>(store: &S) {
    // WhatsApp sends both system messages in one webhook; consent-updater applies the records
    // of a batch concurrently. Neither may take an identity for someone new mid-merge.
    for i in 0..6 {
        let (phone, new_phone) = (format!("+55119876500{i:02}"), format!("+55119123400{i:02}"));
        let (user, new_user) = (format!("BR.44556677{i:02}"), format!("BR.99887766{i:02}"));
        let phone_ref = ContactRef::parse(&phone).unwrap();
        store.append_consent(&phone_ref, &stop_at(&phone_ref, "2026-05-01T10:00:00Z")).await.unwrap();
        store.observe(&seen_together(&phone, &user, "2026-05-02T10:00:00Z")).await.unwrap();
        let number = Observation::NumberChanged {
            old: WaId::parse(&phone).unwrap(),
            new: WaId::parse(&new_phone).unwrap(),
            at: t("2026-05-03T10:00:00Z"),
        };
        let user_id = Observation::UserIdChanged {
            old: BusinessScopedUserId::parse(&user).unwrap(),
            new: BusinessScopedUserId::parse(&new_user).unwrap(),
            at: t("2026-05-03T10:00:00Z"),
        };
        let (a, b) = tokio::join!(store.observe(&number), store.observe(&user_id));
        a.unwrap();
        b.unwrap();
        let person = store.get(&ContactRef::parse(&new_phone).unwrap()).await.unwrap().unwrap();
        for id in [&new_user, &user] {
            let found = store.get(&ContactRef::parse(id).unwrap()).await.unwrap().unwrap();
            assert_eq!(found.id, person.id, "{i}: {id} finds another person");
        }
        assert_eq!(person.identities.user_id().map(ToString::to_string).as_deref(), Some(new_user.as_str()), "{i}");
        assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut), "{i}");
    }
}

/// A case of the contract (see the module).
pub async fn a_user_id_change_moves_the_opt_out_and_the_old_id_finds_no_one<S: Store>(store: &S) {
    let old = ana_user();
    let new = ContactRef::parse("BR.99999999999999999999").unwrap();
    store.append_consent(&old, &stop_at(&old, "2026-05-02T10:00:00Z")).await.unwrap();
    let change = Observation::UserIdChanged {
        old: BusinessScopedUserId::parse(ANA_USER).unwrap(),
        new: BusinessScopedUserId::parse("BR.99999999999999999999").unwrap(),
        at: t("2026-05-05T10:00:00Z"),
    };
    let moved = store.observe(&change).await.unwrap();
    assert_eq!(moved.events_moved, 1, "{moved:?}");
    let person = store.get(&new).await.unwrap().unwrap();
    assert_eq!(person.id, new);
    assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    // WhatsApp never gives a user id to anyone else: the old one still finds the person.
    assert_eq!(store.get(&old).await.unwrap().unwrap().id, new);
    assert!(store.observe(&change).await.unwrap().is_unchanged(), "a replayed change changes nothing");
    // A late webhook from before the change, showing the old id with the phone: the phone
    // joins the person, the old id stays retired.
    store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-04T10:00:00Z")).await.unwrap();
    let person = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(person.id, new);
    assert_eq!(person.identities.user_id().map(ToString::to_string).as_deref(), Some("BR.99999999999999999999"));
    assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    // A number change: the old number finds no one (carriers recycle numbers).
    let moved = Observation::NumberChanged {
        old: WaId::parse("+5511987654321").unwrap(),
        new: WaId::parse("+5511912345678").unwrap(),
        at: t("2026-05-06T10:00:00Z"),
    };
    store.observe(&moved).await.unwrap();
    assert_eq!(store.get(&ana()).await.unwrap(), None);
    let person = store.get(&ContactRef::parse("+5511912345678").unwrap()).await.unwrap().unwrap();
    assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    assert_eq!(person.phone().map(WaId::as_str), Some("5511912345678"));
    // The old number's new owner writes in; erasing the person who left it leaves them be.
    store.record_inbound(&ana(), t("2026-05-07T10:00:00Z"), None).await.unwrap();
    let erased = store.erase(&ContactRef::parse("+5511912345678").unwrap()).await.unwrap();
    assert!(!erased.contains(&ana()), "{erased:?}");
    let stranger = store.get(&ana()).await.unwrap().unwrap();
    assert!(!stranger.erased && stranger.last_inbound_at.is_some(), "{stranger:?}");
    for user_id in [&new, &old] {
        assert!(
            store.get(user_id).await.unwrap().unwrap().erased,
            "{user_id:?}: a user id, retired or not, is tombstoned"
        );
    }
}

/// A case of the contract (see the module).
pub async fn erasing_by_one_identity_erases_every_identity<S: Store>(store: &S) {
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-03T10:00:00Z")).await.unwrap();
    let erased = store.erase(&ana_user()).await.unwrap();
    assert_eq!(erased.len(), 2, "{erased:?}");
    for by in [ana(), ana_user()] {
        assert!(store.get(&by).await.unwrap().unwrap().erased, "{by:?}");
    }
}

/// A case of the contract (see the module).
pub async fn a_person_who_first_wrote_by_user_id_alone_is_linked_to_the_phone_they_show_later<S: Store>(store: &S) {
    // A username user writes (no phone): only their window is recorded, under the user id.
    store.record_inbound(&ana_user(), t("2026-06-01T10:00:00Z"), None).await.unwrap();
    // Later a message shows their phone with it.
    let linked = store.observe(&seen_together("+5511987654321", ANA_USER, "2026-06-02T10:00:00Z")).await.unwrap();
    assert!(!linked.is_unchanged());
    let by_phone = store.get(&ana()).await.unwrap().expect("the phone finds the person");
    assert_eq!(by_phone.id, ana_user());
    assert_eq!(by_phone.last_inbound_at, Some(t("2026-06-01T10:00:00Z")));
}
