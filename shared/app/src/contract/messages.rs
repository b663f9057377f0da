//! [`MessageStore`]: the messages table's contract, case by case — idempotent creation,
//! conditional transitions, counters that move once per real transition, pricing counted
//! once, the sharded due index. Each case starts from an empty store;
//! [`message_store_contract!`] makes one test of each.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::campaign::PricedCount;
use polite_domain::message::{Category, MessageState as S, SendError, StatusValue as V, Transition};
use polite_domain::message::{DUE_SHARDS, Due, TransitionDetails};
use polite_domain::ports::{CreateError, MessageStore};
use polite_domain::pricing::{Basis, CostEstimate, PricingRecord};
use polite_domain::record::MessageRecord;
use polite_domain::record::{Moved, NewMessage};
use polite_domain::status::StatusUpdate;

/// One test per case of the contract, each on a store of its own: `$fresh` is an async
/// closure (or function) making an empty store.
#[macro_export]
macro_rules! message_store_contract {
    ($fresh:expr) => {
        #[tokio::test]
        async fn a_campaigns_messages_are_listed_once_each_in_creation_order_page_by_page() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_campaigns_messages_are_listed_once_each_in_creation_order_page_by_page(&store)).await;
        }
        #[tokio::test]
        async fn a_created_message_reads_back_unchanged() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_created_message_reads_back_unchanged(&store)).await;
        }
        #[tokio::test]
        async fn the_same_idempotency_key_and_body_give_the_same_message_counted_once() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::the_same_idempotency_key_and_body_give_the_same_message_counted_once(&store)).await;
        }
        #[tokio::test]
        async fn the_same_idempotency_key_with_another_body_is_a_conflict() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::the_same_idempotency_key_with_another_body_is_a_conflict(&store)).await;
        }
        #[tokio::test]
        async fn only_one_of_two_concurrent_claims_moves_a_queued_message_to_sending() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::only_one_of_two_concurrent_claims_moves_a_queued_message_to_sending(&store)).await;
        }
        #[tokio::test]
        async fn duplicate_and_reordered_statuses_count_each_real_transition_once() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::duplicate_and_reordered_statuses_count_each_real_transition_once(&store)).await;
        }
        #[tokio::test]
        async fn a_failure_records_metas_error_on_the_message() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_failure_records_metas_error_on_the_message(&store)).await;
        }
        #[tokio::test]
        async fn a_status_for_an_unknown_message_is_reported_as_unknown() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_status_for_an_unknown_message_is_reported_as_unknown(&store)).await;
        }
        #[tokio::test]
        async fn the_due_index_finds_exactly_the_scheduled_messages_that_are_due_across_shards() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::the_due_index_finds_exactly_the_scheduled_messages_that_are_due_across_shards(&store)).await;
        }
        #[tokio::test]
        async fn a_long_deferral_goes_back_to_the_due_index() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_long_deferral_goes_back_to_the_due_index(&store)).await;
        }
        #[tokio::test]
        async fn the_move_that_records_a_wamid_makes_the_message_findable_by_it() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::the_move_that_records_a_wamid_makes_the_message_findable_by_it(&store)).await;
        }
        #[tokio::test]
        async fn pricing_is_recorded_and_counted_once_whatever_the_order_and_duplicates() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::pricing_is_recorded_and_counted_once_whatever_the_order_and_duplicates(&store)).await;
        }
        #[tokio::test]
        async fn a_service_message_draws_on_its_numbers_monthly_allowance_once() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_service_message_draws_on_its_numbers_monthly_allowance_once(&store)).await;
        }
        #[tokio::test]
        async fn a_status_settles_an_unknown_outcome_and_records_the_wamid() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::messages::a_status_settles_an_unknown_outcome_and_records_the_wamid(&store)).await;
        }
    };
}

fn now() -> Timestamp {
    "2026-06-10T12:00:00Z".parse().unwrap()
}

