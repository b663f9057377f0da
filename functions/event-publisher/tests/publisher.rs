//! event-publisher on moto: the messages table's real stream (filtered as the template's event
//! source filters it), the real EventBridge bus with a rule to a queue — and a publisher that
//! dies before its publish.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use event_publisher::{StreamEvent, handle};
use jiff::Timestamp;
use polite_adapters::bus::EventBridgeBus;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::outbox::Outboxes;
use polite_app::publish::Publisher;
use polite_devstack::streams::{StreamReader, matches, route_bus_to_queue};
use polite_domain::ContactRef;
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState, StatusValue};
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use polite_domain::record::{Moved, NewMessage};
use polite_domain::status::StatusUpdate;
use polite_tests::{Moto, Stack, drain};
use serde_json::Value;

const ANA: &str = "+5511987654321";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn message(id: &str) -> MessageRecord {
    let payload = polite_domain::request::Payload::Template(
        serde_json::json!({"name": "order_shipped", "language": {"code": "en_US"}}),
    );
    let to = ContactRef::parse(ANA).unwrap();
    MessageRecord::new(id.to_owned(), to, Category::Utility, payload, MessageState::Sending, at("2026-12-03T10:00:00Z"))
}

/// The stream's new records that the template's event source passes to event-publisher.
async fn outbox_records(reader: &mut StreamReader) -> StreamEvent {
    let template = polite_adapters::provision::read_template(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )
    .unwrap();
    let publisher = template.functions.iter().find(|f| f.binary == "event-publisher").unwrap();
    let filter: Value = serde_json::from_str(&publisher.streams[0].filters[0]).unwrap();
    let records: Vec<Value> = reader.next().await.unwrap().into_iter().filter(|r| matches(&filter, r)).collect();
    serde_json::from_value(serde_json::json!({"Records": records})).unwrap()
}

struct World {
    stack: Stack,
    messages: DynamoMessages,
    reader: StreamReader,
    events_queue: String,
}

impl World {
    async fn new() -> World {
        let stack = Stack::create().await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let table = stack.table("MessagesTable").to_owned();
        let messages = DynamoMessages::new(dynamo, &table, b"test-contact-hash-key");
        let reader = StreamReader::open(&Moto::get().endpoint, &table).await.unwrap();
        let bus = &stack.resources.buses["PoliteEventBus"];
        let events_queue = route_bus_to_queue(&stack.sdk, bus, &stack.prefix).await.unwrap();
        World { stack, messages, reader, events_queue }
    }

    /// A publisher on `bus`: the stack's own, or one nobody answers on.
    fn publisher(&self, reachable: bool) -> Publisher<EventBridgeBus, DynamoMessages, Outboxes> {
        let sdk = if reachable {
            self.stack.sdk.clone()
        } else {
            // Port 9 (discard) refuses: the process "dies" before anything reaches the bus.
            self.stack.sdk.to_builder().endpoint_url("http://127.0.0.1:9").build()
        };
        let bus =
            EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), &self.stack.resources.buses["PoliteEventBus"]);
        let dynamo = aws_sdk_dynamodb::Client::new(&self.stack.sdk);
        Publisher {
            bus,
            campaigns: DynamoMessages::new(dynamo.clone(), self.stack.table("MessagesTable"), b""),
            outboxes: Outboxes::new(dynamo),
        }
    }

    async fn received(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.stack.sdk);
        drain(&sqs, &self.events_queue).await.unwrap().iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }

    /// The outbox item's `detail`, if it still has one.
    async fn outbox_detail(&self, event_id: &str) -> Option<String> {
        let dynamo = aws_sdk_dynamodb::Client::new(&self.stack.sdk);
        let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
        let item = dynamo
            .get_item()
            .table_name(self.stack.table("MessagesTable"))
            .key("pk", key(&format!("OUT#{event_id}")))
            .key("sk", key("EVENT"))
            .send()
            .await
            .unwrap()
            .item
            .expect("the outbox item stays as the id's marker");
        assert!(item.contains_key("ttl"), "the messages table's TTL removes it: {item:?}");
        item.get("detail").map(|d| d.as_s().unwrap().clone())
    }
}

#[tokio::test]
async fn a_publisher_killed_before_its_publish_loses_nothing_and_the_event_arrives_once() {
    let mut world = World::new().await;
    let record = message("msg_kill_1");
    world
        .messages
        .create(&NewMessage { record: record.clone(), idempotency_key: None, body_hash: "h".into() })
        .await
        .unwrap();
    let details =
        TransitionDetails { wamid: Some("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjAA".into()), ..Default::default() };
    let moved = world.messages.transition_from(&record, MessageState::Sent, at("2026-12-03T10:00:01Z"), details).await;
    assert!(matches!(moved, Ok(Moved::Yes(_))), "{moved:?}");

    // The state is written; its event waits in the stream. The publisher dies before the bus.
    let batch = outbox_records(&mut world.reader).await;
    assert_eq!(batch.records.len(), 1, "one move, one outbox item: {batch:?}");
    let sequence = batch.records[0].dynamodb.sequence_number.clone();
    let failed = handle(&world.publisher(false), batch.clone(), Timestamp::now()).await;
    assert_eq!(failed.batch_item_failures.len(), 1);
    assert_eq!(failed.batch_item_failures[0].item_identifier, sequence, "Lambda goes on from this record");
    assert!(world.received().await.is_empty(), "nothing reached the bus");

    // The stream delivers the record again; now it goes out, once.
    let done = handle(&world.publisher(true), batch, Timestamp::now()).await;
    assert!(done.batch_item_failures.is_empty(), "{done:?}");
    let received = world.received().await;
    assert_eq!(received.len(), 1, "{received:#?}");
    let event = &received[0];
    assert_eq!(
        (event["source"].as_str(), event["detail-type"].as_str()),
        (Some("polite"), Some("message.state_changed"))
    );
    let detail = &event["detail"];
    assert_eq!((detail["message_id"].as_str(), detail["state"].as_str()), (Some("msg_kill_1"), Some("sent")));
    assert_eq!(detail["contact"]["wa_id"], "5511987654321");
    assert_eq!(event["time"], "2026-12-03T10:00:01Z", "the event's time is the fact's");
    // Published: the outbox keeps the id, no longer the person.
    let id = detail["id"].as_str().unwrap();
    assert_eq!(world.outbox_detail(id).await, None);

    // Meta's duplicated and late statuses move nothing: no new outbox item, no event.
    let sent = StatusUpdate::plain(StatusValue::Sent, at("2026-12-03T10:00:01Z"));
    world.messages.apply_status("msg_kill_1", &sent).await.unwrap();
    world.messages.apply_status("msg_kill_1", &sent).await.unwrap();
    assert!(outbox_records(&mut world.reader).await.records.is_empty());
    // A real move is one more.
    let read = StatusUpdate::plain(StatusValue::Read, at("2026-12-03T10:05:00Z"));
    world.messages.apply_status("msg_kill_1", &read).await.unwrap();
    world.messages.apply_status("msg_kill_1", &read).await.unwrap();
    let batch = outbox_records(&mut world.reader).await;
    assert_eq!(batch.records.len(), 1);
    assert!(handle(&world.publisher(true), batch, Timestamp::now()).await.batch_item_failures.is_empty());
    let received = world.received().await;
    assert_eq!(received.iter().map(|e| e["detail"]["state"].as_str().unwrap()).collect::<Vec<_>>(), ["read"]);
}
