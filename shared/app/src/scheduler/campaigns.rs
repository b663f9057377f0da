//! Campaigns: accepted whole in one write, then fanned out chunk by chunk into ordinary
//! messages (`polite_domain::campaign`).
//!
//! `POST /v1/campaigns` stores the campaign with its chunks (each due for fan-out at once)
//! and fans out as many chunks as fit in its time budget; the tick fans out the rest within a
//! minute. Whoever fans a chunk out first claims it with a conditional write and a lease; a
//! fan-out that stops half-way (a timeout, a crash) is picked up again when the lease runs
//! out, and the per-recipient idempotency keys make the second pass create nothing twice.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use jiff::{SignedDuration, Timestamp};
use polite_domain::audience::Recipient;
use polite_domain::campaign::NewCampaign;
use polite_domain::campaign::{self, CampaignRecord, CampaignReport, Personalised, ValidCampaign};
use polite_domain::gate::candidate_zones;
use polite_domain::local_time::{LOCAL_TIME_PASSED, LocalSlot};
use polite_domain::message::{MessageState, TransitionDetails};
use polite_domain::ports::{
    CampaignStore, ContactReader, CreateError, EventQueue, MessageIntake, MessageMoves, MessageReader, StoreError,
};
use polite_domain::request::Invalid;
use polite_domain::zone::IanaZone;

use super::{Job, Scheduler, prepare};

/// How long a fan-out may hold a chunk before another may take it over.
pub const CHUNK_LEASE: SignedDuration = SignedDuration::from_mins(5);

/// Messages created at once while fanning out a chunk.
const CREATE_CONCURRENCY: usize = 16;

/// A new campaign id: `cmp_` + a UUIDv7.
pub fn new_campaign_id() -> String {
    format!("cmp_{}", uuid::Uuid::now_v7().simple())
}

/// What fanning out one chunk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FanOut {
    /// Messages created.
    pub created: usize,
    /// Recipients whose message an earlier (interrupted) fan-out had already created.
    pub existing: usize,
    /// Messages created but not put on send-queue (the tick queues them).
    pub queue_failures: usize,
}

impl std::ops::AddAssign for FanOut {
    fn add_assign(&mut self, other: Self) {
        self.created += other.created;
        self.existing += other.existing;
        self.queue_failures += other.queue_failures;
    }
}

