//! Partial batch failures for SQS consumers, with the semantics of Powertools' batch utility:
//! each record is handled on its own (concurrently, bounded); the response names exactly the
//! records that failed, so SQS redelivers only those; and the invocation itself fails only
//! when every record failed (then nothing was achieved and Lambda's own retry/backoff applies).

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;
use futures_util::stream;

/// Why a whole batch is reported as failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Every record failed; the first error is kept (the others are in the logs).
    #[error("all {count} records failed; first: {first}")]
    AllFailed { count: usize, first: String },
    /// A record had no message id, so its failure could not be reported precisely. Failing
    /// the invocation makes SQS redeliver the batch rather than lose the record.
    #[error("a record has no messageId; the whole batch is failed so nothing is lost")]
    MissingMessageId,
}

/// Which delivery of the record this is (SQS's `ApproximateReceiveCount`; 1 when absent).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// Runs `handler` over every record, at most `concurrency` at a time, and reports failures.
///
/// # Errors
/// [`BatchError::AllFailed`] when every record failed; [`BatchError::MissingMessageId`] when a
/// failed record cannot be named.
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handler: F,
) -> Result<SqsBatchResponse, BatchError>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let total = event.records.len();
    let results: Vec<(Option<String>, Result<(), E>)> = stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone();
            let fut = handler(record);
            async move { (id, fut.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let mut failures = Vec::new();
    let mut first_error = None;
    for (id, result) in results {
        let Err(e) = result else { continue };
        tracing::warn!(message_id = id.as_deref().unwrap_or("<none>"), error = %e, "record failed");
        first_error.get_or_insert_with(|| e.to_string());
        failures.push(id.ok_or(BatchError::MissingMessageId)?);
    }
    if total > 0 && failures.len() == total {
        return Err(BatchError::AllFailed { count: total, first: first_error.unwrap_or_default() });
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[Option<&str>]) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = ids
            .iter()
            .map(|id| {
                let mut m = SqsMessage::default();
                m.message_id = id.map(str::to_owned);
                m.body = id.map(|i| format!("body-{i}"));
                m
            })
            .collect();
        e
    }

    async fn fail_odd(m: SqsMessage) -> Result<(), String> {
        let body = m.body.unwrap_or_default();
        if body.ends_with('1') || body.ends_with('3') { Err(format!("bad {body}")) } else { Ok(()) }
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        let mut ids: Vec<&str> = r.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn the_receive_count_is_sqss_attribute_and_one_when_it_is_missing_or_odd() {
        let mut m = SqsMessage::default();
        assert_eq!(receive_count(&m), 1);
        m.attributes.insert("ApproximateReceiveCount".into(), "5".into());
        assert_eq!(receive_count(&m), 5);
        m.attributes.insert("ApproximateReceiveCount".into(), "five".into());
        assert_eq!(receive_count(&m), 1);
    }

    #[tokio::test]
    async fn partial_batch_reports_exactly_the_failed_message_ids() {
        let ids = [Some("m0"), Some("m1"), Some("m2"), Some("m3"), Some("m4")];
        let response = process_batch(event(&ids), 3, fail_odd).await.unwrap();
        assert_eq!(failed_ids(&response), ["m1", "m3"]);
    }

    #[tokio::test]
    async fn a_fully_successful_batch_reports_no_failures() {
        let response = process_batch(event(&[Some("m0"), Some("m2")]), 2, fail_odd).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn when_every_record_fails_the_invocation_fails() {
        let err = process_batch(event(&[Some("m1"), Some("m3")]), 2, fail_odd).await.unwrap_err();
        assert!(matches!(err, BatchError::AllFailed { count: 2, .. }), "{err}");
    }

    #[tokio::test]
    async fn a_failed_record_without_an_id_fails_the_batch_instead_of_reporting_empty() {
        let mut e = event(&[Some("m0"), Some("m1")]);
        e.records[1].message_id = None;
        let err = process_batch(e, 2, fail_odd).await.unwrap_err();
        assert!(matches!(err, BatchError::MissingMessageId));
    }

    #[tokio::test]
    async fn an_empty_batch_is_a_success() {
        let response = process_batch(event(&[]), 2, fail_odd).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn records_run_concurrently_up_to_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let ids: Vec<Option<&str>> = (0..8).map(|_| Some("m0")).collect();
        let handler = |_m: SqsMessage| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), String>(())
            }
        };
        process_batch(event(&ids), 4, handler).await.unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }
}
