//! The scheduler tick (EventBridge, every minute): releases `scheduled` messages that came
//! due and re-queues `queued`/`deferred` ones whose lease ran out (their queue message was
//! lost, or enqueueing failed).
//!
//! Each due message moves with a conditional write before it is queued, so two overlapping
//! ticks never release the same message twice; queue messages go out in SendMessageBatch calls
//! of 10.

use futures_util::StreamExt as _;
use jiff::{SignedDuration, Timestamp};
use polite_domain::message::MessageState;
use polite_domain::ports::{ContactStore, DUE_SHARDS, EventQueue, MessageStore, Moved, TransitionDetails};
use polite_domain::request::{QUEUE_LEASE, queue_delay};

use polite_adapters::envelope::send_job;

use crate::Scheduler;

/// Due messages read per shard per tick; the rest wait for the next tick (16 shards × 250 =
/// 4 000 releases a minute, well inside one 60 s invocation).
pub const PER_SHARD: i32 = 250;

/// Shards read at once.
const CONCURRENCY: usize = 4;

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
}

impl std::ops::AddAssign for TickReport {
    fn add_assign(&mut self, other: Self) {
        self.released += other.released;
        self.requeued += other.requeued;
        self.skipped += other.skipped;
        self.queue_failures += other.queue_failures;
    }
}

/// Runs one tick at `now`.
///
/// # Errors
/// When the due index cannot be read at all (the next tick tries again).
pub async fn run<M, C, Q>(scheduler: &Scheduler<M, C, Q>, now: Timestamp) -> anyhow::Result<TickReport>
where
    M: MessageStore + Sync,
    C: ContactStore + Sync,
    Q: EventQueue + Sync,
{
    let results: Vec<anyhow::Result<TickReport>> = futures_util::stream::iter(0..DUE_SHARDS)
        .map(|shard| shard_tick(scheduler, shard, now))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut report = TickReport::default();
    let mut failed = 0;
    for result in results {
        match result {
            Ok(r) => report += r,
            Err(e) => {
                failed += 1;
                tracing::warn!(error = %e, "a due-index shard could not be read this tick");
            }
        }
    }
    if failed == usize::from(DUE_SHARDS) {
        anyhow::bail!("no due-index shard could be read");
    }
    tracing::info!(
        released = report.released,
        requeued = report.requeued,
        skipped = report.skipped,
        queue_failures = report.queue_failures,
        "tick"
    );
    Ok(report)
}

async fn shard_tick<M, C, Q>(scheduler: &Scheduler<M, C, Q>, shard: u8, now: Timestamp) -> anyhow::Result<TickReport>
where
    M: MessageStore + Sync,
    C: ContactStore + Sync,
    Q: EventQueue + Sync,
{
    let mut report = TickReport::default();
    let mut jobs = Vec::new();
    let lease = Some(now + QUEUE_LEASE);
    for id in scheduler.messages.due(shard, now, PER_SHARD).await? {
        let Some(record) = scheduler.messages.get(&id).await? else { continue };
        let (from, reason) = match record.state {
            MessageState::Scheduled => (MessageState::Scheduled, None),
            state @ (MessageState::Queued | MessageState::Deferred) => {
                (state, Some("requeued_after_lost_queue_message"))
            }
            _ => {
                report.skipped += 1;
                continue;
            }
        };
        // A deferred message keeps its state and reason (it still waits on the gate); a
        // released or lost one is plainly queued.
        let to = if from == MessageState::Deferred { MessageState::Deferred } else { MessageState::Queued };
        let details = TransitionDetails {
            reason: if from == MessageState::Deferred { record.reason.clone() } else { reason.map(str::to_owned) },
            not_before: record.not_before,
            due_at: lease,
            ..TransitionDetails::default()
        };
        match scheduler.messages.transition(&id, &[from], to, now, details).await? {
            Moved::Yes(_) => {
                if from == MessageState::Scheduled {
                    report.released += 1;
                } else {
                    report.requeued += 1;
                }
                // Released at (or after) its time: visible at once.
                jobs.push(send_job(&id, delay_until(record.not_before, now))?);
            }
            Moved::No(_) => report.skipped += 1,
        }
    }
    if !jobs.is_empty() {
        let count = jobs.len();
        if let Err(e) = scheduler.send_queue.send_all(jobs).await {
            tracing::warn!(error = %e, "some released messages were not queued; their lease brings them back");
            report.queue_failures += match &e {
                polite_domain::ports::QueueError::Partial { failed } => failed.len(),
                polite_domain::ports::QueueError::Unavailable(_) => count,
            };
        }
    }
    Ok(report)
}

/// The queue delay for a message that may go at `not_before` (0 when it may go now).
fn delay_until(not_before: Option<Timestamp>, now: Timestamp) -> u32 {
    queue_delay(not_before.map_or(SignedDuration::ZERO, |t| t.duration_since(now)))
}
