//! The event sources AWS runs for polite, done locally: an SQS poller per queue consumer with
//! Lambda's partial-batch semantics, and the scheduler's ticker.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::lambda::Lambda;

/// How long one receive waits for messages (SQS long polling).
const WAIT_SECONDS: i32 = 1;

/// One queue feeding one function, as an event source mapping with `ReportBatchItemFailures`.
#[derive(Debug, Clone)]
pub struct Poller {
    pub function: String,
    pub queue_url: String,
    pub batch_size: u32,
}

impl Poller {
    /// Receives batches until `stop` turns true; each batch is one invocation. Records the
    /// function reports as failed, and the whole batch when the invocation fails, are left on
    /// the queue: they come back after the visibility timeout and go to the DLQ after
    /// `maxReceiveCount`, as in AWS. The others are deleted.
    pub async fn run(self, sqs: aws_sdk_sqs::Client, lambda: Lambda, mut stop: watch::Receiver<bool>) {
        let arn = match polite_adapters::provision::queue_arn(&sqs, &self.queue_url).await {
            Ok(arn) => arn,
            Err(e) => {
                tracing::error!(function = %self.function, error = format!("{e:#}"), "poller cannot start");
                return;
            }
        };
        while !*stop.borrow() {
            let batch = i32::try_from(self.batch_size.clamp(1, 10)).unwrap_or(10);
            let Some(messages) = receive(&sqs, &self.queue_url, batch, &mut stop, &self.function).await else { return };
            if messages.is_empty() {
                continue;
            }
            if let Err(e) = self.deliver(&sqs, &lambda, &arn, messages).await {
                tracing::warn!(function = %self.function, error = format!("{e:#}"), "batch left on the queue");
            }
        }
    }

    async fn deliver(
        &self,
        sqs: &aws_sdk_sqs::Client,
        lambda: &Lambda,
        arn: &str,
        messages: Vec<aws_sdk_sqs::types::Message>,
    ) -> anyhow::Result<()> {
        let event = sqs_event(arn, &messages);
        let answer: Option<SqsBatchResponse> = lambda.invoke(&self.function, &event).await?;
        let failed: Vec<String> =
            answer.map(|a| a.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()).unwrap_or_default();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.message_id().is_some_and(|id| failed.iter().any(|f| f == id)))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if !failed.is_empty() {
            tracing::info!(function = %self.function, failed = failed.len(), "records reported failed stay on the queue");
        }
        if !done.is_empty() {
            sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(done)).send().await?;
        }
        Ok(())
    }
}

/// One long-polling receive of up to `max` messages (with their system attributes) from
/// `queue_url`; `None` once `stop` turns true. A failed receive is logged for `who` and comes
/// back empty after a second.
pub(crate) async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: i32,
    stop: &mut watch::Receiver<bool>,
    who: &str,
) -> Option<Vec<aws_sdk_sqs::types::Message>> {
    let receive = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max)
        .wait_time_seconds(WAIT_SECONDS)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send();
    let received = tokio::select! {
        r = receive => r,
        _ = stop.changed() => return None,
    };
    match received {
        Ok(out) => Some(out.messages.unwrap_or_default()),
        Err(e) => {
            tracing::warn!(who, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receive failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some(Vec::new())
        }
    }
}

/// The event Lambda's SQS event source sends for `messages`.
pub fn sqs_event(arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id.clone_from(&m.message_id);
            record.receipt_handle.clone_from(&m.receipt_handle);
            record.body.clone_from(&m.body);
            record.md5_of_body.clone_from(&m.md5_of_body);
            record.attributes = m
                .attributes()
                .map_or_else(HashMap::new, |a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect());
            record.event_source = Some("aws:sqs".to_owned());
            record.event_source_arn = Some(arn.to_owned());
            record.aws_region = Some("us-east-1".to_owned());
            record
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Invokes `function` with an EventBridge scheduled event every `every` until `stop`.
pub async fn tick(function: String, every: Duration, lambda: Lambda, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = lambda.invoke::<_, serde_json::Value>(&function, &scheduled_event()).await {
            tracing::warn!(function = %function, error = format!("{e:#}"), "tick failed");
        }
    }
}

/// What an EventBridge schedule delivers.
pub fn scheduled_event() -> EventBridgeEvent {
    let mut event = EventBridgeEvent::default();
    event.version = Some("0".to_owned());
    event.id = Some(format!("local-{}", jiff::Timestamp::now().as_millisecond()));
    "Scheduled Event".clone_into(&mut event.detail_type);
    "aws.events".clone_into(&mut event.source);
    event.account = Some("123456789012".to_owned());
    event.region = Some("us-east-1".to_owned());
    event.resources = Some(vec!["arn:aws:events:us-east-1:123456789012:rule/polite-tick".to_owned()]);
    event.detail = serde_json::json!({});
    event
}
