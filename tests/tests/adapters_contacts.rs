//! The contacts table adapter against moto: real conditional writes and transactions.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_domain::caps::Reservation;
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};
use polite_domain::contact::{ConsentAppend, ContactSettings};
use polite_domain::hours::QuietHours;
use polite_domain::message::Category;
use polite_domain::people::Observation;
use polite_domain::ports::{ContactStore, SendLog};
use polite_domain::{BusinessScopedUserId, ContactRef, IanaZone, WaId};
use polite_tests::Stack;
type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

async fn store() -> DynamoContacts {
    let stack = Stack::create().await.unwrap();
    DynamoContacts::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("ContactsTable"), b"test-tombstone-key")
}

fn ana() -> ContactRef {
    ContactRef::parse("+5511987654321").unwrap()
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
async fn the_inbound_time_and_the_username_it_showed_never_move_backwards() {
    let store = store().await;
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

#[tokio::test]
async fn consent_changes_and_inbound_times_do_not_overwrite_each_other() {
    let store = store().await;
    store.record_inbound(&ana(), t("2026-05-02T10:00:00Z"), None).await.unwrap();
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.record_inbound(&ana(), t("2026-05-03T10:00:00Z"), None).await.unwrap();
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
    let (kept, outbox) = items_once_published(&stack).await;
    assert_eq!(kept.len(), 1, "only the tombstone remains");
    let dump = format!("{kept:?}{outbox:?}");
    assert!(!dump.contains("5511987654321") && !dump.contains("987654321"), "the tombstone leaks the number: {dump}");
    // The outbox told the opt-in and the erasure (by hashes); once published, neither names her.
    assert_eq!(outbox.len(), 2, "{outbox:?}");
}

/// The contacts table's items after event-publisher has put its outbox on the bus (each
/// published event scrubbed as it does): the other items, and the outbox items.
async fn items_once_published(stack: &Stack) -> (Vec<Item>, Vec<Item>) {
    use polite_domain::ports::PublishedEvents as _;
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.table("ContactsTable");
    let outboxes = polite_adapters::outbox::Outboxes::new(ddb.clone());
    let is_outbox = |i: &Item| i.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("OUT#"));
    let items = ddb.scan().table_name(table).send().await.unwrap().items.unwrap_or_default();
    for item in items.iter().filter(|i| is_outbox(i)) {
        let id = item["pk"].as_s().unwrap().trim_start_matches("OUT#");
        outboxes.scrub(table, id).await.unwrap();
    }
    let items = ddb.scan().table_name(table).send().await.unwrap().items.unwrap_or_default();
    items.into_iter().partition(|i| !is_outbox(i))
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
async fn a_send_from_the_business_app_is_recorded_once_and_makes_a_sender_on_an_older_read_decide_again() {
    let store = store().await;
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
    store.record_inbound(&ana(), t("2026-04-10T12:00:00Z"), None).await.unwrap();
    let contact = store.get(&ana()).await.unwrap().unwrap();
    assert_eq!(contact.undeliverable_until, None, "they wrote in: WhatsApp reaches them");
    assert_eq!(contact.last_inbound_at, Some(t("2026-04-10T12:00:00Z")));
}

const ANA_USER: &str = "BR.13491208655302741918";

fn ana_user() -> ContactRef {
    ContactRef::parse(ANA_USER).unwrap()
}

fn seen_together(phone: &str, user: &str, at: &str) -> Observation {
    Observation::Together {
        phone: Some(WaId::parse(phone).unwrap()),
        user: Some(BusinessScopedUserId::parse(user).unwrap()),
        parent: None,
        at: t(at),
    }
}

fn stop_at(contact: &ContactRef, at: &str) -> ConsentEvent {
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

#[tokio::test]
async fn a_stop_by_user_id_reaches_the_phone_once_they_are_seen_together_and_replays_change_nothing() {
    let (stack, store) = stack_and_store().await;
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
    // Stored as the README says: the person under the phone, a link under the user id.
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let items = ddb.scan().table_name(stack.table("ContactsTable")).send().await.unwrap();
    let keys: std::collections::BTreeSet<(String, String)> = items
        .items()
        .iter()
        .map(|i| (i["pk"].as_s().unwrap().clone(), i["sk"].as_s().unwrap().chars().take(6).collect()))
        .collect();
    assert!(keys.contains(&(format!("C#{ANA_USER}"), "PERSON".into())), "{keys:?}");
    assert!(!keys.iter().any(|(pk, sk)| pk == &format!("C#{ANA_USER}") && sk != "PERSON"), "{keys:?}");
}

#[tokio::test]
async fn a_merge_carries_the_sends_over_and_a_sender_that_read_the_log_before_it_decides_again() {
    let (_stack, store) = stack_and_store().await;
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

#[tokio::test]
async fn a_number_change_and_a_user_id_change_applied_at_once_leave_one_person() {
    // WhatsApp sends both system messages in one webhook; consent-updater applies the records
    // of a batch concurrently. Neither may take an identity for someone new mid-merge.
    let (_stack, store) = stack_and_store().await;
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

#[tokio::test]
async fn a_user_id_change_moves_the_opt_out_and_the_old_id_finds_no_one() {
    let (_stack, store) = stack_and_store().await;
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

#[tokio::test]
async fn erasing_by_one_identity_tombstones_every_identity_without_naming_any() {
    let (stack, store) = stack_and_store().await;
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-03T10:00:00Z")).await.unwrap();
    let erased = store.erase(&ana_user()).await.unwrap();
    assert_eq!(erased.len(), 2, "{erased:?}");
    for by in [ana(), ana_user()] {
        assert!(store.get(&by).await.unwrap().unwrap().erased, "{by:?}");
    }
    let (kept, outbox) = items_once_published(&stack).await;
    assert_eq!(kept.len(), 2, "two tombstones and nothing else");
    let dump = format!("{kept:?}{outbox:?}");
    assert!(!dump.contains("987654321") && !dump.contains("13491208655302741918"), "{dump}");
}

#[tokio::test]
async fn a_person_who_first_wrote_by_user_id_alone_is_linked_to_the_phone_they_show_later() {
    // A username user writes (no phone): only their window is recorded, under the user id.
    let store = store().await;
    store.record_inbound(&ana_user(), t("2026-06-01T10:00:00Z"), None).await.unwrap();
    // Later a message shows their phone with it.
    let linked = store.observe(&seen_together("+5511987654321", ANA_USER, "2026-06-02T10:00:00Z")).await.unwrap();
    assert!(!linked.is_unchanged());
    let by_phone = store.get(&ana()).await.unwrap().expect("the phone finds the person");
    assert_eq!(by_phone.id, ana_user());
    assert_eq!(by_phone.last_inbound_at, Some(t("2026-06-01T10:00:00Z")));
}

#[tokio::test]
async fn identities_found_to_be_one_person_are_told_once() {
    let (stack, store) = stack_and_store().await;
    store.append_consent(&ana(), &capture(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z", "checkbox")).await.unwrap();
    for _ in 0..2 {
        // Meta shows them together on every webhook: one link, one event.
        store.observe(&seen_together("+5511987654321", ANA_USER, "2026-05-03T10:00:00Z")).await.unwrap();
    }
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let items = ddb.scan().table_name(stack.table("ContactsTable")).send().await.unwrap().items.unwrap_or_default();
    let outbox: Vec<_> = items.iter().filter(|i| i.contains_key("detail_type")).collect();
    assert!(outbox.iter().all(|i| i.contains_key("expires_at")), "the table's TTL removes them: {outbox:?}");
    let linked: Vec<serde_json::Value> = items
        .iter()
        .filter(|i| i.get("detail_type").and_then(|v| v.as_s().ok()).is_some_and(|t| t == "contact.identity_linked"))
        .map(|i| serde_json::from_str(i["detail"].as_s().unwrap()).unwrap())
        .collect();
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["identities"], serde_json::json!(["5511987654321", ANA_USER]), "sorted");
    assert_eq!(linked[0]["contact"]["wa_id"], "5511987654321");
    assert_eq!(linked[0]["contact"]["user_id"], ANA_USER);
}
