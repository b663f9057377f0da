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
use polite_domain::campaign::{
    self, AUDIENCE_CHUNK, AudienceSource, CAMPAIGN_CANCELLED, CAMPAIGN_PAUSED, CampaignChunk, CampaignRecord,
    CampaignReport, CampaignStatus, Control, NewCampaign, PAUSED_CHUNK_RECHECK, Personalised, RESUME_CHUNK, Reader,
    StatusChange, ValidCampaign,
};
use polite_domain::gate::candidate_zones;
use polite_domain::local_time::{LOCAL_TIME_PASSED, LocalSlot};
use polite_domain::message::{MessageState, TransitionDetails};
use polite_domain::ports::{
    AudienceFiles, CampaignCompletion, CampaignStore, ContactReader, CreateError, EventQueue, MessageIntake,
    MessageMoves, MessageReader, StoreError,
};
use polite_domain::record::Moved;
use polite_domain::request::Invalid;
use polite_domain::request::QUEUE_LEASE;
use polite_domain::zone::IanaZone;

use super::{Job, Scheduler, prepare};

/// How long a fan-out may hold a chunk before another may take it over.
pub const CHUNK_LEASE: SignedDuration = SignedDuration::from_mins(5);

/// Messages created (or moved by a pause, resume or cancellation) at once.
const CREATE_CONCURRENCY: usize = 16;

/// The chunk that carries on a resume ([`RESUME_CHUNK`]: no recipients of its own).
fn resume_chunk() -> CampaignChunk {
    CampaignChunk { index: RESUME_CHUNK, first_position: 0, recipients: Vec::new(), reader: None }
}

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

