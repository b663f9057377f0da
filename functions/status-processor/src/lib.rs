//! status-processor: Meta's status webhooks — duplicated, out of order, up to days late —
//! become exact message states, campaign counts and pricing (docs/architecture.md, "Message
//! states"); the use case is [`polite_app::statuses`], this crate its SQS trigger.
//!
//! Each status-events record is one status element, as webhook-intake queued it. It is read
//! (`polite_domain::status::read`), matched to polite's message by `biz_opaque_callback_data`
//! (else by wamid), and applied through the status lattice in one conditional transaction
//! with the campaign counters (`StatusLedger::apply_status`), so any interleaving and
//! duplication of the same statuses ends in the same states and counts. Its error's effect on
//! the contact follows: 131050 → a marketing opt-out through consent-updater's rules (on
//! inbound-events), 131026 → the number is marked undeliverable for a while.
//!
//! A status's `pricing` is kept as Meta sent it, with polite's estimate of its cost from the
//! rate card (`polite_domain::pricing`); a priced service message draws on its business
//! number's monthly free allowance, counted in the same transaction.
//!
//! A status for a message polite does not know (another system on the same number) or for a
//! consent confirmation reply is counted and dropped knowingly; a status that cannot be read
//! fails its record, so SQS retries it and then moves it to the DLQ, where the alarm sees it.

pub mod config;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use polite_adapters::batch::{BatchError, process_batch};
use polite_app::statuses::Processor;
use polite_domain::ports::{DeliveryMarks, EventQueue, MessageReader, StatusLedger};

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "status-processor";

/// Records of one SQS batch handled at once.
pub const CONCURRENCY: usize = 10;

/// One SQS batch of status-events with partial batch failures.
///
/// # Errors
/// [`BatchError`] when every record failed.
pub async fn handle<M, C, Q>(processor: &Processor<M, C, Q>, event: SqsEvent) -> Result<SqsBatchResponse, BatchError>
where
    M: StatusLedger + MessageReader + Sync,
    C: DeliveryMarks + Sync,
    Q: EventQueue + Sync,
{
    process_batch(event, CONCURRENCY, |record| async move {
        let body = record.body.as_deref().unwrap_or_default();
        processor.process(body).await.map(|_| ())
    })
    .await
}
