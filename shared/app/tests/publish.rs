//! event-publisher's use case on in-memory fakes (no moto): what the outbox holds goes on the
//! bus in order, its details are scrubbed once published, and a campaign whose last message
//! settled is completed — and told — once.

use jiff::Timestamp;
use polite_app::fakes::{MESSAGES_TABLE, MemoryBus, MemoryMessages};
use polite_app::publish::{OutboxEvent, Publisher};
use polite_domain::ContactRef;
use polite_domain::campaign::{CampaignRecord, CampaignStatus, NewCampaign};
use polite_domain::message::{Category, MessageState as S, TransitionDetails};
use polite_domain::ports::prelude::*;
use polite_domain::record::{MessageRecord, NewMessage};
use polite_domain::request::Payload;

fn now() -> Timestamp {
    "2026-12-03T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The outbox items not yet scrubbed, as the stream would hand them on.
fn pending(messages: &MemoryMessages) -> Vec<OutboxEvent> {
    let items = messages.outbox().items().into_iter().filter_map(|(_, event)| event);
    items.map(|event| OutboxEvent { table: Some(MESSAGES_TABLE.into()), event }).collect()
}

#[tokio::test]
async fn events_go_out_in_order_are_scrubbed_and_a_settled_campaign_completes_once() {
    let table = MemoryMessages::default();
    let publisher = Publisher { bus: MemoryBus::default(), campaigns: table.clone(), outboxes: table.clone() };
    let messages = &table;
    let payload = Payload::Template(serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
    let record = CampaignRecord {
        id: "cmp_1".into(),
        name: "spring".into(),
        category: Category::Marketing,
        payload,
        send_at: None,
        expires_at: None,
        deliver_at_local: None,
        start_at: now(),
        per_second: 64,
        max_per_minute: None,
        accepted: 1,
        rejected: 0,
        chunks: 1,
        created_at: now(),
        status: CampaignStatus::Active,
        audience: None,
    };
    let campaign = NewCampaign { record, chunks: Vec::new(), idempotency_key: None, body_hash: String::new() };
    messages.create_campaign(&campaign).await.unwrap_or_else(|e| panic!("{e}"));
    let to = ContactRef::parse("+5511987654321").unwrap_or_else(|e| panic!("{e}"));
    let template = Payload::Template(serde_json::json!({"name": "spring_sale"}));
    let mut message = MessageRecord::new("msg_1".into(), to, Category::Marketing, template, S::Sending, now());
    message.campaign_id = Some("cmp_1".into());
    let new = NewMessage { record: message, idempotency_key: None, body_hash: String::new() };
    let created = messages.create(&new).await.unwrap_or_else(|e| panic!("{e}"));
    let sent = TransitionDetails { wamid: Some("wamid.1".into()), ..TransitionDetails::default() };
    messages.transition_from(&created, S::Sent, now(), sent).await.unwrap_or_else(|e| panic!("{e}"));

    let first = pending(messages);
    assert_eq!(first.len(), 1, "message.state_changed (sent)");
    assert_eq!(publisher.publish(&first, now()).await, None, "all done");
    let on_bus = publisher.bus.take();
    assert_eq!(on_bus.iter().map(|e| e.detail_type.as_str()).collect::<Vec<_>>(), ["message.state_changed"]);
    // Published: scrubbed. The check after publishing found the campaign settled: its
    // completion is the outbox's one new event, and goes out next.
    let second = pending(messages);
    let kinds: Vec<&str> = second.iter().map(|i| i.event.detail_type.as_str()).collect();
    assert_eq!(kinds, ["campaign.completed"]);
    assert_eq!(publisher.publish(&second, now()).await, None);
    assert_eq!(publisher.bus.take().len(), 1);
    assert!(pending(messages).is_empty(), "everything published is scrubbed");
    assert_eq!(messages.outbox().items().len(), 2, "the ids stay as markers");
    assert!(!messages.complete_if_done("cmp_1", now()).await.unwrap_or(true), "completed once");
}
