//! DynamoDB streams and the event bus, locally: what Lambda's stream event source mapping and
//! an EventBridge rule do for polite in AWS.
//!
//! - [`StreamReader`] reads a table's stream from moto (its one shard, from the start), with
//!   raw DynamoDB Streams calls: the records come back as the JSON a Lambda stream event
//!   carries, which typed SDK values would only have to be turned back into.
//! - [`StreamPoller`] feeds a function from a reader as an event source mapping with
//!   `ReportBatchItemFailures` does: records matching the mapping's filters, in order, in
//!   batches; a failed invocation is retried with the same batch, a reported failure from that
//!   record on; the position moves only past what the function did.
//! - [`DevEvents`] is the dev stack's view of the bus: a rule sends every polite event to a
//!   queue, and the router's `GET /_dev/events` lists what arrived, newest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::lambda::Lambda;

/// One table's stream on moto.
#[derive(Debug, Clone)]
pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    arn: String,
    iterator: String,
}

impl StreamReader {
    /// The stream of `table` on the moto at `endpoint`, from its first record.
    ///
    /// # Errors
    /// When the table has no stream or moto does not answer.
    pub async fn open(endpoint: &str, table: &str) -> anyhow::Result<StreamReader> {
        let http = reqwest::Client::new();
        let described = call(&http, endpoint, "DynamoDB_20120810.DescribeTable", &json!({"TableName": table})).await?;
        let arn = described["Table"]["LatestStreamArn"]
            .as_str()
            .ok_or_else(|| anyhow!("table {table} has no stream"))?
            .to_owned();
        let stream =
            call(&http, endpoint, "DynamoDBStreams_20120810.DescribeStream", &json!({"StreamArn": arn})).await?;
        let shard = stream["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .ok_or_else(|| anyhow!("the stream of {table} has no shard"))?
            .to_owned();
        let request = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
        let iterator = call(&http, endpoint, "DynamoDBStreams_20120810.GetShardIterator", &request).await?;
        let iterator = iterator["ShardIterator"].as_str().ok_or_else(|| anyhow!("no shard iterator"))?.to_owned();
        Ok(StreamReader { http, endpoint: endpoint.to_owned(), arn, iterator })
    }

    /// The stream's ARN (the records' `eventSourceARN`).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The records written since the last call, as a Lambda stream event carries them.
    ///
    /// # Errors
    /// When moto does not answer.
    pub async fn next(&mut self) -> anyhow::Result<Vec<Value>> {
        let request = json!({"ShardIterator": self.iterator, "Limit": 1000});
        let mut out = call(&self.http, &self.endpoint, "DynamoDBStreams_20120810.GetRecords", &request).await?;
        if let Some(next) = out["NextShardIterator"].as_str() {
            next.clone_into(&mut self.iterator);
        }
        let mut records = match out["Records"].take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        };
        for record in &mut records {
            record["eventSourceARN"] = json!(self.arn);
        }
        Ok(records)
    }
}

/// One AWS JSON-protocol call to moto (it routes by `X-Amz-Target`; any credentials do).
async fn call(http: &reqwest::Client, endpoint: &str, target: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(endpoint)
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("X-Amz-Target", target)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("{target} on {endpoint}"))?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{target}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Whether `record` matches an EventBridge-style filter `pattern` (the subset event source
/// filters use: objects nest, an array lists accepted values or `{"prefix": …}` matchers).
pub fn matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(key, want)| matches(want, &record[key.as_str()])),
        Value::Array(options) => options.iter().any(|option| match option {
            Value::Object(m) if m.contains_key("prefix") => {
                record.as_str().zip(m["prefix"].as_str()).is_some_and(|(s, p)| s.starts_with(p))
            }
            other => other == record,
        }),
        other => other == record,
    }
}

/// A stream feeding a function, as an event source mapping.
#[derive(Debug)]
pub struct StreamPoller {
    pub function: String,
    pub reader: StreamReader,
    pub batch_size: u32,
    /// The mapping's filter patterns (none: every record).
    pub filters: Vec<Value>,
}

