//! status-processor fed by webhook-intake's real output on moto: status webhooks are posted,
//! signed, to webhook-intake; what it queued on status-events is handed to the processor in
//! any order, duplicated; then messages and campaign counters are read back.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use common::{Harness, failed, sent_at, status};
use jiff::SignedDuration;
use polite_app::statuses::{Outcome, StatusError};
use polite_domain::campaign::PricedCount;
use polite_domain::consent::{ConsentCategory, ConsentStatus};
use polite_domain::envelope::{self, kinds};
use polite_domain::inbound::ConsentChange;
use polite_domain::message::MessageState as S;
use polite_domain::message::{Due, due_shard};
use polite_domain::ports::prelude::*;
use polite_tests::drain;
use serde_json::json;

/// A deterministic shuffle with duplicates: xorshift over `seed`.
fn shuffled(items: &[String], seed: u64) -> Vec<String> {
    let mut x = seed.max(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out: Vec<String> = items.to_vec();
    // Every third item (by the generator) appears twice.
    for item in items {
        if next() % 3 == 0 {
            out.push(item.clone());
        }
    }
    for i in (1..out.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap();
        out.swap(i, j);
    }
    out
}

#[tokio::test]
async fn any_order_and_duplication_of_a_campaigns_statuses_ends_in_the_truth() {
    // The truth: 1 read (via delivered), 2 read without delivered, 3 delivered, 4 failed
    // 131026, 5 read with a late `sent` after it, 6 delivered then a failed (failed loses).
    let statuses = [
        status(1, "sent", 1),
        status(1, "delivered", 2),
        status(1, "read", 3),
        status(2, "sent", 1),
        status(2, "read", 4),
        status(3, "sent", 1),
        status(3, "delivered", 2),
        failed(4, 131_026, 1),
        status(5, "read", 3),
        status(5, "sent", 1),
        status(6, "delivered", 2),
        failed(6, 131_000, 5),
    ];
    for seed in [1, 7, 42, 1_234, 31_337, 99_991] {
        let h = Harness::new().await;
        for n in 1..=6 {
            h.sent(n).await;
        }
        let records = h.intake(&statuses).await;
        assert_eq!(records.len(), statuses.len());
        for record in shuffled(&records, seed) {
            h.processor.process(&record).await.unwrap();
        }
        let states: Vec<S> = states_of(&h).await;
        assert_eq!(states, [S::Read, S::Read, S::Delivered, S::Failed, S::Read, S::Delivered], "seed {seed}");
        let tally = h.processor.messages.campaign_tally("cmp_1").await.unwrap();
        let nonzero: Vec<(S, i64)> = tally.states.into_iter().filter(|(_, n)| *n != 0).collect();
        assert_eq!(nonzero, [(S::Delivered, 2), (S::Read, 3), (S::Failed, 1)], "seed {seed}");
        // Three Brazilian numbers priced as regular marketing: 3 × 0.0625 on the shipped card.
        let marketing = PricedCount {
            priced: 3,
            billable: 3,
            types: [("regular".to_owned(), 3)].into_iter().collect(),
            estimated: 3,
            estimated_cost: [("USD".to_owned(), "0.1875".parse().unwrap())].into_iter().collect(),
        };
        assert_eq!(tally.pricing["marketing"], marketing, "seed {seed}");
        let four = h.state(4).await;
        assert_eq!(four.error.map(|e| e.code), Some(131_026));
        let undeliverable = h.processor.contacts.get(&four.to).await.unwrap().unwrap().undeliverable_until;
        assert_eq!(undeliverable, Some(sent_at() + SignedDuration::from_mins(1) + SignedDuration::from_hours(720)));
    }
}

async fn states_of(h: &Harness) -> Vec<S> {
    let mut states = Vec::new();
    for n in 1..=6 {
        states.push(h.state(n).await.state);
    }
    states
}

#[tokio::test]
async fn a_131050_failure_queues_a_marketing_opt_out_once_however_often_it_arrives() {
    let h = Harness::new().await;
    h.sent(1).await;
    let records = h.intake(&[failed(1, 131_050, 2)]).await;
    for _ in 0..2 {
        h.processor.process(&records[0]).await.unwrap();
    }
    assert_eq!(h.state(1).await.state, S::Failed);
    let changes: Vec<ConsentChange> = drain(&h.sqs, h.stack.queue("InboundEventsQueue"))
        .await
        .unwrap()
        .iter()
        .map(|b| envelope::decode(kinds::CONSENT_CHANGE, b).unwrap())
        .collect();
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c.event.id == changes[0].event.id), "one event id: applied once by the ledger");
    assert_eq!(
        (changes[0].event.category, changes[0].event.status),
        (ConsentCategory::Marketing, ConsentStatus::OptedOut)
    );
    assert_eq!(changes[0].contact.to_string(), "5511987650001");
}

#[tokio::test]
async fn a_130403_failure_marks_the_person_blocked_until_they_write_in() {
    let h = Harness::new().await;
    h.sent(1).await;
    let records = h.intake(&[failed(1, 130_403, 2)]).await;
    h.processor.process(&records[0]).await.unwrap();
    let to = h.state(1).await.to;
    assert!(h.processor.contacts.get(&to).await.unwrap().unwrap().blocked, "the gate suppresses `blocked`");
    // A blocked person cannot write to the business: a message from them is an unblock.
    h.processor.contacts.record_inbound(&to, sent_at() + SignedDuration::from_mins(10), None).await.unwrap();
    assert!(!h.processor.contacts.get(&to).await.unwrap().unwrap().blocked);
    // The old failure redelivered after that changes nothing.
    h.processor.process(&records[0]).await.unwrap();
    assert!(!h.processor.contacts.get(&to).await.unwrap().unwrap().blocked);
}

