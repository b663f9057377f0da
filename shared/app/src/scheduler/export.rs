//! A campaign's per-recipient report exported to S3 (`polite_domain::export`): the API starts
//! an export, the tick writes it a file at a time.
//!
//! Each step claims the export under a lease, writes one data file (a page of the campaign's
//! messages after the cursor) or, after the last, the manifest, and then moves the export with
//! one conditional write. A step that dies half-way leaves the export where it was; the lease
//! brings it back and the same file is written again from the same cursor, so every message is
//! in exactly one file. An export waits while the campaign's audience file is still being
//! read (its messages are not all there yet).

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use polite_domain::export::{EXPORT_PAGE, ExportFormat, ExportJob, render};
use polite_domain::message::MessageState;
use polite_domain::ports::{CampaignStore, ExportStore, MessageReader, ReportFiles, StoreError};

use super::Scheduler;

/// How long a step holds an export before another tick may take it.
pub const EXPORT_LEASE: SignedDuration = SignedDuration::from_mins(5);

/// How long an export waits for its campaign's audience file to be read.
pub const EXPORT_WAITS_FOR_AUDIENCE: SignedDuration = SignedDuration::from_mins(1);

/// Why an export was not started.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such campaign")]
    UnknownCampaign,
    /// The deployment has nowhere to write it.
    #[error("{0}")]
    NoBucket(String),
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// An export as the API shows it: the job, and where its files are.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportView {
    #[serde(flatten)]
    pub job: ExportJob,
    /// `s3://<bucket>/exports/<campaign>/<export>/`.
    pub location: String,
    /// The manifest's `s3://` address, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Wrote a file or the manifest.
    Moved,
    /// The campaign's audience is still being read: not yet.
    Waiting,
}

impl<M, C, Q, T, A> Scheduler<M, C, Q, T, A>
where
    A: ReportFiles + Sync,
    M: ExportStore + MessageReader + CampaignStore + Sync,
    C: Sync,
    Q: Sync,
    T: Sync,
{
    /// Starts an export of `campaign_id`'s report (the messages in `state`, or all), due for
    /// the tick at once.
    ///
    /// # Errors
    /// [`ExportError`]: an unknown campaign, no export bucket, or the store failing.
    pub async fn start_export(
        &self,
        campaign_id: &str,
        format: ExportFormat,
        state: Option<MessageState>,
        now: Timestamp,
    ) -> Result<ExportView, ExportError> {
        let bucket = self.audiences.export_bucket().map_err(ExportError::NoBucket)?.to_owned();
        if self.messages.campaign(campaign_id).await?.is_none() {
            return Err(ExportError::UnknownCampaign);
        }
        let id = format!("exp_{}", uuid::Uuid::now_v7().simple());
        let job = ExportJob::new(id, campaign_id, format, state, now);
        self.messages.create_export(&job).await?;
        tracing::info!(campaign_id, export_id = %job.id, "export started");
        Ok(view(job, &bucket))
    }

    /// The export `export_id` of `campaign_id`, as far as it has come.
    ///
    /// # Errors
    /// [`StoreError`] when the table cannot be read.
    pub async fn export_view(&self, campaign_id: &str, export_id: &str) -> Result<Option<ExportView>, StoreError> {
        let bucket = self.audiences.export_bucket().unwrap_or("");
        Ok(self.messages.export(campaign_id, export_id).await?.map(|job| view(job, bucket)))
    }

    /// Writes the export's files one step after another until `deadline` (checked before
    /// each), the end, or a failure (the lease brings it back). Returns the steps taken.
    pub async fn export_until(&self, campaign_id: &str, export_id: &str, deadline: Instant, now: Timestamp) -> usize {
        let mut steps = 0;
        while Instant::now() < deadline {
            match self.export_step(campaign_id, export_id, now).await {
                Ok(Some(Step::Moved)) => steps += 1,
                Ok(Some(Step::Waiting) | None) => break,
                Err(e) => {
                    tracing::warn!(campaign_id, export_id, error = %e, "export stopped; its lease brings it back");
                    break;
                }
            }
        }
        steps
    }

    /// Claims the export and writes its next file, or the manifest after the last; `None`
    /// when it is not due (another tick holds it) or done.
    async fn export_step(
        &self,
        campaign_id: &str,
        export_id: &str,
        now: Timestamp,
    ) -> Result<Option<Step>, StoreError> {
        let Some(job) = self.messages.claim_export(campaign_id, export_id, now, now + EXPORT_LEASE).await? else {
            return Ok(None);
        };
        let bucket = self.audiences.export_bucket().map_err(|e| StoreError::Unavailable(e.into()))?.to_owned();
        let next = if job.all_files {
            let manifest = job.manifest(&bucket, now).to_string().into_bytes();
            self.audiences.put_file(&job.manifest_key(), manifest, "application/json").await?;
            job.finished(now)
        } else {
            let reading = self.messages.campaign(campaign_id).await?.and_then(|c| c.audience).is_some_and(|a| !a.done);
            if reading {
                self.messages.advance_export(&job, &job, now + EXPORT_WAITS_FOR_AUDIENCE).await?;
                return Ok(Some(Step::Waiting));
            }
            let page =
                self.messages.campaign_messages(campaign_id, job.state, job.cursor.as_deref(), EXPORT_PAGE).await?;
            if page.messages.is_empty() && job.files > 0 {
                job.with_all_files()
            } else {
                let bytes = render(job.format, &page.messages).map_err(StoreError::Corrupt)?;
                self.audiences.put_file(&job.file_key(job.files), bytes, job.format.content_type()).await?;
                let last = page.messages.last().map(|m| m.id.clone());
                job.after_file(page.messages.len(), last, page.next.is_some())
            }
        };
        if !self.messages.advance_export(&job, &next, now).await? {
            tracing::info!(campaign_id, export_id, "the export had moved: another step wrote this file");
            return Ok(None);
        }
        tracing::info!(campaign_id, export_id, files = next.files, rows = next.rows, done = next.done, "export step");
        Ok(Some(Step::Moved))
    }
}

fn view(job: ExportJob, bucket: &str) -> ExportView {
    let location = format!("s3://{bucket}/{}", job.prefix());
    let manifest = job.done.then(|| format!("s3://{bucket}/{}", job.manifest_key()));
    ExportView { job, location, manifest }
}
