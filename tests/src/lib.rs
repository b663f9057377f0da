//! polite's integration-test harness. Tests in `tests/` use [`moto`] for a real local
//! DynamoDB + SQS endpoint and [`Stack::create`] for a fresh copy of the template's tables
//! and queues under a unique prefix, so tests run in parallel without seeing each other.

pub mod count;
pub mod moto;

pub use count::RequestCounter;
pub use moto::{Moto, Stack};

/// Receives (and deletes) every message waiting on `url`, in the order SQS hands them out.
/// moto has no eventual consistency, so one empty receive means the queue is empty.
///
/// # Errors
/// When a receive or delete call fails.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<Vec<String>> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0).send().await?;
        let batch = out.messages();
        if batch.is_empty() {
            return Ok(bodies);
        }
        for m in batch {
            bodies.extend(m.body().map(str::to_owned));
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message().queue_url(url).receipt_handle(handle).send().await?;
            }
        }
    }
}
