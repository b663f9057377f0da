//! The intake's use case on in-memory queues (no moto): each part of a webhook goes to its
//! queue, as a versioned envelope, and what cannot be routed — or is too large for one queue
//! message — is parked, in parts when it must be.

use jiff::Timestamp;
use polite_app::fakes::MemoryQueue;
use polite_app::intake::{PARK_PART_BYTES, Queues, queue};
use polite_domain::envelope::{self, ParkedPart, kinds};
use polite_domain::ports::MAX_MESSAGE_BYTES;
use polite_domain::webhook::{self, Parked, WebhookEvent};
use serde_json::{Value, json};

fn queues() -> Queues<MemoryQueue> {
    Queues::open(|_| MemoryQueue::default())
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn notification(changes: &[Value]) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "time": 1_795_435_200, "changes": changes}]})
        .to_string()
        .into_bytes()
}

fn messages(value: &Value) -> Value {
    let mut value = value.clone();
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": "700800900"});
    json!({"field": "messages", "value": value})
}

async fn accept(queues: &Queues<MemoryQueue>, body: &[u8]) {
    let routed = webhook::route(body, now());
    assert!(Box::pin(queue(queues, &routed, "req-1")).await.is_ok(), "memory queues take everything that fits");
}

fn kinds_of(bodies: &[String]) -> Vec<String> {
    bodies.iter().map(|b| envelope::kind_of(b).unwrap_or_default()).collect()
}

#[tokio::test]
async fn statuses_messages_and_template_changes_go_to_their_own_queues() {
    let q = queues();
    let body = notification(&[
        messages(&json!({"statuses": [
            {"id": "wamid.S1", "status": "delivered", "timestamp": "1795435100", "recipient_id": "5511987654321"},
            {"id": "wamid.S2", "status": "read", "timestamp": "1795435150", "recipient_id": "5511987654321"}
        ]})),
        messages(&json!({
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
            "messages": [{"from": "5511987654321", "id": "wamid.IN1", "timestamp": "1795435190", "type": "text", "text": {"body": "PARAR"}}]
        })),
        json!({"field": "message_template_status_update", "value": {
            "event": "PAUSED", "message_template_id": 1, "message_template_name": "spring_sale",
            "message_template_language": "pt_BR", "reason": "NONE"
        }}),
    ]);
    accept(&q, &body).await;

    let statuses = q.statuses.take_bodies();
    assert_eq!(kinds_of(&statuses), [kinds::WEBHOOK_EVENT, kinds::WEBHOOK_EVENT]);
    for (body, wamid) in statuses.iter().zip(["wamid.S1", "wamid.S2"]) {
        let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, body).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert!(text.contains(wamid), "one event per status, in order: {text}");
    }
    assert_eq!(q.inbound.take().len(), 1, "the user's message");
    assert_eq!(q.templates.take().len(), 1, "the template change");
    assert!(q.parking.take().is_empty(), "nothing to park");
}

#[tokio::test]
async fn what_cannot_be_routed_is_parked_and_nothing_is_lost() {
    let q = queues();
    accept(&q, &notification(&[json!({"field": "a_field_meta_adds_next_year", "value": {"x": 1}})])).await;
    let parked = q.parking.take_bodies();
    assert_eq!(kinds_of(&parked), [kinds::PARKED_WEBHOOK]);
    let item: Parked<'_> = envelope::decode(kinds::PARKED_WEBHOOK, &parked[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(item.field.as_deref(), Some("a_field_meta_adds_next_year"));
    assert!(q.statuses.take().is_empty() && q.inbound.take().is_empty());
}

#[tokio::test]
async fn a_message_too_large_for_one_queue_message_is_parked_in_parts_that_rebuild_it() {
    let q = queues();
    let huge = "é".repeat(MAX_MESSAGE_BYTES / 2 + 10);
    let body = notification(&[messages(&json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
        "messages": [{"from": "5511987654321", "id": "wamid.BIG", "timestamp": "1795435190", "type": "text", "text": {"body": huge}}]
    }))]);
    accept(&q, &body).await;

    assert!(q.inbound.take().is_empty(), "too large for inbound-events");
    let parts = q.parking.take_bodies();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    let mut text = String::new();
    for (n, body) in parts.iter().enumerate() {
        assert!(body.len() <= MAX_MESSAGE_BYTES, "each part fits in a queue message");
        let part: ParkedPart<'_> = envelope::decode(kinds::PARKED_WEBHOOK_PART, body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((part.part, part.parts, part.parking_id.as_ref()), (n + 1, parts.len(), "req-1/0"));
        assert!(part.text.len() <= PARK_PART_BYTES);
        text.push_str(&part.text);
    }
    let item: Parked<'_> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the parts rebuild the item: {e}"));
    assert!(serde_json::to_string(&item).unwrap_or_default().contains(&huge), "the message whole");
}
