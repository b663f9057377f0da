//! consent-updater: the contacts table's owner (the use case is [`polite_app::inbound`]).
//!
//! From **inbound-events** it applies what each webhook event means for a person
//! ([`polite_domain::inbound::interpret`]): the identities it shows together or moves, the
//! 24 h window of every user message, keyword and button opt-outs and opt-ins, WhatsApp's own
//! stop/resume/signup control — by whichever identity the person used —, the messages the
//! business sent from the WhatsApp Business app (echoes: into the person's send log, so caps
//! and spacing count them), and the consent changes other functions send (status-processor's 131050 opt-outs) through the very
//! same path. Every write is idempotent (ledger events have derived ids; inbound times only
//! move forward), so Meta's 7-day retries and SQS redeliveries change nothing twice, and the
//! ledger orders by event time, so an old event arriving late never overrides a newer one.
//!
//! It also reads consent imports from files on S3 (`POST /v1/consents:import` with `{"s3"}`),
//! one part per inbound-events message ([`polite_app::contacts::import_part`]).

pub mod config;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use polite_adapters::batch::{BatchError, process_batch};
use polite_app::contacts::{ImportError, Importer, import_part};
use polite_app::inbound::{UpdateError, Updater};
use polite_domain::consent_import::ImportNudge;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::ports::{
    AudienceFiles, ContactReader, ContactWriter, EventQueue, ImportStore, Outbox, ReportFiles, SendLog, WhatsAppApi,
};

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "consent-updater";

/// Records of one SQS batch handled at once (each touches its own contact, mostly).
pub const CONCURRENCY: usize = 10;

/// A record of the batch that failed (SQS retries it, then dead-letters it).
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// One SQS batch of inbound-events, with partial batch failures: only the records that failed
/// come back.
///
/// # Errors
/// [`BatchError`] when every record failed (the invocation fails and SQS retries it).
pub async fn handle<S, W, A, Q>(
    updater: &Updater<S, W>,
    importer: &Importer<A, Q>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, BatchError>
where
    S: ContactReader + ContactWriter + SendLog + Outbox + ImportStore + Sync,
    W: WhatsAppApi + Sync,
    A: AudienceFiles + ReportFiles + Sync,
    Q: EventQueue + Sync,
{
    process_batch(event, CONCURRENCY, |record| async move {
        let body = record.body.as_deref().ok_or(RecordError::NoBody)?;
        let now = polite_adapters::clock::now();
        let kind = envelope::kind_of(body)?;
        if kind == kinds::CONSENT_IMPORT_PART {
            let nudge: ImportNudge = envelope::decode(kinds::CONSENT_IMPORT_PART, body)?;
            import_part(&updater.store, &importer.files, &importer.queue, &nudge, now).await?;
            return Ok(());
        }
        updater.apply_kind(&kind, body, now).await.map_err(RecordError::from)
    })
    .await
}