impl StreamPoller {
    /// Polls until `stop` turns true.
    pub async fn run(mut self, lambda: Lambda, mut stop: watch::Receiver<bool>) {
        let mut pending: VecDeque<Value> = VecDeque::new();
        while !*stop.borrow() {
            if pending.is_empty() {
                match self.reader.next().await {
                    Ok(records) => pending.extend(
                        records
                            .into_iter()
                            .filter(|r| self.filters.is_empty() || self.filters.iter().any(|f| matches(f, r))),
                    ),
                    Err(e) => tracing::warn!(function = %self.function, error = format!("{e:#}"), "stream read failed"),
                }
            }
            if pending.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            let size = usize::try_from(self.batch_size).unwrap_or(100).clamp(1, pending.len());
            let batch: Vec<Value> = pending.iter().take(size).cloned().collect();
            let done = self.deliver(&lambda, &batch).await;
            pending.drain(..done);
            if done < batch.len() {
                // Lambda retries from the first record not done.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// Invokes the function with `batch`; how many records of it are done.
    async fn deliver(&self, lambda: &Lambda, batch: &[Value]) -> usize {
        let event = json!({"Records": batch});
        match lambda.invoke::<_, Value>(&self.function, &event).await {
            Ok(answer) => {
                let failed = answer["batchItemFailures"][0]["itemIdentifier"].as_str();
                let Some(failed) = failed else { return batch.len() };
                tracing::info!(function = %self.function, "a record reported failed: the stream goes on from it");
                batch.iter().position(|r| r["dynamodb"]["SequenceNumber"] == failed).unwrap_or(0)
            }
            Err(e) => {
                tracing::warn!(function = %self.function, error = format!("{e:#}"), "the batch is retried");
                0
            }
        }
    }
}

/// The events that reached the dev stack's queue on the bus, oldest first.
#[derive(Debug, Clone, Default)]
pub struct DevEvents {
    events: Arc<Mutex<Vec<Value>>>,
}

impl DevEvents {
    /// The events (each as an EventBridge target receives it), newest first, only those of
    /// `detail_type` when given.
    pub fn list(&self, detail_type: Option<&str>) -> Vec<Value> {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events.into_iter().rev().filter(|e| detail_type.is_none_or(|t| e["detail-type"] == t)).collect()
    }

    /// Moves what arrives on `queue_url` into the list until `stop` turns true.
    pub async fn collect(self, sqs: aws_sdk_sqs::Client, queue_url: String, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let Some(messages) = crate::events::receive(&sqs, &queue_url, 10, &mut stop, "dev events").await else {
                return;
            };
            let mut done = Vec::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                if let Some(event) = m.body().and_then(|b| serde_json::from_str::<Value>(b).ok())
                    && let Ok(mut events) = self.events.lock()
                {
                    events.push(event);
                }
                done.extend(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle.clone())
                        .build()
                        .ok(),
                );
            }
            // One call for the batch (each event is one more request on the stack's moto).
            if !done.is_empty() {
                let _ = sqs.delete_message_batch().queue_url(&queue_url).set_entries(Some(done)).send().await;
            }
        }
    }
}

/// The dev stack's rule on `bus`: every polite event to a new queue `<prefix>-DevEvents`,
/// whose URL it returns.
///
/// # Errors
/// When moto refuses a call.
pub async fn route_bus_to_queue(sdk: &aws_config::SdkConfig, bus: &str, prefix: &str) -> anyhow::Result<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let url = sqs.create_queue().queue_name(format!("{prefix}-DevEvents")).send().await?;
    let url = url.queue_url().ok_or_else(|| anyhow!("CreateQueue returned no URL"))?.to_owned();
    let arn = polite_adapters::provision::queue_arn(&sqs, &url).await?;
    let pattern = json!({"source": [polite_domain::events::SOURCE]}).to_string();
    events.put_rule().name(format!("{prefix}-dev-events")).event_bus_name(bus).event_pattern(pattern).send().await?;
    let target = aws_sdk_eventbridge::types::Target::builder().id("dev-events").arn(arn).build()?;
    events.put_targets().rule(format!("{prefix}-dev-events")).event_bus_name(bus).targets(target).send().await?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_the_event_source_mapping_s_do() {
        let pattern = json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUT#"}]}}}});
        let record = |name: &str, pk: &str| json!({"eventName": name, "dynamodb": {"Keys": {"pk": {"S": pk}}}});
        assert!(matches(&pattern, &record("INSERT", "OUT#evt_1")));
        assert!(!matches(&pattern, &record("MODIFY", "OUT#evt_1")), "a re-put is not published again");
        assert!(!matches(&pattern, &record("INSERT", "M#msg_1")), "only outbox items");
        assert!(!matches(&pattern, &json!({"eventName": "INSERT"})));
    }
}