fn record(id: &str, state: S, campaign: Option<&str>) -> MessageRecord {
    let payload = polite_domain::request::Payload::Template(
        serde_json::json!({"name": "promo", "language": {"code": "pt_BR"},
        "components": [{"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "OPTOUT_MARKETING"}]}]}),
    );
    let to = ContactRef::parse("+5511987654321").unwrap();
    MessageRecord {
        campaign_id: campaign.map(str::to_owned),
        history: vec![],
        ..MessageRecord::new(id.to_owned(), to, Category::Marketing, payload, state, now())
    }
}

fn new(mut record: MessageRecord, key: Option<&str>, hash: &str) -> NewMessage {
    record.due_at = record.not_before.filter(|_| record.state == S::Scheduled);
    NewMessage { record, idempotency_key: key.map(str::to_owned), body_hash: hash.to_owned() }
}

/// A case of the contract (see the module).
pub async fn a_campaigns_messages_are_listed_once_each_in_creation_order_page_by_page<M: MessageStore + Sync>(
    store: &M,
) {
    for (id, state, campaign) in [
        ("m1", S::Queued, "c1"),
        ("m2", S::Scheduled, "c1"),
        ("m3", S::Queued, "c1"),
        ("m4", S::Scheduled, "c1"),
        ("m5", S::Queued, "c1"),
        ("m6", S::Queued, "c2"),
    ] {
        store.create(&new(record(id, state, Some(campaign)), None, "h")).await.unwrap();
    }
    store.create(&new(record("m7", S::Queued, None), None, "h")).await.unwrap();
    let ids =
        |page: &polite_domain::record::MessagePage| page.messages.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    let first = store.campaign_messages("c1", None, None, 2).await.unwrap();
    assert_eq!((ids(&first), first.next.as_deref()), (vec!["m1".to_owned(), "m2".to_owned()], Some("m2")));
    let second = store.campaign_messages("c1", None, first.next.as_deref(), 2).await.unwrap();
    assert_eq!((ids(&second), second.next.as_deref()), (vec!["m3".to_owned(), "m4".to_owned()], Some("m4")));
    let last = store.campaign_messages("c1", None, second.next.as_deref(), 2).await.unwrap();
    assert_eq!((ids(&last), last.next), (vec!["m5".to_owned()], None), "the last page says so");
    let scheduled = store.campaign_messages("c1", Some(S::Scheduled), None, 10).await.unwrap();
    assert_eq!((ids(&scheduled), scheduled.next), (vec!["m2".to_owned(), "m4".to_owned()], None));
    assert_eq!(scheduled.messages[0], record("m2", S::Scheduled, Some("c1")), "the whole message");
    let other = store.campaign_messages("c2", None, None, 10).await.unwrap();
    assert_eq!(ids(&other), ["m6"]);
    assert!(store.campaign_messages("c9", None, None, 10).await.unwrap().messages.is_empty());
}

/// A case of the contract (see the module).
pub async fn a_created_message_reads_back_unchanged<M: MessageStore + Sync>(store: &M) {
    let r = record("m1", S::Queued, None);
    store.create(&new(r.clone(), None, "h")).await.unwrap();
    assert_eq!(store.get("m1").await.unwrap(), Some(r));
    assert_eq!(store.get("nope").await.unwrap(), None);
}

/// A case of the contract (see the module).
pub async fn the_same_idempotency_key_and_body_give_the_same_message_counted_once<M: MessageStore + Sync>(store: &M) {
    let first = store.create(&new(record("m1", S::Queued, Some("c1")), Some("order-42"), "h1")).await.unwrap();
    let again = store.create(&new(record("m2", S::Queued, Some("c1")), Some("order-42"), "h1")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(store.get("m2").await.unwrap(), None, "no second message");
    assert_eq!(store.campaign_tally("c1").await.unwrap().states[&S::Queued], 1);
}

/// A case of the contract (see the module).
pub async fn the_same_idempotency_key_with_another_body_is_a_conflict<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Queued, None), Some("order-42"), "h1")).await.unwrap();
    let err = store.create(&new(record("m2", S::Queued, None), Some("order-42"), "h2")).await.unwrap_err();
    assert!(matches!(err, CreateError::IdempotencyConflict), "{err}");
}

/// A case of the contract (see the module).
pub async fn only_one_of_two_concurrent_claims_moves_a_queued_message_to_sending<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Queued, Some("c1")), None, "h")).await.unwrap();
    let claim = || store.transition("m1", &[S::Queued, S::Deferred], S::Sending, now(), TransitionDetails::default());
    let (a, b) = tokio::join!(claim(), claim());
    let wins = [a.unwrap(), b.unwrap()].into_iter().filter(|m| matches!(m, Moved::Yes(_))).count();
    assert_eq!(wins, 1);
    let counts = store.campaign_tally("c1").await.unwrap().states;
    assert_eq!((counts[&S::Queued], counts[&S::Sending]), (0, 1));
    let again = store
        .transition("m1", &[S::Queued, S::Deferred], S::Sending, now(), TransitionDetails::default())
        .await
        .unwrap();
    assert_eq!(again, Moved::No(Some(S::Sending)), "never claimed twice");
}

