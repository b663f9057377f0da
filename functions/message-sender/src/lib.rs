//! message-sender: consumes send-queue and sends each message at most once, only when the gate
//! says so *at send time* (the use case is [`polite_app::sending`]; this crate its SQS trigger).
//!
//! For each job: read the message and the recipient (strongly consistent: an opt-out recorded a
//! moment ago counts), run `polite_domain::gate::decide`, and act — `Expire`, `Suppress` and
//! `Defer` become message states with reasons (a deferral of ≤ 15 min goes back on the queue
//! with a delay, a longer one back to the table as `scheduled`); `Send` claims the message with
//! a conditional `queued|deferred → sending` write *before* calling Meta, so a redelivered or
//! duplicated job can never send twice. What follows the Graph API's answer is
//! `polite_domain::sending::after_send`.

pub mod config;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use polite_adapters::batch::{BatchError, process_batch, receive_count};
use polite_app::sending::{SendJobError, Sender};
use polite_domain::ports::{
    ContactReader, DeliveryMarks, EventQueue, MessageMoves, MessageReader, SendLog, TemplateReader, WhatsAppApi,
};

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "message-sender";

/// Records of one batch handled at once.
pub const CONCURRENCY: usize = 10;

/// A record of the batch that failed (SQS delivers it again).
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    Job(#[from] SendJobError),
}

/// One SQS batch of send-queue with partial batch failures.
///
/// # Errors
/// [`BatchError`] when every record failed.
pub async fn handle<M, C, Q, W, T>(
    sender: &Sender<M, C, Q, W, T>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, BatchError>
where
    M: MessageReader + MessageMoves + Sync,
    C: ContactReader + DeliveryMarks + SendLog + Sync,
    Q: EventQueue + Sync,
    W: WhatsAppApi + Sync,
    T: TemplateReader + Sync,
{
    process_batch(event, CONCURRENCY, |record| async move {
        let body = record.body.as_deref().ok_or(RecordError::NoBody)?;
        let receives = receive_count(&record);
        sender
            .process_received(body, receives, polite_adapters::clock::now())
            .await
            .map(|_| ())
            .map_err(RecordError::from)
    })
    .await
}
