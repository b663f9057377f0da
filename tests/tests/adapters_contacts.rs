//! The contacts table adapter against moto: the contract every contacts store keeps (the same
//! suite runs on the in-memory fake), then what only the table shows — its items.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_adapters::contacts::DynamoContacts;
use polite_app::contract::contacts::{ANA_USER, ana, ana_user, capture, seen_together, stop_at, t};
use polite_domain::consent::{ConsentCategory, ConsentState, ConsentStatus};
use polite_domain::contact::ContactSettings;
use polite_domain::ports::prelude::*;
use polite_tests::Stack;
type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

async fn store() -> DynamoContacts {
    let stack = Stack::create().await.unwrap();
    DynamoContacts::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("ContactsTable"), b"test-tombstone-key")
}

/// The contract every contacts store keeps, case by case, on DynamoDB.
mod contract {
    use super::store;

    polite_app::contact_store_contract!(store);
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
