//! The contacts table adapter against moto: real conditional writes and transactions.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};
use polite_domain::hours::QuietHours;
use polite_domain::message::Category;
use polite_domain::ports::{ConsentAppend, ContactSettings, ContactStore, Reservation, SendLog};
use polite_domain::{IanaZone, WaId};
use polite_tests::Stack;

async fn store() -> DynamoContacts {
    let stack = Stack::create().await.unwrap();
    DynamoContacts::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("ContactsTable"), b"test-tombstone-key")
}

fn ana() -> WaId {
    WaId::parse("+5511987654321").unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn capture(status: ConsentStatus, at: &str, evidence: &str) -> ConsentEvent {
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

#[tokio::test]
async fn an_unknown_contact_reads_as_none() {
    assert_eq!(store().await.get(&ana()).await.unwrap(), None);
}

#[tokio::test]
async fn a_consent_event_is_recorded_and_becomes_the_current_state() {
    let store = store().await;
    let e = capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox");
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Recorded { changed: true });
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
    assert_eq!(contact.consent.marketing.unwrap().event_id, e.id);
}

#[tokio::test]
async fn a_ledger_event_delivered_twice_is_recorded_once() {
    let store = store().await;
    let e = capture(ConsentStatus::OptedOut, "2026-05-01T10:00:00Z", "STOP");
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Recorded { changed: true });
    assert_eq!(store.append_consent(&ana(), &e).await.unwrap(), ConsentAppend::Duplicate);
    assert_eq!(store.consent_history(&ana()).await.unwrap(), vec![e]);
}

#[tokio::test]
async fn an_older_event_arriving_after_a_newer_one_is_kept_but_does_not_win() {
    let store = store().await;
    let newer = capture(ConsentStatus::OptedOut, "2026-05-02T10:00:00Z", "STOP");
    let older = capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox");
    store.append_consent(&ana(), &newer).await.unwrap();
    assert_eq!(store.append_consent(&ana(), &older).await.unwrap(), ConsentAppend::Recorded { changed: false });
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    let history = store.consent_history(&ana()).await.unwrap();
    assert_eq!(history, vec![older, newer], "history is oldest first by event time");
}