/// A case of the contract (see the module).
pub async fn duplicate_and_reordered_statuses_count_each_real_transition_once<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Sending, Some("c1")), None, "h")).await.unwrap();
    let at = |s: i64| now() + SignedDuration::from_secs(s);
    let mut moved = 0;
    for (status, t) in
        [(V::Read, 30), (V::Sent, 1), (V::Delivered, 5), (V::Read, 30), (V::Delivered, 5), (V::Failed, 40)]
    {
        if let Some(Transition::Moved { .. }) =
            store.apply_status("m1", &StatusUpdate::plain(status, at(t))).await.unwrap()
        {
            moved += 1;
        }
    }
    assert_eq!(moved, 1);
    let counts = store.campaign_tally("c1").await.unwrap().states;
    assert_eq!(counts.iter().filter(|(_, n)| **n != 0).collect::<Vec<_>>(), [(&S::Read, &1)]);
    let m = store.get("m1").await.unwrap().unwrap();
    assert_eq!(m.state, S::Read);
    let history: Vec<&str> = m.history.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(history, ["read", "sent", "delivered", "failed"], "each distinct status once, in arrival order");
}

/// A case of the contract (see the module).
pub async fn a_failure_records_metas_error_on_the_message<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Sent, None), None, "h")).await.unwrap();
    let error = SendError { code: 131_050, title: "User stopped marketing messages".into() };
    let update = StatusUpdate { error: Some(error.clone()), ..StatusUpdate::plain(V::Failed, now()) };
    let t = store.apply_status("m1", &update).await.unwrap();
    assert_eq!(t, Some(Transition::Moved { from: S::Sent, to: S::Failed }));
    assert_eq!(store.get("m1").await.unwrap().unwrap().error, Some(error));
}

/// A case of the contract (see the module).
pub async fn a_status_for_an_unknown_message_is_reported_as_unknown<M: MessageStore + Sync>(store: &M) {
    assert_eq!(store.apply_status("ghost", &StatusUpdate::plain(V::Delivered, now())).await.unwrap(), None);
}

/// A case of the contract (see the module).
pub async fn the_due_index_finds_exactly_the_scheduled_messages_that_are_due_across_shards<M: MessageStore + Sync>(
    store: &M,
) {
    let mut due = BTreeSet::new();
    for i in 0..24 {
        let mut r = record(&format!("m{i:02}"), S::Scheduled, None);
        let offset = if i % 3 == 0 { 3600 } else { -60 * i };
        r.not_before = Some(now() + SignedDuration::from_secs(offset));
        if offset <= 0 {
            due.insert(Due::Message(r.id.clone()));
        }
        store.create(&new(r, None, "h")).await.unwrap();
    }
    let mut found = BTreeSet::new();
    for shard in 0..DUE_SHARDS {
        found.extend(store.due(shard, now(), 100).await.unwrap());
    }
    assert_eq!(found, due);

    // Released messages leave the index; a second release of the same message does nothing.
    let released =
        store.transition("m01", &[S::Scheduled], S::Queued, now(), TransitionDetails::default()).await.unwrap();
    assert!(matches!(released, Moved::Yes(_)));
    let twice = store.transition("m01", &[S::Scheduled], S::Queued, now(), TransitionDetails::default()).await.unwrap();
    assert_eq!(twice, Moved::No(Some(S::Queued)));
    let mut after = BTreeSet::new();
    for shard in 0..DUE_SHARDS {
        after.extend(store.due(shard, now(), 100).await.unwrap());
    }
    assert!(!after.contains(&Due::Message("m01".into())) && after.len() == due.len() - 1);
}

