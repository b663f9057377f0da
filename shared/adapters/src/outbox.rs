//! The transactional outbox: an event goes into the table whose write makes it true, in the
//! same transaction, as the item `OUT#<event id>` / `EVENT`; the table's DynamoDB stream hands
//! each new one to event-publisher, which puts it on the EventBridge bus.
//!
//! The item's key is the event's stable id, so writing the same event again (Meta retries a
//! webhook, SQS redelivers a record) changes nothing — DynamoDB writes no stream record for a
//! put that changes no data — or, if a detail differs, is a `MODIFY`, which the publisher's
//! filter (`INSERT` only) leaves out: one fact, one publication. Items expire after
//! [`OUTBOX_TTL_SECONDS`] (their `REMOVE` records are filtered out too).
//!
//! Once an event is on the bus, the publisher drops its `detail` ([`Outboxes`]): what stays
//! until the TTL is the id (the marker a retried webhook finds), not the person it named — so
//! an erasure leaves no identity in an outbox beyond the seconds before publication.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use jiff::Timestamp;
use polite_domain::events::Event;
use polite_domain::ports::{PublishedEvents, StoreError};

use crate::dynamo::{Item, corrupt, key, n, s, unavailable, update_unless_done};

/// The outbox items' key prefix (the stream filter's `pk` prefix).
pub const PREFIX: &str = "OUT#";
/// Their sort key.
pub const SK: &str = "EVENT";
/// How long an outbox item stays (DynamoDB TTL): far longer than the stream's 24 h, so a
/// replayed redelivery finds it; a retry of the same fact within it publishes nothing more.
pub const OUTBOX_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// The stored attributes of an outbox item (besides `pk`/`sk`/`ttl`).
pub mod attrs {
    /// The event's `detail-type`.
    pub const DETAIL_TYPE: &str = "detail_type";
    /// The event's `detail`, as JSON text.
    pub const DETAIL: &str = "detail";
}

/// The outbox item of `event`, written at `at`, expiring through the table's TTL attribute
/// `ttl_attribute`.
///
/// # Errors
/// [`StoreError::Corrupt`] when the detail does not serialise (it always does).
pub fn item(event: &Event, at: Timestamp, ttl_attribute: &str) -> Result<Item, StoreError> {
    let mut item = key(format!("{PREFIX}{}", event.id()), SK);
    item.insert(attrs::DETAIL_TYPE.to_owned(), s(event.detail_type.as_str()));
    item.insert(attrs::DETAIL.to_owned(), s(serde_json::to_string(&event.detail).map_err(corrupt)?));
    item.insert(ttl_attribute.to_owned(), n(&(at.as_second() + OUTBOX_TTL_SECONDS)));
    Ok(item)
}

/// The put of `event`'s outbox item into `table`, for a transaction.
///
/// # Errors
/// As [`item`].
pub fn put(table: &str, ttl_attribute: &str, event: &Event, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item(event, at, ttl_attribute)?))
        .build()
        .map_err(unavailable)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Writes `event`'s outbox item on its own, once: for a fact that is already durable elsewhere
/// and whose writer retries until this succeeds (an inbound message: its SQS record stays
/// until the item is written). An item already there (a retried webhook) is left as it is.
///
/// # Errors
/// [`StoreError::Unavailable`] when DynamoDB fails.
pub async fn write(
    client: &aws_sdk_dynamodb::Client,
    (table, ttl_attribute): (&str, &str),
    event: &Event,
    at: Timestamp,
) -> Result<(), StoreError> {
    let put = client
        .put_item()
        .table_name(table)
        .set_item(Some(item(event, at, ttl_attribute)?))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(PutItemError::is_conditional_check_failed_exception) => Ok(()),
        Err(e) => Err(unavailable(e.into_service_error())),
    }
}

/// The outboxes of every table, as the publisher sees them.
#[derive(Debug, Clone)]
pub struct Outboxes {
    client: aws_sdk_dynamodb::Client,
}

impl Outboxes {
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        Self { client }
    }
}

impl PublishedEvents for Outboxes {
    async fn scrub(&self, table: &str, event_id: &str) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key(format!("{PREFIX}{event_id}"), SK)))
            .update_expression("REMOVE #detail")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#detail", attrs::DETAIL);
        // Gone already (its TTL): nothing to scrub.
        update_unless_done(update).await.map(|_| ())
    }
}