impl<M, C, Q, T, A> Scheduler<M, C, Q, T, A>
where
    A: AudienceFiles + Sync,
    T: polite_domain::ports::TemplateReader + Sync,
    M: MessageIntake + MessageReader + MessageMoves + CampaignStore + CampaignCompletion + Sync,
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
        if let Some(file) = &campaign.audience {
            self.audiences.reads_from(&file.bucket).map_err(|problem| Invalid { field: "audience.s3", problem })?;
        }
        let shape = self.template_of(&campaign.payload).await.and_then(|t| t.shape);
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
        let chunks = match &campaign.audience {
            // One reader, reading the file a part at a time.
            Some(_) => vec![CampaignChunk {
                index: AUDIENCE_CHUNK,
                first_position: 0,
                recipients: Vec::new(),
                reader: Some(Reader::default()),
            }],
            None => campaign::chunks(&ready.recipients, self.campaigns.chunk_size),
        };
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
            status: CampaignStatus::Active,
            audience: campaign.audience.clone().map(|file| AudienceSource { file, read: 0, done: false }),
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

    /// Pauses, resumes or cancels a campaign, then does within `budget` what that means for
    /// the messages already created (the tick and the sender see to the rest):
    ///
    /// - **pause**: nothing here — the fan-out stops at the next chunk, and the sender parks
    ///   each of the campaign's messages that comes due (`scheduled`, [`CAMPAIGN_PAUSED`]).
    /// - **resume**: the parked messages are queued again at once, and the fan-out goes on.
    /// - **cancel**: every message not yet handed to Meta ends `cancelled`
    ///   ([`CAMPAIGN_CANCELLED`]), and the recipients not yet fanned out get a `cancelled`
    ///   message each, so the counts add up to `accepted`.
    ///
    /// # Errors
    /// [`StoreError`] when the table fails (the status may already be set: asking again is
    /// safe).
    pub async fn control(
        &self,
        campaign_id: &str,
        control: Control,
        budget: Duration,
        now: Timestamp,
    ) -> Result<Controlled, StoreError> {
        let started = Instant::now();
        let record = match self.messages.set_campaign_status(campaign_id, control.from(), control.to()).await? {
            StatusChange::Changed(record) => record,
            StatusChange::Refused(status) => return Ok(Controlled::Refused(status)),
            StatusChange::Unknown => return Ok(Controlled::Unknown),
        };
        tracing::info!(campaign_id, status = control.to().as_str(), "campaign status set");
        let moved = match control {
            Control::Pause => 0,
            Control::Resume => self.resume_sweep(&record, started + budget, now).await?.0,
            Control::Cancel => self.sweep(campaign_id, control, started + budget, now).await?.0,
        };
        if control != Control::Pause {
            self.fan_out_within(&record, budget.saturating_sub(started.elapsed()), now).await;
        }
        let report = self.report(campaign_id).await?.ok_or_else(|| StoreError::Corrupt("campaign vanished".into()))?;
        Ok(Controlled::Done { report: Box::new(report), moved })
    }

    /// Carries on a resume the request could not finish ([`RESUME_CHUNK`]) until `deadline`:
    /// claims it (so two ticks do not sweep at once), queues the parked messages, and takes it
    /// off the due index once none is left — or when the campaign is no longer active (a new
    /// pause parks its messages again; a cancellation sweeps them itself). Out of time, it is
    /// due again at once, for the next tick; failed, it comes back when its lease runs out.
    /// Returns how many messages it queued.
    ///
    /// # Errors
    /// [`StoreError`] when the table fails (the lease brings the work back).
    pub async fn resume_until(
        &self,
        campaign_id: &str,
        deadline: Instant,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let Some((campaign, _)) = self.messages.claim_chunk(campaign_id, RESUME_CHUNK, now, now + CHUNK_LEASE).await?
        else {
            return Ok(0);
        };
        let status = self.messages.campaign_status(campaign_id).await?;
        if status != Some(CampaignStatus::Active) {
            tracing::info!(campaign_id, "resume left: the campaign is no longer active");
            self.messages.finish_chunk(campaign_id, RESUME_CHUNK).await?;
            return Ok(0);
        }
        let (moved, finished) = self.resume_sweep(&campaign, deadline, now).await?;
        if finished {
            self.messages.finish_chunk(campaign_id, RESUME_CHUNK).await?;
        }
        tracing::info!(campaign_id, moved, finished, "resume carried on");
        Ok(moved)
    }

    /// Queues the campaign's parked messages until `deadline`. What it does not reach is left
    /// to the next tick: the resume's chunk goes on the due index at once (replacing, and so
    /// ending, a tick's claim on it) — not at a lease's end, minutes past a resumed morning's
    /// window. Returns how many it queued, and whether it reached them all.
    async fn resume_sweep(
        &self,
        campaign: &CampaignRecord,
        deadline: Instant,
        now: Timestamp,
    ) -> Result<(usize, bool), StoreError> {
        let (moved, finished) = self.sweep(&campaign.id, Control::Resume, deadline, now).await?;
        if !finished {
            self.messages.schedule_chunk(campaign, &resume_chunk(), now).await?;
        }
        Ok((moved, finished))
    }

    /// The campaign's waiting messages, page by page until `deadline`: queued again when
    /// resuming (only those a pause parked), cancelled when cancelling. Returns how many moved,
    /// and whether it went through them all (else `deadline` cut it short).
    /// The index may lag: each move is conditional on the message's state, and the sender
    /// checks the campaign's status before each message anyway.
    async fn sweep(
        &self,
        campaign_id: &str,
        control: Control,
        deadline: Instant,
        now: Timestamp,
    ) -> Result<(usize, bool), StoreError> {
        let states: &[MessageState] = match control {
            Control::Resume => &[MessageState::Scheduled],
            Control::Pause | Control::Cancel => {
                &[MessageState::Scheduled, MessageState::Queued, MessageState::Deferred]
            }
        };
        let mut moved = 0;
        for state in states {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .messages
                    .campaign_messages(campaign_id, Some(*state), cursor.as_deref(), self.campaigns.sweep_page.max(1))
                    .await?;
                let picked = page
                    .messages
                    .into_iter()
                    .filter(|m| control != Control::Resume || m.reason.as_deref() == Some(CAMPAIGN_PAUSED));
                let results: Vec<Result<Option<Option<Job>>, StoreError>> = futures_util::stream::iter(picked)
                    .map(|m| self.sweep_one(m.id, control, now))
                    .buffer_unordered(CREATE_CONCURRENCY)
                    .collect()
                    .await;
                let mut jobs = Vec::new();
                for result in results {
                    if let Some(job) = result? {
                        jobs.extend(job);
                        moved += 1;
                    }
                }
                if !jobs.is_empty() {
                    self.enqueue(jobs, now).await;
                }
                match page.next {
                    Some(next) if Instant::now() < deadline => cursor = Some(next),
                    Some(_) => {
                        tracing::info!(
                            campaign_id,
                            "campaign sweep cut short; the tick and the sender see to the rest"
                        );
                        return Ok((moved, false));
                    }
                    None => break,
                }
            }
        }
        Ok((moved, true))
    }

    /// One message of the sweep: `Some` when it moved (with its job when it was queued).
    async fn sweep_one(&self, id: String, control: Control, now: Timestamp) -> Result<Option<Option<Job>>, StoreError> {
        let (from, to, details) = match control {
            Control::Resume => (
                vec![MessageState::Scheduled],
                MessageState::Queued,
                TransitionDetails { due_at: Some(now + QUEUE_LEASE), ..TransitionDetails::default() },
            ),
            Control::Pause | Control::Cancel => (
                MessageState::ALL.into_iter().filter(|s| s.is_cancellable()).collect(),
                MessageState::Cancelled,
                TransitionDetails { reason: Some(CAMPAIGN_CANCELLED.into()), ..TransitionDetails::default() },
            ),
        };
        Ok(match self.messages.transition(&id, &from, to, now, details).await? {
            Moved::Yes(record) => Some(Job::of(&record)),
            Moved::No(_) => None,
        })
    }

    /// Fans out the campaign's chunks in order until `budget` is spent (checked before each
    /// chunk); the tick does the rest. Returns what was fanned out.
    ///
    /// A campaign to a file is left to the tick whole: one part is up to
    /// [`polite_domain::audience_file::PART_LINES`] recipients' messages, more work than a
    /// request should wait for.
    pub async fn fan_out_within(&self, campaign: &CampaignRecord, budget: Duration, now: Timestamp) -> FanOut {
        let started = Instant::now();
        if campaign.audience.is_some() {
            return FanOut::default();
        }
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

    /// Reads the campaign's audience file part after part until `deadline` (checked before
    /// each part), the file's end, or a failure (the reader's lease brings it back). Returns
    /// what was fanned out and how many parts.
    pub async fn read_file_until(&self, campaign_id: &str, deadline: Instant, now: Timestamp) -> (FanOut, usize) {
        let mut total = FanOut::default();
        let mut parts = 0;
        while Instant::now() < deadline {
            match self.fan_out(campaign_id, AUDIENCE_CHUNK, now).await {
                Ok(Some(done)) => {
                    total += done;
                    parts += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(campaign_id, error = %e, "reading the audience file stopped; its lease brings it back");
                    break;
                }
            }
        }
        (total, parts)
    }

    /// Claims one chunk and creates its recipients' messages; `None` when the chunk is not
    /// due (another fan-out holds it) or already done.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the chunk's lease brings it back.
    ///
    /// A paused campaign's chunk is put back for [`PAUSED_CHUNK_RECHECK`] without fanning out;
    /// a cancelled campaign's recipients each get a `cancelled` message (the counts still add
    /// up to `accepted`, and each recipient is in the report once).
    pub async fn fan_out(&self, campaign_id: &str, index: u32, now: Timestamp) -> Result<Option<FanOut>, StoreError> {
        let status = self.messages.campaign_status(campaign_id).await?.unwrap_or_default();
        if status == CampaignStatus::Paused {
            if self.messages.claim_chunk(campaign_id, index, now, now + PAUSED_CHUNK_RECHECK).await?.is_some() {
                tracing::info!(campaign_id, chunk = index, "campaign paused: chunk waits");
            }
            return Ok(None);
        }
        let Some((mut campaign, chunk)) = self.messages.claim_chunk(campaign_id, index, now, now + CHUNK_LEASE).await?
        else {
            return Ok(None);
        };
        // The chunk holds the campaign as created; its status is the campaign item's.
        campaign.status = status;
        if let Some(reader) = chunk.reader {
            return self.read_next_part(&campaign, reader, now).await.map(Some);
        }
        // One template for the whole chunk: the registry is read once.
        let governing = self.governing_category(&campaign.payload, now).await;
        let Batch { report, .. } =
            self.create_batch(&campaign, chunk.recipients, chunk.first_position, false, governing, now).await?;
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

    /// Creates the messages of `recipients`, the first at place `first` of the campaign's pace,
    /// and queues those that are `queued`. Each body is the campaign's id — or, `by_place`,
    /// `<campaign id>#<place>`, so a place read again is the same message and another place
    /// naming the same person is a repeat ([`Batch::repeats`]).
    ///
    /// # Errors
    /// [`StoreError`] when a message could not be created (those created are queued first).
    pub(super) async fn create_batch(
        &self,
        campaign: &CampaignRecord,
        recipients: Vec<Recipient>,
        first: usize,
        by_place: bool,
        governing: Option<polite_domain::message::Category>,
        now: Timestamp,
    ) -> Result<Batch, StoreError> {
        let results: Vec<Result<Option<Created>, StoreError>> =
            futures_util::stream::iter(recipients.into_iter().enumerate())
                .map(|(offset, to)| {
                    let place = first.saturating_add(offset);
                    let body = if by_place { format!("{}#{place}", campaign.id) } else { campaign.id.clone() };
                    self.create_for(campaign, to, place, body, governing, now)
                })
                .buffer_unordered(CREATE_CONCURRENCY)
                .collect()
                .await;
        let mut batch = Batch::default();
        let mut jobs = Vec::new();
        let mut failure = None;
        for result in results {
            match result {
                // An interrupted fan-out may have stopped before queueing an existing one; a
                // second queue message is harmless (the sender claims conditionally).
                Ok(Some(Created { new, job })) => {
                    if new {
                        batch.report.created += 1;
                    } else {
                        batch.report.existing += 1;
                    }
                    jobs.extend(job);
                }
                Ok(None) => batch.repeats += 1,
                Err(e) => failure = Some(e),
            }
        }
        batch.report.queue_failures = if jobs.is_empty() { 0 } else { self.enqueue(jobs, now).await };
        match failure {
            Some(e) => Err(e),
            None => Ok(batch),
        }
    }

    /// Creates the recipient's message (idempotent on `<campaign id>:<contact>` with
    /// `body_hash`); `None` when that key holds a message of another body (another line of an
    /// audience file naming the same person, or a caller reusing the key shape).
    async fn create_for(
        &self,
        campaign: &CampaignRecord,
        recipient: Recipient,
        position: usize,
        body_hash: String,
        governing: Option<polite_domain::message::Category>,
        now: Timestamp,
    ) -> Result<Option<Created>, StoreError> {
        let masked = recipient.to.masked();
        let local = campaign.deliver_at_local.is_some() && campaign.status != CampaignStatus::Cancelled;
        let zones = if local { self.zones_of(&recipient.to).await? } else { Vec::new() };
        let (send_at, passed) = match campaign.send_at_for(&recipient.to, position, &zones) {
            LocalSlot::At(at) => (at, false),
            LocalSlot::Passed => (now, true),
        };
        // Created, then ended at once: counted like every recipient, never sent.
        let ending = if campaign.status == CampaignStatus::Cancelled {
            Some((MessageState::Cancelled, CAMPAIGN_CANCELLED))
        } else if passed {
            Some((MessageState::Suppressed, LOCAL_TIME_PASSED))
        } else {
            None
        };
        let mut new = prepare(campaign.message_at(recipient, send_at), body_hash, now);
        new.record.govern(governing);
        match self.messages.create(&new).await {
            Ok(stored) => {
                let created = stored.id == new.record.id;
                let Some((state, reason)) = ending else {
                    return Ok(Some(Created { new: created, job: Job::of(&stored) }));
                };
                if stored.state.is_cancellable() {
                    let details = TransitionDetails { reason: Some(reason.into()), ..TransitionDetails::default() };
                    self.messages.transition_from(&stored, state, now, details).await?;
                }
                Ok(Some(Created { new: created, job: None }))
            }
            Err(CreateError::IdempotencyConflict) => {
                tracing::info!(campaign_id = %campaign.id, to = %masked, "the recipient's campaign key holds another message; skipped");
                Ok(None)
            }
            Err(CreateError::Store(e)) => Err(e),
        }
    }
}

impl<M, C, Q, T, A> Scheduler<M, C, Q, T, A>
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

/// What a pause, resume or cancellation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Controlled {
    /// The campaign as it is now, and how many of its messages moved at once (parked ones
    /// queued again, or waiting ones cancelled).
    Done {
        report: Box<CampaignReport>,
        moved: usize,
    },
    /// Its status does not allow it (a cancelled campaign is not paused or resumed): 409.
    Refused(CampaignStatus),
    Unknown,
}

/// A recipient's message: created now, or by an earlier (interrupted) fan-out; its job when
/// it is still `queued`.
struct Created {
    new: bool,
    job: Option<Job>,
}

/// What creating a batch of recipients' messages did.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) report: FanOut,
    /// Recipients whose message key holds another message (another place naming the same
    /// person, or a caller reusing the key shape): none created for them.
    pub(super) repeats: usize,
}