/// A case of the contract (see the module).
pub async fn a_long_deferral_goes_back_to_the_due_index<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Sending, None), None, "h")).await.unwrap();
    let until = now() + SignedDuration::from_hours(9);
    let details =
        TransitionDetails { reason: Some("quiet_hours".into()), due_at: Some(until), ..TransitionDetails::default() };
    let Moved::Yes(m) = store.transition("m1", &[S::Sending], S::Scheduled, now(), details).await.unwrap() else {
        panic!()
    };
    assert_eq!((m.state, m.not_before, m.reason.as_deref()), (S::Scheduled, Some(until), Some("quiet_hours")));
    let shard = polite_domain::message::due_shard("m1");
    assert!(store.due(shard, now(), 10).await.unwrap().is_empty(), "not due yet");
    assert_eq!(store.due(shard, until, 10).await.unwrap(), [Due::Message("m1".into())]);
}

/// A case of the contract (see the module).
pub async fn the_move_that_records_a_wamid_makes_the_message_findable_by_it<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Sending, Some("c1")), None, "h")).await.unwrap();
    assert_eq!(store.message_for_wamid("wamid.M1").await.unwrap(), None, "not sent yet");
    let sent = TransitionDetails { wamid: Some("wamid.M1".into()), ..TransitionDetails::default() };
    let current = store.get("m1").await.unwrap().unwrap();
    assert!(matches!(store.transition_from(&current, S::Sent, now(), sent).await.unwrap(), Moved::Yes(_)));
    assert_eq!(store.message_for_wamid("wamid.M1").await.unwrap().as_deref(), Some("m1"));
    assert_eq!(store.message_for_wamid("wamid.OTHER_SYSTEM").await.unwrap(), None);
    // A stale record moves nothing and reports the state it found.
    let stale = TransitionDetails::default();
    assert_eq!(store.transition_from(&current, S::Failed, now(), stale).await.unwrap(), Moved::No(Some(S::Sent)));
    assert_eq!(store.campaign_tally("c1").await.unwrap().states[&S::Sent], 1);
}

fn pricing(category: &str, billable: bool) -> PricingRecord {
    let kind = if billable { "regular" } else { "free_customer_service" };
    PricingRecord::from_meta(serde_json::json!({"pricing_model": "PMP", "type": kind, "category": category})).unwrap()
}

fn estimate(amount: &str, basis: Basis) -> CostEstimate {
    CostEstimate {
        amount: amount.parse().unwrap(),
        currency: "USD".into(),
        market: "Brazil".into(),
        rates_from: jiff::civil::date(2025, 7, 1),
        basis,
    }
}

