//! The template registry's use cases: a template change from a webhook applied to its
//! record, and Meta's whole list loaded into the registry (template-registry runs both).
//! Each aspect of a record (status, category, quality) moves only forward in time
//! ([`polite_domain::template::TemplateRecord::apply`]), so redelivered and reordered updates
//! change nothing twice, and a list read a minute ago never undoes a webhook from a second ago.

use jiff::Timestamp;
use metrics::counter;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::ports::{StoreError, TemplateCatalog, TemplateStore};
use polite_domain::template::{CatalogError, UnreadableChange};
use polite_domain::webhook::{EventType, WebhookEvent};

/// Pages read from Meta's list at most in one load (100 templates each: far more than any
/// business has; a bound so a paging bug cannot loop).
pub const MAX_PAGES: usize = 100;

/// What the handler needs; `catalog` is `None` when no WABA id is configured (webhooks only).
#[derive(Debug)]
pub struct Registry<S, C> {
    pub store: S,
    pub catalog: Option<C>,
}

/// Why a change could not be applied, or the list not loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
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
