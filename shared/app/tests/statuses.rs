//! status-processor's use case on in-memory fakes (no moto): statuses as the intake queues
//! them — duplicated and out of order — end in the true state with counters moved once; a
//! 131050 becomes one marketing opt-out on inbound-events, a 131026 an undeliverable mark.

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryContacts, MemoryMessages, MemoryQueue};
use polite_app::intake::{Queues, queue};
use polite_app::statuses::{Outcome, Processor};
use polite_domain::ContactRef;
use polite_domain::envelope::{self, kinds};
use polite_domain::message::{Category, MessageState as S, TransitionDetails};
use polite_domain::ports::prelude::*;
use polite_domain::pricing::RateCard;
use polite_domain::record::{MessageRecord, Moved, NewMessage};
use polite_domain::webhook;
use serde_json::{Value, json};

fn sent_at() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn processor() -> Processor<MemoryMessages, MemoryContacts, MemoryQueue> {
    Processor {
        messages: MemoryMessages::default(),
        contacts: MemoryContacts::new(b"test-key"),
        inbound: MemoryQueue::default(),
        undeliverable_for: SignedDuration::from_hours(24 * 30),
        rates: RateCard::builtin().unwrap_or_else(|e| panic!("{e}")),
    }
}

fn to(n: u32) -> ContactRef {
    ContactRef::parse(&format!("+55119876500{n:02}")).unwrap_or_else(|e| panic!("{e}"))
}

/// Campaign message `msg_<n>`, claimed and accepted by Meta as `wamid.<n>`.
async fn sent(p: &Processor<MemoryMessages, MemoryContacts, MemoryQueue>, n: u32) {
    let payload =
        polite_domain::request::Payload::Template(json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
    let record = MessageRecord {
        campaign_id: Some("cmp_1".into()),
        ..MessageRecord::new(format!("msg_{n}"), to(n), Category::Marketing, payload, S::Sending, sent_at())
    };
    let created = p.messages.create(&NewMessage { record, idempotency_key: None, body_hash: String::new() }).await;
    let created = created.unwrap_or_else(|e| panic!("{e}"));
    let accepted = TransitionDetails { wamid: Some(format!("wamid.{n}")), ..TransitionDetails::default() };
    let moved = p.messages.transition_from(&created, S::Sent, sent_at(), accepted).await;
    assert!(matches!(moved, Ok(Moved::Yes(_))));
}

fn status(n: u32, value: &str, minutes: i64) -> Value {
    let at = sent_at() + SignedDuration::from_mins(minutes);
    json!({"id": format!("wamid.{n}"), "status": value, "timestamp": at.as_second().to_string(),
        "recipient_id": format!("55119876500{n:02}"), "biz_opaque_callback_data": format!("msg_{n}")})
}

fn failed(n: u32, code: i64, minutes: i64) -> Value {
    let mut s = status(n, "failed", minutes);
    s["errors"] = json!([{"code": code, "title": format!("error {code}"), "message": "…"}]);
    s
}

/// The status-events records the intake makes of one webhook carrying `statuses`.
async fn records(statuses: &[Value]) -> Vec<String> {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700800900"},
            "statuses": statuses}}]}]})
    .to_string();
    let queues = Queues::open(|_| MemoryQueue::default());
    assert!(Box::pin(queue(&queues, &webhook::route(body.as_bytes(), sent_at()), "req")).await.is_ok());
    queues.statuses.take_bodies()
}

async fn process(p: &Processor<MemoryMessages, MemoryContacts, MemoryQueue>, records: &[String]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for r in records {
        out.push(p.process(r).await.unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

#[tokio::test]
async fn duplicated_and_reordered_statuses_end_in_the_truth_with_counters_moved_once() {
    let p = processor();
    for n in 1..=3 {
        sent(&p, n).await;
    }
    // Read before delivered, everything twice, in reverse.
    let mut all = records(&[status(1, "read", 9), status(1, "delivered", 5), status(2, "delivered", 4)]).await;
    all.extend(records(&[failed(3, 131_000, 2), status(2, "delivered", 4), status(1, "read", 9)]).await);
    all.reverse();
    process(&p, &all).await;
    let state = async |n: u32| p.messages.get(&format!("msg_{n}")).await.ok().flatten().map(|m| m.state);
    assert_eq!((state(1).await, state(2).await, state(3).await), (Some(S::Read), Some(S::Delivered), Some(S::Failed)));
    let tally = p.messages.campaign_tally("cmp_1").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((tally.count(S::Read), tally.count(S::Delivered), tally.count(S::Failed)), (1, 1, 1));
    assert_eq!(tally.count(S::Sent), 0, "each message counted once, where it is");
}

#[tokio::test]
async fn a_131050_becomes_one_marketing_opt_out_and_a_131026_an_undeliverable_mark() {
    let p = processor();
    sent(&p, 1).await;
    sent(&p, 2).await;
    let stop = records(&[failed(1, 131_050, 3)]).await;
    process(&p, &stop).await;
    process(&p, &stop).await;
    let queued = p.inbound.take_bodies();
    let changes: Vec<&String> =
        queued.iter().filter(|b| envelope::kind_of(b).ok().as_deref() == Some(kinds::CONSENT_CHANGE)).collect();
    assert_eq!(changes.len(), 2, "queued per delivery; consent-updater records the one event once");
    assert_eq!(changes[0], changes[1], "the same event (same id) both times");

    process(&p, &records(&[failed(2, 131_026, 3)]).await).await;
    let marked = p.contacts.get(&to(2)).await.ok().flatten().and_then(|c| c.undeliverable_until);
    assert!(marked.is_some_and(|until| until > sent_at() + SignedDuration::from_hours(24 * 29)), "{marked:?}");
}

#[tokio::test]
async fn a_status_of_a_message_polite_did_not_send_is_dropped_knowingly() {
    let p = processor();
    let outcomes = process(&p, &records(&[status(7, "delivered", 1)]).await).await;
    assert_eq!(outcomes, [Outcome::UnknownMessage]);
}
