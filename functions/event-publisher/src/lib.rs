//! event-publisher: polite's events out.
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
//! ([`CampaignStore::complete_if_done`]); `campaign.completed` then comes back through the
//! messages table's stream. Checking here rather than in the writer means a crash between a
//! message's last move and the check cannot skip it: the record is retried until both are done.

pub mod config;

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use polite_adapters::outbox;
use polite_adapters::telemetry::counter;
use polite_domain::events::{DetailType, Event};
use polite_domain::ports::{BusError, CampaignStore, EventBus, PublishedEvents};
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

/// What the handler needs: the bus, the campaigns to complete, and the outboxes to scrub.
#[derive(Debug)]
pub struct Publisher<B, C, O> {
    pub bus: B,
    pub campaigns: C,
    pub outboxes: O,
}

impl<B: EventBus + Sync, C: CampaignStore + Sync, O: PublishedEvents + Sync> Publisher<B, C, O> {
    /// One stream batch: its events put on the bus in order, then the campaigns they name
    /// checked for completion. On a failure, the response names the first record not done,
    /// and Lambda delivers it and those after it again.
    pub async fn handle(&self, event: StreamEvent, now: Timestamp) -> StreamResponse {
        let records: Vec<(&StreamRecord, Event)> =
            event.records.iter().filter_map(|r| decode(r).map(|e| (r, e))).collect();
        let sequence = |i: usize| records.get(i).map(|(r, _)| r.dynamodb.sequence_number.as_str());
        let events: Vec<Event> = records.iter().map(|(_, e)| e.clone()).collect();
        if let Err(e) = self.bus.put(&events).await {
            let first = match &e {
                BusError::Partial { failed, .. } => failed.iter().min().copied().unwrap_or(0),
                BusError::Unavailable(_) => 0,
            };
            tracing::error!(error = %e, failed_from = first, "events not put on the bus; the stream delivers them again");
            counter!("EventsNotPublished").increment(u64::try_from(events.len() - first).unwrap_or(0));
            return failure_at(sequence(first));
        }
        // On the bus: the outboxes keep the ids, not the persons (all at once). A failure
        // loses nothing (the item expires in days); it is counted.
        let scrubs = records.iter().filter_map(|(record, e)| {
            counter!("EventsPublished", "detail_type" => e.detail_type.as_str()).increment(1);
            record.table().map(|table| self.outboxes.scrub(table, e.id()))
        });
        for err in futures_util::future::join_all(scrubs).await.into_iter().filter_map(Result::err) {
            counter!("OutboxNotScrubbed").increment(1);
            tracing::warn!(error = %err, "a published event's detail stays in the outbox until it expires");
        }
        // Each campaign once, at the position of its first event in the batch.
        let mut campaigns: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if let (DetailType::MessageStateChanged, Some(id)) = (e.detail_type, e.detail["campaign_id"].as_str()) {
                campaigns.entry(id).or_insert(i);
            }
        }
        let mut retry_from: Option<usize> = None;
        for (campaign, position) in campaigns {
            match self.campaigns.complete_if_done(campaign, now).await {
                Ok(true) => tracing::info!(campaign, "campaign completed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(campaign, error = %e, "campaign completion not checked; the stream delivers it again");
                    retry_from = Some(retry_from.map_or(position, |p| p.min(position)));
                }
            }
        }
        match retry_from {
            Some(i) => failure_at(sequence(i)),
            None => StreamResponse::default(),
        }
    }
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
