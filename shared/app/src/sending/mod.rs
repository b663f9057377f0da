//! message-sender's use case: each job from send-queue sent each message at most once, only when the gate
//! says so *at send time*.
//!
//! For each job: read the message and the recipient (strongly consistent: an opt-out recorded a
//! moment ago counts), run `polite_domain::gate::decide`, and act — `Expire`, `Suppress` and
//! `Defer` become message states with reasons (a deferral of ≤ 15 min goes back on the queue
//! with a delay, a longer one back to the table as `scheduled`; a message of a paused campaign
//! is parked, one of a cancelled campaign cancelled); `Send` claims the message with
//! a conditional `queued|deferred → sending` write *before* calling Meta, so a redelivered or
//! duplicated job can never send twice. What follows the Graph API's answer is
//! `polite_domain::sending::after_send`.

pub mod pacing;

use jiff::{SignedDuration, Timestamp};
use metrics::counter;
use polite_domain::ContactRef;
use polite_domain::campaign::{CAMPAIGN_CANCELLED, CAMPAIGN_PAUSED, CampaignStatus, PAUSED_MESSAGE_RECHECK};
use polite_domain::caps::Reservation;
use polite_domain::caps::SentRecord;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::gate::{self, Decision, Policy, Recipient};
use polite_domain::ids::stable_hash;
use polite_domain::message::DeferReason;
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState};
use polite_domain::ports::{
    ContactReader, DeliveryMarks, EventQueue, MessageMoves, MessageReader, SendLog, StoreError, TemplateReader,
    WhatsAppApi,
};
use polite_domain::record::MessageRecord;
use polite_domain::record::Moved;
use polite_domain::request::{MAX_QUEUE_DELAY, Payload, QUEUE_LEASE, SendJob, queue_delay};
use polite_domain::sending::{AfterSend, after_send};
use polite_domain::status::Effect;
use polite_domain::template::{self, Verdict};
use polite_domain::whatsapp::{
    Accepted, Content, Endpoint, ErrorAction, MARKETING_API_NOT_AVAILABLE, MARKETING_OFF_ON_CLOUD_API, Outbound,
    SendFailure, failure_reason,
};

use pacing::Pacer;

/// The send queue's `maxReceiveCount` (template.yaml): after this many failed deliveries SQS
/// moves a job to the DLQ.
pub const MAX_RECEIVES: u32 = 5;

/// The reason of a message whose send job failed on every delivery.
pub const SEND_JOB_FAILED: &str = "send_job_failed";

/// How long a message may stay `sending` before polite gives up waiting for a status that
/// would tell whether Meta accepted it: then `failed` with `unknown_outcome`, never resent.
pub const UNKNOWN_OUTCOME_TIMEOUT: SignedDuration = SignedDuration::from_mins(15);

/// When a job finds its message `sending` (in flight elsewhere, or the sender died mid-call),
/// it looks again after this long.
pub const SENDING_RECHECK: SignedDuration = SignedDuration::from_mins(5);

/// A pacing wait longer than this makes the gate's decision stale: it is taken again on fresh
/// reads before Meta is called (an opt-out may have landed meanwhile).
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest a job waits for its pacing slot. With the Graph API's timeout (10 s by
/// default) it stays well inside the function's 30 s; a longer wait goes back on the queue.
pub const MAX_PACING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Decisions per job: the first, one after a long pacing wait, and a few after lost
/// reservation races.
const DECISIONS: usize = 4;

/// Clock skew allowed between the queue's delay and a message's `not_before`.
const NOT_BEFORE_TOLERANCE: SignedDuration = SignedDuration::from_secs(1);

/// Whom a send goes to: the stored person (their send log) and the address Meta gets.
#[derive(Debug)]
struct Addressed {
    person: ContactRef,
    to: ContactRef,
    /// The identities polite already knows for the person (Meta's answer may show more).
    known: Option<polite_domain::people::Identities>,
}

