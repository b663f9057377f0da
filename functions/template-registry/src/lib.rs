//! template-registry: the business's templates as Meta last described them.
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
use polite_adapters::telemetry::counter;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::ports::{StoreError, TemplateCatalog, TemplateStore};
use polite_domain::template::CatalogError;
use polite_domain::template::UnreadableChange;
use polite_domain::webhook::{EventType, WebhookEvent};
use serde_json::Value;

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "template-registry";

/// Records of one SQS batch handled at once.
pub const CONCURRENCY: usize = 4;

/// Pages read from Meta's list at most in one load (100 templates each: far more than any
/// business has; a bound so a paging bug cannot loop).
pub const MAX_PAGES: usize = 100;

/// What the handler needs; `catalog` is `None` when no WABA id is configured (webhooks only).
#[derive(Debug)]
pub struct Registry<S, C> {
    pub store: S,
    pub catalog: Option<C>,
}

/// Why a record failed (it is retried by SQS, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("a '{0}' event does not belong on template-events")]
    UnexpectedKind(&'static str),
    #[error("the template change does not read: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the template registry failed")]
    Store(#[from] StoreError),
    #[error("no WABA id is configured, so there is no template list to load")]
    NoCatalog,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("Meta's template list has more than {MAX_PAGES} pages")]
    TooManyPages,
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
    /// Templates in Meta's list.
    pub listed: usize,
    /// Of those, records that changed.
    pub changed: usize,
}

impl<S: TemplateStore + Sync, C: TemplateCatalog + Sync> Registry<S, C> {
    /// One invocation: an SQS batch of template changes, or a load (a scheduled event, or
    /// `{"load": true}` from the command line).
    ///
    /// # Errors
    /// When every record of a batch failed, or a load failed.
    pub async fn handle(&self, event: Value, now: Timestamp) -> Result<Value, RegistryError> {
        if event.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event)?;
            let answer = self.handle_batch(batch).await?;
            return Ok(serde_json::to_value(answer)?);
        }
        if self.catalog.is_none() {
            // The schedule runs whatever the configuration: without a WABA id there is nothing
            // to load, and that is not an error.
            tracing::debug!("no WABA id configured: the registry follows the template webhooks only");
            return Ok(serde_json::json!({"loaded": false}));
        }
        let loaded = self.load(now).await?;
        Ok(serde_json::json!({"loaded": true, "listed": loaded.listed, "changed": loaded.changed}))
    }

    /// One SQS batch, with partial batch failures.
    ///
    /// # Errors
    /// [`BatchError`] when every record failed.
    pub async fn handle_batch(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        process_batch(event, CONCURRENCY, |record| async move {
            let body = record.body.as_deref().ok_or(RegistryError::NoBody)?;
            self.apply_record(body).await
        })
        .await
    }

    /// One queue message: a template change from webhook-intake.
    ///
    /// # Errors
    /// [`RegistryError`] when the message cannot be read or the store fails.
    pub async fn apply_record(&self, body: &str) -> Result<(), RegistryError> {
        let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, body)?;
        if event.kind != EventType::Template {
            return Err(RegistryError::UnexpectedKind(event.kind.as_str()));
        }
        let change = event.template_change()?;
        let update = match change.update(event.entry_time.unwrap_or(event.received_at)) {
            Ok(update) => update,
            Err(why) => {
                let reason = match why {
                    UnreadableChange::NoTemplate => "no_template",
                    UnreadableChange::NothingToApply => "nothing_to_apply",
                };
                counter!("TemplateChanges", "result" => reason).increment(1);
                tracing::info!(reason, "template change with nothing for the registry");
                return Ok(());
            }
        };
        let changed = self.store.apply_template(&update).await?;
        let result = if changed { "applied" } else { "unchanged" };
        counter!("TemplateChanges", "result" => result).increment(1);
        tracing::info!(
            template = %update.key,
            status = update.status.as_deref(),
            category = update.category.map(polite_domain::message::Category::as_str),
            pending_category = update.pending_category.map(|p| p.category.as_str()),
            quality = update.quality.as_deref(),
            result,
            "template change"
        );
        Ok(())
    }

    /// Reads Meta's whole list into the registry, then records the load.
    ///
    /// # Errors
    /// [`RegistryError`] when there is no list to read, Meta refuses, or the store fails.
    pub async fn load(&self, now: Timestamp) -> Result<Loaded, RegistryError> {
        let catalog = self.catalog.as_ref().ok_or(RegistryError::NoCatalog)?;
        let mut after: Option<String> = None;
        let mut loaded = Loaded { listed: 0, changed: 0 };
        for _ in 0..MAX_PAGES {
            let page = catalog.page(after.as_deref()).await?;
            for listed in &page.templates {
                loaded.listed += 1;
                if self.store.apply_template(&listed.update(now)).await? {
                    loaded.changed += 1;
                }
            }
            if page.after.is_none() {
                self.store.mark_loaded(now).await?;
                counter!("TemplateLoads", "result" => "complete").increment(1);
                tracing::info!(listed = loaded.listed, changed = loaded.changed, "template list loaded");
                return Ok(loaded);
            }
            after = page.after;
        }
        counter!("TemplateLoads", "result" => "too_many_pages").increment(1);
        Err(RegistryError::TooManyPages)
    }
}
