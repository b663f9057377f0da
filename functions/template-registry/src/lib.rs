//! template-registry: the business's templates as Meta last described them (the use cases
//! are [`polite_app::templates`]).
//!
//! Two triggers, one job. From **template-events** (webhook-intake queues every
//! `message_template_status_update`, `template_category_update` and
//! `message_template_quality_update` change there) it applies each change to the template's
//! record; on a **schedule** (and on demand: invoke it with `{"load": true}`) it reads Meta's
//! whole list (`GET /<WABA_ID>/message_templates`, page by page) into the registry and records
//! the load. Each aspect of a record (status, category, quality) moves only forward in time
//! ([`polite_domain::template::TemplateRecord::apply`]), so redelivered and reordered updates
//! change nothing twice, and a list read a minute ago never undoes a webhook from a second ago.
//!
//! message-sender, messages-api and scheduler-tick read the registry: the category Meta last set governs a
//! template message, and a paused or disabled template holds its messages.

pub mod config;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use jiff::Timestamp;
use polite_adapters::batch::{BatchError, process_batch};
use polite_app::templates::{Registry, RegistryError};
use polite_domain::ports::{TemplateCatalog, TemplateStore};
use serde_json::Value;

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "template-registry";

/// Records of one SQS batch handled at once.
pub const CONCURRENCY: usize = 4;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("the event does not read: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// A record of the batch that failed (SQS retries it, then dead-letters it).
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One invocation: an SQS batch of template changes, or a load (a scheduled event, or
/// `{"load": true}` from the command line).
///
/// # Errors
/// When every record of a batch failed, or a load failed.
pub async fn handle<S, C>(registry: &Registry<S, C>, event: Value, now: Timestamp) -> Result<Value, InvocationError>
where
    S: TemplateStore + Sync,
    C: TemplateCatalog + Sync,
{
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let answer = handle_batch(registry, batch).await?;
        return Ok(serde_json::to_value(answer)?);
    }
    if registry.catalog.is_none() {
        // The schedule runs whatever the configuration: without a WABA id there is nothing
        // to load, and that is not an error.
        tracing::debug!("no WABA id configured: the registry follows the template webhooks only");
        return Ok(serde_json::json!({"loaded": false}));
    }
    let loaded = registry.load(now).await?;
    Ok(serde_json::json!({"loaded": true, "listed": loaded.listed, "changed": loaded.changed}))
}

/// One SQS batch, with partial batch failures.
///
/// # Errors
/// [`BatchError`] when every record failed.
pub async fn handle_batch<S, C>(registry: &Registry<S, C>, event: SqsEvent) -> Result<SqsBatchResponse, BatchError>
where
    S: TemplateStore + Sync,
    C: TemplateCatalog + Sync,
{
    process_batch(event, CONCURRENCY, |record| async move {
        let body = record.body.as_deref().ok_or(RecordError::NoBody)?;
        registry.apply_record(body).await.map_err(RecordError::from)
    })
    .await
}
