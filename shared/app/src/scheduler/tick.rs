//! The scheduler tick (EventBridge, every minute): releases `scheduled` messages that came
//! due, re-queues `queued`/`deferred` ones whose lease ran out (their queue message was
//! lost, or enqueueing failed), and fans out campaign chunks the API left (or a fan-out that
//! stopped half-way), within a time budget.
//!
//! Each due message moves with a conditional write before it is queued, so two overlapping
//! ticks never release the same message twice; queue messages go out in SendMessageBatch calls
//! of 10.

use std::time::Instant;

use futures_util::StreamExt as _;
use jiff::Timestamp;
use metrics::counter;
use polite_domain::campaign::{AUDIENCE_CHUNK, RESUME_CHUNK};
use polite_domain::message::MessageState;
use polite_domain::message::{DUE_SHARDS, Due, TransitionDetails};
use polite_domain::ports::{
    CampaignCompletion, CampaignStore, ContactReader, DueIndex, EventQueue, ExportStore, MessageIntake, MessageMoves,
    MessageReader, ReportFiles, TemplateReader,
};
use polite_domain::record::Moved;
use polite_domain::request::QUEUE_LEASE;

use super::campaigns::FanOut;
use super::{Job, Scheduler};

/// Due entries read per shard per tick; the rest wait for the next tick (16 shards × 500 =
/// 8 000 releases a minute — above the default 80 messages/s the senders drain).
pub const PER_SHARD: i32 = 500;

/// Shards read at once.
const CONCURRENCY: usize = 8;

/// How long a record that could not be read or released waits before the tick tries it
/// again (an operator fixes or removes it meanwhile; the alarm says so).
pub const SET_ASIDE_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    /// `scheduled → queued`.
    pub released: usize,
    /// Lease expired: queued again.
    pub requeued: usize,
    /// Another tick (or a cancellation, or the sender) got there first.
    pub skipped: usize,
    /// Moved but not queued (the lease brings them back).
    pub queue_failures: usize,
    /// Records that could not be read or released: logged by id, counted in the
    /// `TickRecordsSetAside` metric (alarmed) and looked at again only after [`SET_ASIDE_FOR`],
    /// so one bad record never holds up the rest of its shard.
    pub set_aside: usize,
    /// Campaign chunks fanned out, and what they created.
    pub chunks: usize,
    pub fan_out: FanOut,
    /// Export steps taken (a data file or a manifest written).
    pub export_files: usize,
    /// Parked messages queued by a resume the tick carried on.
    pub resumed: usize,
}

impl std::ops::AddAssign for TickReport {
    fn add_assign(&mut self, other: Self) {
        self.released += other.released;
        self.requeued += other.requeued;
        self.skipped += other.skipped;
        self.queue_failures += other.queue_failures;
        self.set_aside += other.set_aside;
        self.chunks += other.chunks;
        self.fan_out += other.fan_out;
        self.export_files += other.export_files;
        self.resumed += other.resumed;
    }
}

/// Campaign work found due: chunks (campaign id, chunk index) and exports (campaign id,
/// export id).
#[derive(Debug, Default)]
struct DueWork {
    chunks: Vec<(String, u32)>,
    exports: Vec<(String, String)>,
}

/// Runs one tick at `now`, fanning out campaign chunks for at most the scheduler's
/// `campaigns.tick_budget`.
///
/// # Errors
/// When the due index cannot be read at all (the next tick tries again).
pub async fn run<M, C, Q, T, A>(scheduler: &Scheduler<M, C, Q, T, A>, now: Timestamp) -> anyhow::Result<TickReport>
where
    A: polite_domain::ports::AudienceFiles + ReportFiles + Sync,
    M: MessageIntake
        + MessageReader
        + MessageMoves
        + DueIndex
        + CampaignStore
        + CampaignCompletion
        + ExportStore
        + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<(TickReport, DueWork)>> = futures_util::stream::iter(0..DUE_SHARDS)
        .map(|shard| shard_tick(scheduler, shard, now))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut report = TickReport::default();
    let mut chunks = Vec::new();
    let mut exports = Vec::new();
    let mut failed = 0;
    for result in results {
        match result {
            Ok((r, work)) => {
                report += r;
                chunks.extend(work.chunks);
                exports.extend(work.exports);
            }
            Err(e) => {
                failed += 1;
                tracing::warn!(error = %e, "a due-index shard could not be read this tick");
            }
        }
    }
    if failed == usize::from(DUE_SHARDS) {
        anyhow::bail!("no due-index shard could be read");
    }
    // Oldest campaigns first (ids are time-ordered), each in chunk order.
    chunks.sort();
    for (campaign_id, index) in chunks {
        if started.elapsed() >= scheduler.campaigns.tick_budget {
            break;
        }
        if index == RESUME_CHUNK {
            match scheduler.resume_until(&campaign_id, started + scheduler.campaigns.tick_budget, now).await {
                Ok(moved) => report.resumed += moved,
                Err(e) => tracing::warn!(campaign_id, error = %e, "resume stopped; its lease brings it back"),
            }
            continue;
        }
        if index == AUDIENCE_CHUNK {
            let (done, parts) =
                scheduler.read_file_until(&campaign_id, started + scheduler.campaigns.tick_budget, now).await;
            report.chunks += parts;
            report.fan_out += done;
            continue;
        }
        match scheduler.fan_out(&campaign_id, index, now).await {
            Ok(Some(done)) => {
                report.chunks += 1;
                report.fan_out += done;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(campaign_id, chunk = index, error = %e, "fan-out stopped; its lease brings it back");
            }
        }
    }
    // Reports after sends: an export waits for the time the fan-out leaves.
    exports.sort();
    let deadline = started + scheduler.campaigns.tick_budget;
    for (campaign_id, export_id) in exports {
        if Instant::now() >= deadline {
            break;
        }
        report.export_files += scheduler.export_until(&campaign_id, &export_id, deadline, now).await;
    }
    tracing::info!(
        released = report.released,
        requeued = report.requeued,
        skipped = report.skipped,
        queue_failures = report.queue_failures,
        set_aside = report.set_aside,
        chunks = report.chunks,
        created = report.fan_out.created,
        export_files = report.export_files,
        resumed = report.resumed,
        "tick"
    );
    Ok(report)
}

