//! Small DynamoDB helpers the stores share: attribute values, error mapping, consistent reads,
//! and reading which items of a cancelled transaction failed their condition.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use polite_domain::ports::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: &impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A `pk`/`sk` key.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(crate) fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A strongly consistent GetItem.
pub(crate) async fn get_consistent(client: &Client, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| unavailable(e.into_service_error()))?;
    Ok(out.item)
}

/// An unconditional PutItem: the item replaces whatever was under its key.
pub(crate) async fn put_plain(client: &Client, table: &str, item: Item) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| unavailable(e.into_service_error()))?;
    Ok(())
}

/// For a cancelled transaction: per item, whether it failed its condition.
pub(crate) fn cancelled_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => {
            Some(c.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect())
        }
        _ => None,
    }
}

/// Whether a cancelled transaction failed only because another transaction was changing the
/// same items at that moment (`TransactionConflict`, e.g. a campaign counter shard under
/// concurrent fan-out): then the same transaction may simply be sent again.
pub(crate) fn conflicted_only<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            let codes: Vec<Option<&str>> = c.cancellation_reasons().iter().map(|r| r.code()).collect();
            codes.contains(&Some("TransactionConflict")) && !codes.contains(&Some("ConditionalCheckFailed"))
        }
        _ => false,
    }
}

/// TransactWriteItems, sent again (with jittered backoff) while DynamoDB cancels it only for
/// a conflict with a concurrent transaction; a failed condition or any other error is the
/// caller's to read.
pub(crate) async fn transact(
    client: &Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<(), SdkError<TransactWriteItemsError>> {
    let mut delays = crate::retry::delays(std::time::Duration::from_millis(20), 5);
    loop {
        match client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
            Ok(_) => return Ok(()),
            Err(e) if conflicted_only(&e) => match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// Sends an UpdateItem whose failed condition means "nothing to do" (a later time is already
/// recorded, the entry already left the index): `Ok(false)` then.
pub(crate) async fn update_unless_done(
    update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    match update.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) => Ok(false),
        Err(e) => Err(unavailable(e.into_service_error())),
    }
}

/// Sends a PutItem whose failed condition means "another writer moved it first": `Ok(false)`
/// then.
pub(crate) async fn put_unless_moved(
    put: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(PutItemError::is_conditional_check_failed_exception) => Ok(false),
        Err(e) => Err(unavailable(e.into_service_error())),
    }
}

/// Every item a query matches, across pages, read consistently.
pub(crate) async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    query
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| unavailable(e.into_service_error()))
}