/// What the sender needs.
#[derive(Debug)]
pub struct Sender<M, C, Q, W, T> {
    pub messages: M,
    /// The contacts table: consent and settings ([`ContactReader`], [`DeliveryMarks`]) and recent sends ([`SendLog`]).
    pub contacts: C,
    pub send_queue: Q,
    /// inbound-events: 131050 opt-outs go through consent-updater's rules.
    pub inbound: Q,
    pub whatsapp: W,
    /// The template registry: the category Meta last set governs a template message, and a
    /// paused or disabled template holds it.
    pub templates: T,
    /// MARKETING templates go to the Marketing Messages API (`/marketing_messages`), with
    /// `/messages` as the fallback when Meta refuses it there (`MARKETING_MESSAGES_API`).
    pub marketing_messages_api: bool,
    pub policy: Policy,
    pub pacer: Pacer,
}

/// Why a send job failed (the queue delivers it again).
#[derive(Debug, thiserror::Error)]
pub enum SendJobError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("a send job could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("a queue refused the message: {0}")]
    Queue(#[from] polite_domain::ports::QueueError),
}

/// What a job came to (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The message was not (or no longer) the sender's to handle.
    Skipped(&'static str),
    Sent,
    Deferred,
    Scheduled,
    Suppressed,
    Expired,
    /// Its campaign was cancelled.
    Cancelled,
    Failed,
    /// Left `sending`: Meta may have accepted it.
    Unknown,
}

impl<M, C, Q, W, T> Sender<M, C, Q, W, T>
where
    M: MessageReader + MessageMoves + Sync,
    C: ContactReader + DeliveryMarks + SendLog + Sync,
    Q: EventQueue + Sync,
    W: WhatsAppApi + Sync,
    T: TemplateReader + Sync,
{
    /// [`Self::process`] for the `receives`th delivery of a job. A job that fails on its last
    /// delivery ([`MAX_RECEIVES`]) would go to the DLQ, and the tick would queue its message
    /// again when the lease ran out, for ever. Instead the message ends `failed` with reason
    /// [`SEND_JOB_FAILED`] — unless it is `sending` (statuses or the unknown-outcome timeout
    /// settle that) or can no longer be read, and then the job goes to the DLQ as before.
    ///
    /// # Errors
    /// [`SendJobError`] as for [`Self::process`].
    pub async fn process_received(&self, body: &str, receives: u32, now: Timestamp) -> Result<Outcome, SendJobError> {
        match self.process(body, now).await {
            Err(cause) if receives >= MAX_RECEIVES => match self.give_up(body, now).await {
                Ok(Some(outcome)) => Ok(outcome),
                Ok(None) | Err(_) => Err(cause),
            },
            other => other,
        }
    }

    /// Ends the message of a job that failed on every delivery; `None` when there is nothing
    /// the sender may end.
    async fn give_up(&self, body: &str, now: Timestamp) -> Result<Option<Outcome>, SendJobError> {
        let job: SendJob = envelope::decode(kinds::SEND_JOB, body)?;
        let Some(record) = self.messages.get(&job.id).await? else { return Ok(None) };
        if !record.state.is_claimable() {
            return Ok(None);
        }
        counter!("SendJobsGivenUp").increment(1);
        tracing::error!(message_id = %job.id, receives = MAX_RECEIVES, "send job failed on every delivery: message failed");
        let error = polite_domain::message::SendError {
            code: 0,
            title: format!("the send job failed on all {MAX_RECEIVES} deliveries"),
        };
        let details = TransitionDetails {
            reason: Some(SEND_JOB_FAILED.to_owned()),
            error: Some(error),
            ..TransitionDetails::default()
        };
        self.move_to(&record, MessageState::Failed, now, details, Outcome::Failed).await.map(Some)
    }

    /// One send job at `now`.
    ///
    /// # Errors
    /// [`SendJobError`] when the job cannot be read or a store or queue fails (redelivered).
    pub async fn process(&self, body: &str, now: Timestamp) -> Result<Outcome, SendJobError> {
        let job: SendJob = envelope::decode(kinds::SEND_JOB, body)?;
        let Some(record) = self.messages.get(&job.id).await? else {
            tracing::warn!(message_id = %job.id, "send job for an unknown message");
            return Ok(Outcome::Skipped("unknown_message"));
        };
        let early = record.not_before.is_some_and(|t| t > now + NOT_BEFORE_TOLERANCE);
        let outcome = match record.state {
            // A duplicate job (a lease re-queue racing the real one) before the message's time:
            // the job that brings it at its time is on the queue, or the lease will be.
            state if state.is_claimable() && early => Outcome::Skipped("not_due_yet"),
            state if state.is_claimable() => self.consider(record, now).await?,
            MessageState::Sending => self.in_flight(&record, now).await?,
            // Scheduled: the tick owns it; anything later: a duplicate job.
            _ => Outcome::Skipped("not_claimable"),
        };
        counter!("SendJobs", "outcome" => outcome_label(&outcome)).increment(1);
        Ok(outcome)
    }

    /// Runs the gate and acts on its decision. A message the gate lets go waits for its
    /// pacing slot, then is reserved in the person's send log on the very history the gate
    /// read (so caps and spacing hold when two jobs for one person run at once), then sent.
    /// A pacing wait over [`STALE_AFTER`] or a lost reservation race means deciding again on
    /// fresh reads: an opt-out recorded meanwhile counts.
    async fn consider(&self, mut record: MessageRecord, now: Timestamp) -> Result<Outcome, SendJobError> {
        if let Some(held) = self.campaign_hold(&record, now).await? {
            return Ok(held);
        }
        let payload = record.payload.clone();
        if let Some(key) = payload.template_key() {
            let (known, loaded) = tokio::try_join!(self.templates.template(&key), self.templates.loaded_at())?;
            match template::verdict(known.as_ref(), loaded.is_some(), now) {
                Verdict::Hold { status } => {
                    counter!("TemplateHolds", "result" => "paused").increment(1);
                    tracing::info!(message_id = %record.id, template = %key, status, "template not sendable now: held");
                    let recheck = i64::from(self.policy.paused_template_recheck_seconds.max(1));
                    let until = now + SignedDuration::from_secs(recheck);
                    return self.defer(&record, until, template::TEMPLATE_PAUSED, None, now).await;
                }
                Verdict::Unavailable { status } => {
                    counter!("TemplateHolds", "result" => "unavailable").increment(1);
                    tracing::info!(message_id = %record.id, template = %key, status, "template cannot be sent: suppressed");
                    let reason = Some(template::TEMPLATE_UNAVAILABLE.to_owned());
                    let details = TransitionDetails { reason, ..TransitionDetails::default() };
                    return self.move_to(&record, MessageState::Suppressed, now, details, Outcome::Suppressed).await;
                }
                // Meta's category governs consent, quiet hours, caps and the endpoint; the
                // message keeps the caller's as `requested_category` (written with its next move).
                Verdict::Send { category: Some(category) } if category != record.category => {
                    counter!("TemplateRecategorised", "from" => record.category.as_str(), "to" => category.as_str())
                        .increment(1);
                    record.govern(Some(category));
                }
                Verdict::Send { .. } => {}
            }
        }
        let keep = self.policy.send_memory();
        let mut message = gate::Outbound {
            to: record.to.clone(),
            category: record.category,
            free_form: payload.is_free_form(),
            expires_at: record.expires_at,
        };
        let jitter = jitter_for(&record.id, self.policy.max_jitter_seconds);
        let mut now = now;
        let mut paced = false;
        for _ in 0..DECISIONS {
            let (contact, mut sends) =
                tokio::try_join!(self.contacts.get(&record.to), self.contacts.recent_sends(&record.to, now - keep))?;
            // The person may be stored under another identity of theirs: caps and spacing
            // count per person, whatever identity a message used.
            let person = contact.as_ref().map_or_else(|| record.to.clone(), |c| c.id.clone());
            if person != record.to {
                sends = self.contacts.recent_sends(&person, now - keep).await?;
            }
            // A known phone is preferred; a person known only by their user id gets `recipient`.
            message.to =
                contact.as_ref().and_then(|c| c.phone()).map_or_else(|| record.to.clone(), |p| p.clone().into());
            let recipient = Recipient::from_contact(contact.as_ref(), sends);
            let outcome = gate::decide(&message, &recipient, &self.policy, now, jitter);
            match outcome.decision {
                Decision::Expire => {
                    let details = TransitionDetails::default();
                    return self.move_to(&record, MessageState::Expired, now, details, Outcome::Expired).await;
                }
                Decision::Suppress { reason } => {
                    let details =
                        TransitionDetails { reason: Some(reason.as_str().to_owned()), ..TransitionDetails::default() };
                    return self.move_to(&record, MessageState::Suppressed, now, details, Outcome::Suppressed).await;
                }
                Decision::Defer { until, reason } => {
                    return self.defer(&record, until, reason.as_str(), None, now).await;
                }
                Decision::Send => {}
            }
            if !paced {
                paced = true;
                match self.pacer.wait_at_most(MAX_PACING_WAIT).await {
                    Ok(waited) if waited > STALE_AFTER => {
                        now += SignedDuration::try_from(waited).unwrap_or(SignedDuration::ZERO);
                        continue;
                    }
                    Ok(_) => {}
                    // The number is throttled harder than a function invocation can wait.
                    Err(wait) => {
                        let until = now + SignedDuration::try_from(wait).unwrap_or(MAX_QUEUE_DELAY);
                        return self.defer(&record, until, DeferReason::RateLimited.as_str(), None, now).await;
                    }
                }
            }
            let sent = SentRecord { category: record.category, at: now };
            match self.contacts.reserve_send(&person, &record.id, sent, keep, &recipient.sends).await? {
                Reservation::Reserved => {
                    let known = contact.map(|c| c.identities);
                    return self.send(record, payload, Addressed { person, to: message.to, known }, now).await;
                }
                Reservation::Raced => counter!("SendReservationsRaced").increment(1),
            }
        }
        // Sends to this person keep landing first: look again after the pair spacing.
        let spacing = SignedDuration::from_secs(i64::from(self.policy.pair_spacing_seconds.max(1)));
        self.defer(&record, now + spacing, DeferReason::PairRate.as_str(), None, now).await
    }

    /// A message of a paused campaign is parked (`scheduled` until [`PAUSED_MESSAGE_RECHECK`],
    /// or until a resume queues it), one of a cancelled campaign cancelled; `None` when its
    /// campaign (if any) lets it go.
    async fn campaign_hold(&self, record: &MessageRecord, now: Timestamp) -> Result<Option<Outcome>, SendJobError> {
        let Some(campaign_id) = record.campaign_id.as_deref() else { return Ok(None) };
        match self.messages.campaign_status(campaign_id).await? {
            Some(CampaignStatus::Paused) => {
                counter!("CampaignHolds", "status" => "paused").increment(1);
                let until = now + PAUSED_MESSAGE_RECHECK;
                self.defer(record, until, CAMPAIGN_PAUSED, None, now).await.map(Some)
            }
            Some(CampaignStatus::Cancelled) => {
                counter!("CampaignHolds", "status" => "cancelled").increment(1);
                let details =
                    TransitionDetails { reason: Some(CAMPAIGN_CANCELLED.into()), ..TransitionDetails::default() };
                self.move_to(record, MessageState::Cancelled, now, details, Outcome::Cancelled).await.map(Some)
            }
            Some(CampaignStatus::Active) | None => Ok(None),
        }
    }

    /// Meta's answer showed the person's phone and user id together: consent-updater (the
    /// contacts table's owner) links them. Best effort: the message is sent whatever happens
    /// here, and the statuses that follow carry the same identities.
    async fn forward_identities(&self, message_id: &str, linked: &polite_domain::people::Observation) {
        let queued = match envelope::identities(&format!("{message_id}-answer"), linked) {
            Ok(message) => self.inbound.send_all(vec![message]).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = queued {
            counter!("IdentitiesNotForwarded").increment(1);
            tracing::warn!(message_id, error, "identities from Meta's answer not forwarded; statuses will carry them");
        }
    }

    /// Holds a message until `until`: on the queue when that is within 15 minutes, in the
    /// table otherwise.
    async fn defer(
        &self,
        record: &MessageRecord,
        until: Timestamp,
        reason: &str,
        error: Option<polite_domain::message::SendError>,
        now: Timestamp,
    ) -> Result<Outcome, SendJobError> {
        let wait = until.duration_since(now);
        if wait > MAX_QUEUE_DELAY {
            let details = TransitionDetails {
                reason: Some(reason.to_owned()),
                not_before: Some(until),
                due_at: Some(until),
                error,
                ..TransitionDetails::default()
            };
            return self.move_to(record, MessageState::Scheduled, now, details, Outcome::Scheduled).await;
        }
        let details = TransitionDetails {
            reason: Some(reason.to_owned()),
            not_before: Some(until),
            due_at: Some(until + QUEUE_LEASE),
            error,
            ..TransitionDetails::default()
        };
        let outcome = self.move_to(record, MessageState::Deferred, now, details, Outcome::Deferred).await?;
        if outcome == Outcome::Deferred {
            self.send_queue.send_all(vec![envelope::send_job(&record.id, queue_delay(wait))?]).await?;
        }
        Ok(outcome)
    }

    /// Claims the reserved message and sends it.
    async fn send(
        &self,
        record: MessageRecord,
        payload: Payload,
        addressed: Addressed,
        now: Timestamp,
    ) -> Result<Outcome, SendJobError> {
        let Addressed { person, to, known } = addressed;
        // The claim: conditional on the state the gate decided on (queued or deferred).
        let claim =
            self.messages.transition_from(&record, MessageState::Sending, now, TransitionDetails::default()).await?;
        let Moved::Yes(claimed) = claim else {
            self.contacts.release_send(&person, &record.id).await?;
            return Ok(Outcome::Skipped("claimed_elsewhere"));
        };
        let attempt =
            u32::try_from(claimed.history.iter().filter(|h| h.state == "sending").count()).unwrap_or(u32::MAX);
        let (content, reply_to) = payload.into_content();
        let endpoint = if self.marketing_messages_api
            && claimed.category == Category::Marketing
            && matches!(content, Content::Template(_))
        {
            Endpoint::MarketingMessages
        } else {
            Endpoint::Messages
        };
        let message = Outbound { from: None, to, content, callback_data: Some(claimed.id.clone()), reply_to, endpoint };
        let result = self.send_on(message).await;
        if let Err(SendFailure::Rejected { error, .. }) = &result {
            counter!("GraphErrors", "code" => error.code.to_string()).increment(1);
            if error.action() == ErrorAction::SlowDown {
                self.pacer.slow_down();
            }
        }
        let next = after_send(&result, attempt, now, jitter_fraction(&claimed.id, attempt));
        if matches!(next, AfterSend::Retry { .. } | AfterSend::Defer { .. } | AfterSend::Fail { .. }) {
            // Meta refused it for sure: it did not go, so it counts for no cap or spacing.
            self.contacts.release_send(&person, &claimed.id).await?;
        }
        match next {
            AfterSend::Sent { wamid } => {
                let details = TransitionDetails { wamid: Some(wamid), ..TransitionDetails::default() };
                tracing::info!(message_id = %claimed.id, to = %claimed.to.masked(), "sent");
                let linked = result.as_ref().ok().and_then(|a| a.linked(now));
                let is_new = |id: &ContactRef| known.as_ref().is_none_or(|k| !k.current().any(|c| c == id));
                if let Some(linked) = linked.filter(|l| l.identities().iter().any(is_new)) {
                    self.forward_identities(&claimed.id, &linked).await;
                }
                self.move_to(&claimed, MessageState::Sent, now, details, Outcome::Sent).await
            }
            AfterSend::Retry { delay, reason, error } => {
                self.defer(&claimed, now + delay, reason.as_str(), Some(error), now).await
            }
            AfterSend::Defer { until, reason, error } => {
                self.defer(&claimed, until, reason.as_str(), Some(error), now).await
            }
            AfterSend::Fail { error, effect } => {
                if error.code == MARKETING_OFF_ON_CLOUD_API {
                    counter!("MarketingMessagesApiRequired").increment(1);
                    tracing::error!(
                        message_id = %claimed.id,
                        "Meta turned marketing templates off on /messages for this account (131063): \
                         deploy with MarketingMessagesApi=enabled (MARKETING_MESSAGES_API=enabled) so they go \
                         through the Marketing Messages API"
                    );
                }
                // The effect first: if the state write below fails, the redelivered job finds
                // `sending` and statuses settle it, but the opt-out or the block is recorded.
                match effect {
                    Some(Effect::OptOutMarketing) => {
                        let opt_out = envelope::send_failure_opt_out(&claimed.id, claimed.to.clone(), now)?;
                        self.inbound.send_all(vec![opt_out]).await?;
                    }
                    Some(Effect::Blocked) => self.contacts.mark_blocked(&claimed.to, now).await?,
                    // 131026 is reported on the failed status, where status-processor marks it.
                    Some(Effect::Undeliverable) | None => {}
                }
                tracing::info!(message_id = %claimed.id, code = error.code, "send failed");
                let reason = failure_reason(error.code).map(str::to_owned);
                let details = TransitionDetails { reason, error: Some(error), ..TransitionDetails::default() };
                self.move_to(&claimed, MessageState::Failed, now, details, Outcome::Failed).await
            }
            AfterSend::Unknown => {
                tracing::warn!(message_id = %claimed.id, "no answer from the Graph API; waiting for statuses");
                self.recheck_later(&claimed.id).await?;
                Ok(Outcome::Unknown)
            }
        }
    }

    /// Sends `message` on its endpoint; on the Marketing Messages API, Meta's refusal to serve
    /// it there (131055: the terms not accepted, or the API not open to the number) sends it
    /// again on `/messages`, Meta's documented fallback — a definite refusal, so never twice.
    async fn send_on(&self, message: Outbound) -> Result<Accepted, SendFailure> {
        let result = self.whatsapp.send(&message).await;
        let refused_there =
            matches!(&result, Err(SendFailure::Rejected { error, .. }) if error.code == MARKETING_API_NOT_AVAILABLE);
        if message.endpoint == Endpoint::MarketingMessages && refused_there {
            counter!("MarketingMessagesFallback").increment(1);
            tracing::warn!(
                "the Marketing Messages API refused the message (131055: are its terms accepted?); sent on /messages"
            );
            return self.whatsapp.send(&Outbound { endpoint: Endpoint::Messages, ..message }).await;
        }
        result
    }

    /// A job found its message `sending`: another instance is sending it, or one died mid-call.
    /// Either way it is never sent again; after [`UNKNOWN_OUTCOME_TIMEOUT`] without a status
    /// it ends `failed` with `unknown_outcome`.
    async fn in_flight(&self, record: &MessageRecord, now: Timestamp) -> Result<Outcome, SendJobError> {
        let claimed_at = record.history.iter().rev().find(|h| h.state == "sending").map_or(record.created_at, |h| h.at);
        if now.duration_since(claimed_at) < UNKNOWN_OUTCOME_TIMEOUT {
            self.recheck_later(&record.id).await?;
            return Ok(Outcome::Unknown);
        }
        let details = TransitionDetails {
            reason: Some(polite_domain::message::UNKNOWN_OUTCOME.into()),
            error: Some(polite_domain::message::SendError {
                code: 0,
                title: "unknown_outcome: no answer and no status from the Graph API".into(),
            }),
            ..TransitionDetails::default()
        };
        self.move_to(record, MessageState::Failed, now, details, Outcome::Failed).await
    }

    async fn recheck_later(&self, id: &str) -> Result<(), SendJobError> {
        self.send_queue.send_all(vec![envelope::send_job(id, queue_delay(SENDING_RECHECK))?]).await?;
        Ok(())
    }

    /// Moves the record just read (or just claimed) on, if nothing moved it meanwhile.
    async fn move_to(
        &self,
        record: &MessageRecord,
        to: MessageState,
        now: Timestamp,
        details: TransitionDetails,
        outcome: Outcome,
    ) -> Result<Outcome, SendJobError> {
        match self.messages.transition_from(record, to, now, details).await? {
            Moved::Yes(_) => Ok(outcome),
            Moved::No(_) => Ok(Outcome::Skipped("moved_concurrently")),
        }
    }
}

/// The gate's jitter for a message: derived from its id, so every retry decides the same.
fn jitter_for(id: &str, max_seconds: u32) -> SignedDuration {
    let spread = u64::from(max_seconds).max(1);
    SignedDuration::from_secs(i64::try_from(stable_hash(id) % spread).unwrap_or(0))
}

/// A retry's jitter fraction in `[0, 1)`, different per attempt.
fn jitter_fraction(id: &str, attempt: u32) -> f64 {
    let h = stable_hash(&format!("{id}#{attempt}")) % 1000;
    f64::from(u32::try_from(h).unwrap_or(0)) / 1000.0
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Skipped(_) => "skipped",
        Outcome::Sent => "sent",
        Outcome::Deferred => "deferred",
        Outcome::Scheduled => "scheduled",
        Outcome::Suppressed => "suppressed",
        Outcome::Expired => "expired",
        Outcome::Cancelled => "cancelled",
        Outcome::Failed => "failed",
        Outcome::Unknown => "unknown",
    }
}