/// Releases one shard's due messages; returns the campaign chunks it found due.
async fn shard_tick<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    shard: u8,
    now: Timestamp,
) -> anyhow::Result<(TickReport, DueWork)>
where
    M: MessageIntake + MessageReader + MessageMoves + DueIndex + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
{
    let mut report = TickReport::default();
    let mut jobs = Vec::new();
    let mut work = DueWork::default();
    for due in scheduler.messages.due(shard, now, PER_SHARD).await? {
        let id = match due {
            Due::Message(id) => id,
            Due::Chunk { campaign_id, index } => {
                work.chunks.push((campaign_id, index));
                continue;
            }
            Due::Export { campaign_id, export_id } => {
                work.exports.push((campaign_id, export_id));
                continue;
            }
        };
        // Each record on its own: an error here must not stop the shard (nor leave the
        // records already moved without their queue message).
        match release(scheduler, &id, now).await {
            Ok(Release::Released(job)) => {
                report.released += 1;
                jobs.push(job);
            }
            Ok(Release::Requeued(job)) => {
                report.requeued += 1;
                jobs.push(job);
            }
            Ok(Release::Skipped) => report.skipped += 1,
            Err(e) => {
                report.set_aside += 1;
                counter!("TickRecordsSetAside").increment(1);
                tracing::error!(message_id = %id, error = %e, "due record could not be released; set aside");
                if let Err(e) = scheduler.messages.set_aside(&id, now + SET_ASIDE_FOR).await {
                    tracing::error!(message_id = %id, error = %e, "due record could not be set aside");
                }
            }
        }
    }
    if !jobs.is_empty() {
        report.queue_failures += scheduler.enqueue(jobs, now).await;
    }
    Ok((report, work))
}

/// What the tick did with one due message.
enum Release {
    /// `scheduled → queued`: its job.
    Released(Job),
    /// Its lease ran out: queued again.
    Requeued(Job),
    /// Not the tick's (any more): another tick, a cancellation or the sender got there first.
    Skipped,
}

/// Releases one due message with a conditional write (so overlapping ticks release it once).
async fn release<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    id: &str,
    now: Timestamp,
) -> Result<Release, polite_domain::ports::StoreError>
where
    M: MessageIntake + MessageReader + MessageMoves + DueIndex + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
{
    let Some(record) = scheduler.messages.get(id).await? else { return Ok(Release::Skipped) };
    // The index is read before the record (and a GSI lags): trust the record's own due
    // time — a message another tick has just released or re-queued holds a fresh lease.
    if record.due_at.is_none_or(|due| due > now) {
        return Ok(Release::Skipped);
    }
    let (from, reason) = match record.state {
        MessageState::Scheduled => (MessageState::Scheduled, None),
        state if state.is_claimable() => (state, Some("requeued_after_lost_queue_message")),
        _ => return Ok(Release::Skipped),
    };
    // A deferred message keeps its state and reason (it still waits on the gate); a
    // released or lost one is plainly queued.
    let to = if from == MessageState::Deferred { MessageState::Deferred } else { MessageState::Queued };
    let details = TransitionDetails {
        reason: if from == MessageState::Deferred { record.reason.clone() } else { reason.map(str::to_owned) },
        not_before: record.not_before,
        due_at: Some(now + QUEUE_LEASE),
        ..TransitionDetails::default()
    };
    match scheduler.messages.transition_from(&record, to, now, details).await? {
        // Released at (or after) its time: visible at once.
        Moved::Yes(_) => {
            let job = Job { id: id.to_owned(), not_before: record.not_before };
            Ok(if from == MessageState::Scheduled { Release::Released(job) } else { Release::Requeued(job) })
        }
        Moved::No(_) => Ok(Release::Skipped),
    }
}
