//! SQS: SendMessageBatch in chunks of 10 with per-entry failure handling.
//!
//! SendMessageBatch takes at most 10 entries whose bodies total at most 256 KiB, and can succeed for some and fail for others.
//! Entries that failed through no fault of the sender are retried (jittered backoff, a few
//! attempts); entries the queue refused (`SenderFault`, e.g. `DelaySeconds` over 900) are not,
//! and both kinds are reported by id so the caller can answer 5xx (webhook) or fail exactly
//! those records (consumers).

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use polite_domain::ports::{EventQueue, FailedEntry, MAX_MESSAGE_BYTES, QueueError, QueueMessage};

/// SQS's limit on entries per SendMessageBatch call.
pub const MAX_BATCH: usize = 10;
/// Attempts per entry for transient failures.
const ATTEMPTS: usize = 4;

/// One SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// A queue by URL, on a client built once at init.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One cheap call (`GetQueueAttributes`: QueueArn) during init: resolves credentials and
    /// opens the TLS connection, so the first event does not pay for either.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the queue cannot be reached.
    pub async fn warm_up(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(Box::new(e)))
    }

    /// Sends one chunk (≤ 10); returns the entries to retry and those refused for good.
    async fn send_chunk(&self, chunk: &[QueueMessage]) -> Result<(Vec<QueueMessage>, Vec<FailedEntry>), QueueError> {
        let entries = chunk
            .iter()
            .map(|m| {
                SendMessageBatchRequestEntry::builder()
                    .id(&m.id)
                    .message_body(&m.body)
                    .delay_seconds(i32::try_from(m.delay_seconds).unwrap_or(i32::MAX))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Unavailable(Box::new(e)))?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(Box::new(e)))?;
        let mut retry = Vec::new();
        let mut refused = Vec::new();
        for failure in out.failed() {
            let Some(original) = chunk.iter().find(|m| m.id == failure.id()) else { continue };
            if failure.sender_fault() {
                let reason = format!("{}: {}", failure.code(), failure.message().unwrap_or_default());
                refused.push(FailedEntry { id: failure.id().to_owned(), reason });
            } else {
                retry.push(original.clone());
            }
        }
        Ok((retry, refused))
    }
}

/// Consecutive runs of at most [`MAX_BATCH`] messages and [`MAX_MESSAGE_BYTES`] bytes (each
/// message already fits on its own).
fn batches(messages: &[QueueMessage]) -> Vec<&[QueueMessage]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, m) in messages.iter().enumerate() {
        if i - start == MAX_BATCH || bytes + m.body.len() > MAX_MESSAGE_BYTES {
            out.push(&messages[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += m.body.len();
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

impl EventQueue for SqsQueue {
    async fn send_all(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        // 50 ms, 100 ms, 200 ms (jittered): enough to ride out SQS throttling inside a
        // webhook's few-second budget (Meta retries the whole POST if we answer 5xx anyway).
        let mut delays = crate::retry::delays(Duration::from_millis(50), ATTEMPTS - 1);
        let mut refused = Vec::new();
        let mut pending = messages;
        let mut reached = false;
        let mut last_error = None;
        loop {
            let mut retry = Vec::new();
            let (fit, too_big): (Vec<QueueMessage>, Vec<QueueMessage>) =
                pending.into_iter().partition(|m| m.body.len() <= MAX_MESSAGE_BYTES);
            refused.extend(too_big.into_iter().map(|m| FailedEntry {
                reason: format!("the body is {} bytes; SQS takes at most {MAX_MESSAGE_BYTES}", m.body.len()),
                id: m.id,
            }));
            for chunk in batches(&fit) {
                match self.send_chunk(chunk).await {
                    Ok((again, bad)) => {
                        reached = true;
                        retry.extend(again);
                        refused.extend(bad);
                    }
                    // The whole call failed (throttled, network): every entry is retried.
                    Err(e) => {
                        tracing::warn!(error = %e, entries = chunk.len(), "SendMessageBatch failed");
                        retry.extend(chunk.iter().cloned());
                        last_error = Some(e);
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                break;
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        if let (false, Some(e)) = (reached, last_error) {
            return Err(e);
        }
        refused.extend(
            pending.into_iter().map(|m| FailedEntry { id: m.id, reason: "still failing after retries".into() }),
        );
        if refused.is_empty() { Ok(()) } else { Err(QueueError::Partial { failed: refused }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(sizes: &[usize]) -> Vec<QueueMessage> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| QueueMessage { id: i.to_string(), body: "x".repeat(*n), delay_seconds: 0 })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        let many = messages(&[10; 25]);
        assert_eq!(batches(&many).iter().map(|b| b.len()).collect::<Vec<_>>(), [10, 10, 5]);

        let big = messages(&[100_000, 100_000, 100_000, 10, MAX_MESSAGE_BYTES]);
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(batches(&big).iter().all(|b| b.iter().map(|m| m.body.len()).sum::<usize>() <= MAX_MESSAGE_BYTES));
        assert!(batches(&[]).is_empty());
    }
}