#[tokio::test]
async fn concurrent_events_for_one_contact_all_land_and_the_state_is_their_fold() {
    let store = store().await;
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

#[tokio::test]
async fn the_inbound_time_never_moves_backwards() {
    let store = store().await;
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-01T10:00:00Z")).await.unwrap();
    assert_eq!(store.get(&ana()).await.unwrap().unwrap().last_inbound_at, Some(t("2026-05-02T10:00:00Z")));
    store.record_inbound(&ana(), t("2026-05-03T10:00:00Z")).await.unwrap();
    assert_eq!(store.get(&ana()).await.unwrap().unwrap().last_inbound_at, Some(t("2026-05-03T10:00:00Z")));
}

#[tokio::test]
async fn consent_changes_and_inbound_times_do_not_overwrite_each_other() {
    let store = store().await;
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z")).await.unwrap();
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-03T10:00:00Z")).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
    assert_eq!(contact.last_inbound_at, Some(t("2026-05-03T10:00:00Z")));
}

#[tokio::test]
async fn settings_are_stored_and_consent_still_applies_to_a_contact_created_by_them() {
    let store = store().await;
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

async fn stack_and_store() -> (Stack, DynamoContacts) {
    let stack = Stack::create().await.unwrap();
    let store = DynamoContacts::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("ContactsTable"),
        b"test-tombstone-key",
    );
    (stack, store)
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

#[tokio::test]
async fn erasure_leaves_only_a_tombstone_that_does_not_hold_the_number() {
    let (stack, store) = stack_and_store().await;
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z")).await.unwrap();
    store
        .update_settings(&ana(), &ContactSettings { locale: Some("pt_BR".into()), ..ContactSettings::default() })
        .await
        .unwrap();

    store.erase(&ana()).await.unwrap();

    let contact = store.get(&ana()).await.unwrap().expect("an erased number still reads, as erased");
    assert!(contact.erased);
    assert_eq!((contact.consent, contact.locale, contact.last_inbound_at), (ConsentState::default(), None, None));
    assert!(store.consent_history(&ana()).await.unwrap().is_empty());
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let items = ddb.scan().table_name(stack.table("ContactsTable")).send().await.unwrap();
    assert_eq!(items.items().len(), 1, "only the tombstone remains");
    let dump = format!("{:?}", items.items());
    assert!(!dump.contains("5511987654321") && !dump.contains("987654321"), "the tombstone leaks the number: {dump}");
}

#[tokio::test]
async fn a_new_explicit_opt_in_after_erasure_lifts_the_tombstone() {
    let (_stack, store) = stack_and_store().await;
    store.erase(&ana()).await.unwrap();
    store.append_consent(&ana(), &opt_in_at(Timestamp::now() + SignedDuration::from_mins(1))).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert!(!contact.erased);
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
}

#[tokio::test]
async fn a_replayed_opt_in_from_before_the_erasure_does_not_lift_it() {
    let (_stack, store) = stack_and_store().await;
    let before = Timestamp::now() - SignedDuration::from_hours(1);
    store.append_consent(&ana(), &opt_in_at(before)).await.unwrap();
    store.erase(&ana()).await.unwrap();
    // Meta (or the CRM) replays the old opt-in after the erasure.
    store.append_consent(&ana(), &opt_in_at(before)).await.unwrap();
    assert!(store.get(&ana()).await.unwrap().unwrap().erased);
}

/// Reserves a send the way the sender does: on the history it just read.
async fn reserve(store: &DynamoContacts, id: &str, sent: SentRecord) -> Reservation {
    let read = store.recent_sends(&ana(), t("2000-01-01T00:00:00Z")).await.unwrap();
    store.reserve_send(&ana(), id, sent, SignedDuration::from_hours(24 * 7), &read).await.unwrap()
}

#[tokio::test]
async fn sends_are_reserved_once_per_message_and_read_back_within_the_window() {
    let store = store().await;
    let sent = |category, at| SentRecord { category, at: t(at) };
    assert_eq!(
        reserve(&store, "msg_1", sent(Category::Marketing, "2026-06-01T10:00:00Z")).await,
        Reservation::Reserved
    );
    // A redelivered job reserves again: still one send.
    assert_eq!(
        reserve(&store, "msg_1", sent(Category::Marketing, "2026-06-01T10:00:05Z")).await,
        Reservation::Reserved
    );
    reserve(&store, "msg_2", sent(Category::Utility, "2026-06-03T10:00:00Z")).await;
    reserve(&store, "msg_0", sent(Category::Marketing, "2026-05-20T10:00:00Z")).await;

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

#[tokio::test]
async fn of_concurrent_reservations_on_one_history_exactly_one_wins_and_erasure_forgets_them() {
    let store = store().await;
    let week = SignedDuration::from_hours(24 * 7);
    // Twenty jobs for one person read the same history and all passed the gate on it.
    let read = store.recent_sends(&ana(), t("2026-05-01T00:00:00Z")).await.unwrap();
    let writes = (0..20).map(|i| {
        let at = t("2026-06-01T10:00:00Z");
        let (store, read) = (&store, &read);
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

#[tokio::test]
async fn an_undeliverable_mark_is_kept_and_never_shortened_by_an_older_one() {
    let store = store().await;
    store.mark_undeliverable(&ana(), t("2026-05-09T10:00:00Z")).await.unwrap();
    store.mark_undeliverable(&ana(), t("2026-05-08T10:00:00Z")).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.undeliverable_until, Some(t("2026-05-09T10:00:00Z")));
    store.mark_undeliverable(&ana(), t("2026-05-10T10:00:00Z")).await.unwrap();
    assert_eq!(store.get(&ana()).await.unwrap().unwrap().undeliverable_until, Some(t("2026-05-10T10:00:00Z")));
}

#[tokio::test]
async fn a_message_from_the_person_clears_an_undeliverable_mark() {
    let store = store().await;
    store.mark_undeliverable(&ana(), t("2026-05-09T10:00:00Z")).await.unwrap();
    store.record_inbound(&ana(), t("2026-04-10T12:00:00Z")).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.undeliverable_until, None, "they wrote in: WhatsApp reaches them");
    assert_eq!(contact.last_inbound_at, Some(t("2026-04-10T12:00:00Z")));
}