#[tokio::test]
async fn a_131049_failure_schedules_the_message_a_day_on_and_later_statuses_of_that_attempt_change_nothing() {
    let h = Harness::new().await;
    h.sent(1).await;
    // Expires before the day is over: 131049 ends it as it always did.
    h.sent_expiring(2, Some(sent_at() + SignedDuration::from_hours(6))).await;
    let records = h.intake(&[failed(1, 131_049, 2), failed(2, 131_049, 2)]).await;
    for record in &records {
        h.processor.process(record).await.unwrap();
    }
    let one = h.state(1).await;
    let retry_at = sent_at() + SignedDuration::from_mins(2) + SignedDuration::from_hours(24);
    assert_eq!(
        (one.state, one.reason.as_deref(), one.not_before),
        (S::Scheduled, Some("rate_limited"), Some(retry_at))
    );
    assert_eq!(one.error.map(|e| e.code), Some(131_049));
    assert_eq!(h.state(2).await.state, S::Failed);
    // The tick finds it again a day later, not before.
    let shard = due_shard("msg_1");
    let messages = &h.processor.messages;
    let early = messages.due(shard, retry_at - SignedDuration::from_mins(1), 100).await.unwrap();
    assert!(!early.contains(&Due::Message("msg_1".into())));
    assert!(messages.due(shard, retry_at, 100).await.unwrap().contains(&Due::Message("msg_1".into())));
    // That attempt's statuses, late or again, are over: the message waits for its retry.
    let late = h.intake(&[status(1, "sent", 1), status(1, "delivered", 3), failed(1, 131_049, 2)]).await;
    for record in &late {
        h.processor.process(record).await.unwrap();
    }
    assert_eq!(h.state(1).await.state, S::Scheduled);
    let tally = h.processor.messages.campaign_tally("cmp_1").await.unwrap();
    let nonzero: Vec<(S, i64)> = tally.states.into_iter().filter(|(_, n)| *n != 0).collect();
    assert_eq!(nonzero, [(S::Scheduled, 1), (S::Failed, 1)]);
}

#[tokio::test]
async fn statuses_of_other_systems_and_of_confirmation_replies_are_dropped_knowingly() {
    let h = Harness::new().await;
    h.sent(1).await;
    let mut by_wamid = status(1, "delivered", 2);
    by_wamid.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    let mut stranger = status(9, "delivered", 2);
    stranger.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    let mut confirmation = status(8, "sent", 1);
    confirmation["biz_opaque_callback_data"] = json!("polite-confirmation:wamid.IN");
    let records = h.intake(&[by_wamid, stranger, confirmation]).await;
    let outcomes: Vec<Outcome> = process_all(&h, &records).await;
    assert!(matches!(outcomes[0], Outcome::Applied(_)), "found by its wamid");
    assert_eq!(outcomes[1..], [Outcome::UnknownMessage, Outcome::Confirmation]);
    assert_eq!(h.state(1).await.state, S::Delivered);
}

async fn process_all(h: &Harness, records: &[String]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for r in records {
        out.push(h.processor.process(r).await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_status_that_cannot_be_read_fails_its_record_for_the_dlq() {
    let h = Harness::new().await;
    // webhook-intake only checks that a status is an object (throughput): this one has no id.
    let records = h.intake(&[json!({"status": "delivered", "timestamp": "1"})]).await;
    assert_eq!(records.len(), 1);
    assert!(matches!(h.processor.process(&records[0]).await, Err(StatusError::Unreadable(_))));
}

#[tokio::test]
async fn service_messages_are_free_within_the_numbers_monthly_allowance_then_estimated_at_the_rate() {
    use polite_domain::pricing::{Basis, RateCard};
    let mut h = Harness::new().await;
    // A card with an allowance of 2 a month, so the third service message is charged.
    h.processor.rates = RateCard::parse(
        r#"{"currency": "USD", "source": "test",
            "free_service_messages": [{"effective_from": "2026-10-01", "per_number_per_month": 2}],
            "rates": [{"effective_from": "2025-07-01", "markets": [
                {"market": "Everywhere", "countries": ["*"], "rates": {"service": "0.0040", "marketing": "0.0625"}}]}]}"#,
    )
    .unwrap();
    for n in 1..=3 {
        h.sent(n).await;
    }
    let service = |n: u32, minutes: i64| {
        let mut s = status(n, "delivered", minutes);
        s["pricing"] = json!({"pricing_model": "PMP", "type": "regular", "category": "service"});
        s
    };
    // msg_1's pricing twice (Meta redelivers), then msg_2's, then msg_3's: one by one, in order.
    for s in [service(1, 1), service(1, 1), service(2, 2), service(3, 3)] {
        for record in h.intake(&[s]).await {
            h.processor.process(&record).await.unwrap();
        }
    }
    let basis = |m: polite_domain::record::MessageRecord| m.estimated_cost.map(|e| (e.basis, e.amount.to_string()));
    assert_eq!(basis(h.state(1).await), Some((Basis::FreeAllowance, "0.0000".into())));
    assert_eq!(basis(h.state(2).await), Some((Basis::FreeAllowance, "0.0000".into())), "the redelivery drew nothing");
    assert_eq!(basis(h.state(3).await), Some((Basis::Rate, "0.0040".into())));
    let allowance = polite_domain::pricing::allowance_key("700800900", sent_at());
    assert_eq!(h.processor.messages.allowance_used(&allowance).await.unwrap(), 3);
    let tally = h.processor.messages.campaign_tally("cmp_1").await.unwrap();
    let service = &tally.pricing["service"];
    assert_eq!((service.priced, service.billable, service.estimated), (3, 3, 3));
    assert_eq!(service.estimated_cost["USD"].to_string(), "0.0040");
}