impl<M, C, Q, T> Scheduler<M, C, Q, T>
where
    T: polite_domain::ports::TemplateReader + Sync,
    M: MessageIntake + MessageReader + MessageMoves + CampaignStore + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
{
    /// Fills each recipient's values into the campaign's template, checked against the
    /// template's variables as the registry knows them (when it does not, or cannot be read,
    /// the values are filled by their keys and Meta checks them when each message goes).
    ///
    /// # Errors
    /// [`Invalid`] when no recipient is left, or they would take more than a campaign stores.
    pub async fn personalise(&self, campaign: &ValidCampaign) -> Result<Personalised, Invalid> {
        let shape = match campaign.payload.template_key() {
            Some(key) => match self.templates.template(&key).await {
                Ok(record) => record.and_then(|r| r.shape),
                Err(e) => {
                    tracing::warn!(template = %key, error = %e, "template registry unreadable; parameters go unchecked");
                    None
                }
            },
            None => None,
        };
        campaign.personalise(shape.as_ref())
    }

    /// Stores a checked campaign with its personalised recipients (all chunks at once). An
    /// idempotent replay returns the campaign the key first created.
    ///
    /// # Errors
    /// [`CreateError`]: the key was used with another body, or the store failed (then
    /// nothing was stored).
    pub async fn create_campaign(
        &self,
        campaign: &ValidCampaign,
        ready: &Personalised,
        body_hash: String,
        now: Timestamp,
    ) -> Result<CampaignRecord, CreateError> {
        let chunks = campaign::chunks(&ready.recipients, self.campaigns.chunk_size);
        let record = CampaignRecord {
            id: new_campaign_id(),
            name: campaign.name.clone(),
            category: campaign.category,
            payload: campaign.payload.clone(),
            send_at: campaign.send_at,
            expires_at: campaign.expires_at,
            deliver_at_local: campaign.deliver_at_local,
            start_at: campaign.send_at.map_or(now, |s| s.max(now)),
            per_second: self.campaigns.per_second,
            max_per_minute: campaign.max_per_minute,
            accepted: ready.recipients.len(),
            rejected: ready.rejected.len(),
            chunks: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            created_at: now,
        };
        let new = NewCampaign { record, chunks, idempotency_key: campaign.idempotency_key.clone(), body_hash };
        let stored = self.messages.create_campaign(&new).await?;
        tracing::info!(
            campaign_id = %stored.id,
            accepted = stored.accepted,
            rejected = stored.rejected,
            replay = stored.id != new.record.id,
            "campaign accepted"
        );
        Ok(stored)
    }

    /// What `GET /v1/campaigns/{id}` shows: the campaign (when created by
    /// `POST /v1/campaigns`) and its counters, read together. `None` when polite knows
    /// nothing by that id.
    ///
    /// # Errors
    /// [`StoreError`] when the table fails.
    pub async fn report(&self, campaign_id: &str) -> Result<Option<CampaignReport>, StoreError> {
        let (record, tally) =
            tokio::try_join!(self.messages.campaign(campaign_id), self.messages.campaign_tally(campaign_id))?;
        Ok(CampaignReport::new(campaign_id, record, tally))
    }

    /// Fans out the campaign's chunks in order until `budget` is spent (checked before each
    /// chunk); the tick does the rest. Returns what was fanned out.
    pub async fn fan_out_within(&self, campaign: &CampaignRecord, budget: Duration, now: Timestamp) -> FanOut {
        let started = Instant::now();
        let mut total = FanOut::default();
        for index in 0..campaign.chunks {
            if started.elapsed() >= budget {
                tracing::info!(campaign_id = %campaign.id, next_chunk = index, "fan-out continues on the tick");
                break;
            }
            match self.fan_out(&campaign.id, index, now).await {
                Ok(Some(done)) => total += done,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(campaign_id = %campaign.id, chunk = index, error = %e, "fan-out stopped; the tick continues it");
                    break;
                }
            }
        }
        total
    }

    /// Claims one chunk and creates its recipients' messages; `None` when the chunk is not
    /// due (another fan-out holds it) or already done.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the chunk's lease brings it back.
    pub async fn fan_out(&self, campaign_id: &str, index: u32, now: Timestamp) -> Result<Option<FanOut>, StoreError> {
        let Some((campaign, chunk)) = self.messages.claim_chunk(campaign_id, index, now, now + CHUNK_LEASE).await?
        else {
            return Ok(None);
        };
        let first = chunk.first_position;
        // One template for the whole chunk: the registry is read once.
        let governing = self.governing_category(&campaign.payload, now).await;
        let results: Vec<Result<Option<Created>, StoreError>> =
            futures_util::stream::iter(chunk.recipients.into_iter().enumerate())
                .map(|(offset, to)| self.create_for(&campaign, to, first + offset, governing, now))
                .buffer_unordered(CREATE_CONCURRENCY)
                .collect()
                .await;
        let mut report = FanOut::default();
        let mut jobs = Vec::new();
        let mut failure = None;
        for result in results {
            match result {
                // An interrupted fan-out may have stopped before queueing an existing one; a
                // second queue message is harmless (the sender claims conditionally).
                Ok(Some(Created { new, job })) => {
                    if new {
                        report.created += 1;
                    } else {
                        report.existing += 1;
                    }
                    jobs.extend(job);
                }
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        report.queue_failures = if jobs.is_empty() { 0 } else { self.enqueue(jobs, now).await };
        if let Some(e) = failure {
            return Err(e);
        }
        self.messages.finish_chunk(campaign_id, index).await?;
        tracing::info!(
            campaign_id,
            chunk = index,
            created = report.created,
            existing = report.existing,
            queue_failures = report.queue_failures,
            "chunk fanned out"
        );
        Ok(Some(report))
    }

    async fn create_for(
        &self,
        campaign: &CampaignRecord,
        recipient: Recipient,
        position: usize,
        governing: Option<polite_domain::message::Category>,
        now: Timestamp,
    ) -> Result<Option<Created>, StoreError> {
        let masked = recipient.to.masked();
        let zones = if campaign.deliver_at_local.is_some() { self.zones_of(&recipient.to).await? } else { Vec::new() };
        let (send_at, passed) = match campaign.send_at_for(&recipient.to, position, &zones) {
            LocalSlot::At(at) => (at, false),
            // Created, then suppressed at once: counted like every recipient, never sent.
            LocalSlot::Passed => (now, true),
        };
        let mut new = prepare(campaign.message_at(recipient, send_at), campaign.id.clone(), now);
        new.record.govern(governing);
        match self.messages.create(&new).await {
            Ok(stored) if passed => {
                if stored.state.is_cancellable() {
                    let details =
                        TransitionDetails { reason: Some(LOCAL_TIME_PASSED.into()), ..TransitionDetails::default() };
                    self.messages.transition_from(&stored, MessageState::Suppressed, now, details).await?;
                }
                Ok(Some(Created { new: stored.id == new.record.id, job: None }))
            }
            Ok(stored) => Ok(Some(Created { new: stored.id == new.record.id, job: Job::of(&stored) })),
            Err(CreateError::IdempotencyConflict) => {
                // Only a caller reusing a campaign's key shape on /v1/messages gets here.
                tracing::warn!(campaign_id = %campaign.id, to = %masked, "the recipient's campaign key holds another message; skipped");
                Ok(None)
            }
            Err(CreateError::Store(e)) => Err(e),
        }
    }
}

impl<M, C, Q, T> Scheduler<M, C, Q, T>
where
    C: ContactReader + Sync,
{
    /// The zones a recipient's local time is read in: their own zone when they set one, else
    /// the zones their reference may be in (as quiet hours are judged).
    ///
    /// # Errors
    /// [`StoreError`] when the contacts table fails (the chunk's lease brings it back).
    async fn zones_of(&self, to: &polite_domain::ContactRef) -> Result<Vec<IanaZone>, StoreError> {
        let own = self.contacts.get(to).await?.and_then(|c| c.timezone);
        Ok(match own {
            Some(zone) => vec![zone],
            None => candidate_zones(to).0.into_owned(),
        })
    }
}

/// A recipient's message: created now, or by an earlier (interrupted) fan-out; its job when
/// it is still `queued`.
struct Created {
    new: bool,
    job: Option<Job>,
}