/// A case of the contract (see the module).
pub async fn pricing_is_recorded_and_counted_once_whatever_the_order_and_duplicates<M: MessageStore + Sync>(store: &M) {
    for id in ["m1", "m2"] {
        store.create(&new(record(id, S::Sent, Some("c1")), None, "h")).await.unwrap();
    }
    // m1: read first (no pricing), then delivered with pricing — stale, but the pricing counts —
    // then the same delivered again.
    let delivered = StatusUpdate {
        pricing: Some(pricing("marketing", true)),
        estimate: Some(estimate("0.0625", Basis::Rate)),
        ..StatusUpdate::plain(V::Delivered, now())
    };
    store.apply_status("m1", &StatusUpdate::plain(V::Read, now())).await.unwrap();
    store.apply_status("m1", &delivered).await.unwrap();
    store.apply_status("m1", &delivered).await.unwrap();
    // m2: a free message, pricing on its (only) delivered, then read.
    let free = StatusUpdate {
        pricing: Some(pricing("marketing", false)),
        estimate: Some(estimate("0", Basis::FreeByMeta)),
        ..StatusUpdate::plain(V::Delivered, now())
    };
    store.apply_status("m2", &free).await.unwrap();
    store.apply_status("m2", &StatusUpdate::plain(V::Read, now())).await.unwrap();

    let m1 = store.get("m1").await.unwrap().unwrap();
    assert_eq!((m1.state, m1.pricing.clone()), (S::Read, Some(pricing("marketing", true))));
    assert_eq!(m1.estimated_cost, Some(estimate("0.0625", Basis::Rate)));
    assert_eq!(m1.history.iter().filter(|h| h.state == "delivered").count(), 1);
    let tally = store.campaign_tally("c1").await.unwrap();
    let marketing = PricedCount {
        priced: 2,
        billable: 1,
        types: [("regular".to_owned(), 1), ("free_customer_service".to_owned(), 1)].into_iter().collect(),
        estimated: 2,
        estimated_cost: [("USD".to_owned(), "0.0625".parse().unwrap())].into_iter().collect(),
    };
    assert_eq!(tally.pricing.into_iter().collect::<Vec<_>>(), [("marketing".to_owned(), marketing)]);
    let counts = tally.states;
    assert_eq!((counts[&S::Read], counts[&S::Sent], counts[&S::Delivered]), (2, 0, 0));
}

/// A case of the contract (see the module).
pub async fn a_service_message_draws_on_its_numbers_monthly_allowance_once<M: MessageStore + Sync>(store: &M) {
    let allowance = polite_domain::pricing::allowance_key("700800900", now());
    assert_eq!(store.allowance_used(&allowance).await.unwrap(), 0);
    for id in ["s1", "s2"] {
        store.create(&new(record(id, S::Sent, None), None, "h")).await.unwrap();
    }
    let priced = StatusUpdate {
        pricing: Some(pricing("service", true)),
        estimate: Some(estimate("0", Basis::FreeAllowance)),
        allowance: Some(allowance.clone()),
        ..StatusUpdate::plain(V::Delivered, now())
    };
    // s1's delivered twice, then its read carrying the same pricing: counted once. s2's
    // pricing comes on a read after the delivered (a move and a pricing in one write).
    store.apply_status("s1", &priced).await.unwrap();
    store.apply_status("s1", &priced).await.unwrap();
    store.apply_status("s1", &StatusUpdate { value: V::Read, ..priced.clone() }).await.unwrap();
    store.apply_status("s2", &StatusUpdate::plain(V::Delivered, now())).await.unwrap();
    store.apply_status("s2", &StatusUpdate { value: V::Read, ..priced.clone() }).await.unwrap();
    assert_eq!(store.allowance_used(&allowance).await.unwrap(), 2);
    let next_month =
        polite_domain::pricing::allowance_key("700800900", now() + jiff::SignedDuration::from_hours(24 * 31));
    assert_eq!(store.allowance_used(&next_month).await.unwrap(), 0, "a month of its own");
    let s2 = store.get("s2").await.unwrap().unwrap();
    assert_eq!((s2.state, s2.estimated_cost.map(|e| e.basis)), (S::Read, Some(Basis::FreeAllowance)));
}

/// A case of the contract (see the module).
pub async fn a_status_settles_an_unknown_outcome_and_records_the_wamid<M: MessageStore + Sync>(store: &M) {
    store.create(&new(record("m1", S::Sending, None), None, "h")).await.unwrap();
    let sent = StatusUpdate { wamid: Some("wamid.LATE".into()), ..StatusUpdate::plain(V::Sent, now()) };
    assert_eq!(
        store.apply_status("m1", &sent).await.unwrap(),
        Some(Transition::Moved { from: S::Sending, to: S::Sent })
    );
    let m1 = store.get("m1").await.unwrap().unwrap();
    assert_eq!((m1.state, m1.wamid.as_deref()), (S::Sent, Some("wamid.LATE")));
    assert_eq!(store.message_for_wamid("wamid.LATE").await.unwrap().as_deref(), Some("m1"));
}
