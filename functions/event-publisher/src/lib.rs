//! event-publisher: polite's events out (the use case is [`polite_app::publish`]; this crate
//! reads the tables' streams).
//!
//! Every write that makes a fact true puts its event in the same table and transaction (the
//! outbox, `polite_adapters::outbox`); the table's DynamoDB stream hands each new outbox item
//! here (the event source's filter passes only `INSERT`s of `OUT#` items), and this function
//! puts it on the EventBridge bus. A crash anywhere — before the publish, between two calls —
//! leaves the stream position where it was, and the records come again: an event is never
//! lost, and is delivered at least once (its `detail.id` de-duplicates).
//!
//! It also completes campaigns: a message of a campaign reaching a reported state may be its
//! last, so after publishing, each campaign named in the batch is checked
//! ([`CampaignCompletion::complete_if_done`]); `campaign.completed` then comes back through the
//! messages table's stream. Checking here rather than in the writer means a crash between a
//! message's last move and the check cannot skip it: the record is retried until both are done.

pub mod config;

use std::collections::HashMap;

use jiff::Timestamp;
use polite_adapters::outbox;
use polite_adapters::telemetry::counter;
use polite_app::publish::{OutboxEvent, Publisher};
use polite_domain::events::{DetailType, Event};
use polite_domain::ports::{CampaignCompletion, EventBus, PublishedEvents};
use serde::{Deserialize, Serialize};

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "event-publisher";

/// A DynamoDB stream batch, as Lambda delivers it (only what the publisher reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One stream record.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    /// `arn:…:table/<table>/stream/<label>`: the table whose outbox the item is in.
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: String,
    pub dynamodb: StreamChange,
}

/// The change a record describes.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "NewImage", default)]
    pub new_image: HashMap<String, Attribute>,
}

/// An attribute of the new image; the outbox's are strings.
#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    #[serde(rename = "S")]
    pub s: Option<String>,
}

/// The partial batch response of a stream event source (`ReportBatchItemFailures`): Lambda
/// goes on from the first record named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// A record to deliver again, by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl StreamRecord {
    /// The table the record's stream belongs to.
    pub fn table(&self) -> Option<&str> {
        self.event_source_arn.split('/').nth(1)
    }
}

/// One stream batch: its outbox events put on the bus in order, then the campaigns they name
/// checked for completion ([`Publisher::publish`]). On a failure, the response names the
/// first record not done, and Lambda delivers it and those after it again.
pub async fn handle<B, C, O>(publisher: &Publisher<B, C, O>, event: StreamEvent, now: Timestamp) -> StreamResponse
where
    B: EventBus + Sync,
    C: CampaignCompletion + Sync,
    O: PublishedEvents + Sync,
{
    let records: Vec<(&StreamRecord, Event)> = event.records.iter().filter_map(|r| decode(r).map(|e| (r, e))).collect();
    let items: Vec<OutboxEvent> =
        records.iter().map(|(r, e)| OutboxEvent { table: r.table().map(str::to_owned), event: e.clone() }).collect();
    let not_done = publisher.publish(&items, now).await;
    failure_at(not_done.and_then(|i| records.get(i)).map(|(r, _)| r.dynamodb.sequence_number.as_str()))
}

fn failure_at(sequence_number: Option<&str>) -> StreamResponse {
    StreamResponse {
        batch_item_failures: sequence_number
            .map(|s| ItemFailure { item_identifier: s.to_owned() })
            .into_iter()
            .collect(),
    }
}

/// The event of an outbox item's `INSERT`; anything else (the filter lets nothing else
/// through; a malformed item can never publish) is counted, logged and passed over, so it
/// cannot hold the stream up.
fn decode(record: &StreamRecord) -> Option<Event> {
    let image = &record.dynamodb.new_image;
    let text = |name: &str| image.get(name).and_then(|a| a.s.as_deref());
    let is_outbox = text("pk").is_some_and(|pk| pk.starts_with(outbox::PREFIX));
    if record.event_name != "INSERT" || !is_outbox {
        return None;
    }
    let detail_type = text(outbox::attrs::DETAIL_TYPE).and_then(DetailType::parse);
    let detail = text(outbox::attrs::DETAIL).and_then(|d| serde_json::from_str(d).ok());
    if let (Some(detail_type), Some(detail)) = (detail_type, detail) {
        return Some(Event { detail_type, detail });
    }
    counter!("EventsUndecodable").increment(1);
    tracing::error!(sequence = record.dynamodb.sequence_number, "an outbox item that is not an event; skipped");
    None
}
