//! status-processor's use case: Meta's status webhooks — duplicated, out of order, up to days late —
//! become exact message states, campaign counts and pricing (docs/architecture.md, "Message states").
//!
//! Each status-events record is one status element, as the intake queued it. It is read
//! (`polite_domain::status::read`), matched to polite's message by `biz_opaque_callback_data`
//! (else by wamid), and applied through the status lattice in one conditional transaction
//! with the campaign counters (`StatusLedger::apply_status`), so any interleaving and
//! duplication of the same statuses ends in the same states and counts. Its error's effect on
//! the contact follows: 131050 → a marketing opt-out through consent-updater's rules (on
//! inbound-events), 131026 → the number is marked undeliverable for a while.
//!
//! A status's `pricing` is kept as Meta sent it, with polite's estimate of its cost from the
//! rate card (`polite_domain::pricing`); a priced service message draws on its business
//! number's monthly free allowance, counted in the same transaction.
//!
//! A status for a message polite does not know (another system on the same number) or for a
//! consent confirmation reply is counted and dropped knowingly; a status that cannot be read
//! fails its record, so SQS retries it and then moves it to the DLQ, where the alarm sees it.

use jiff::SignedDuration;
use metrics::counter;
use polite_domain::ContactRef;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::message::{IgnoreReason, MessageState, StatusValue, Transition};
use polite_domain::people::{self, Observation};
use polite_domain::ports::{DeliveryMarks, EventQueue, MessageReader, QueueError, StatusLedger, StoreError};
use polite_domain::pricing::allowance_key;
use polite_domain::pricing::{PricingRecord, RateCard};
use polite_domain::status::StatusUpdate;
use polite_domain::status::{self, Effect, Target};
use polite_domain::webhook::{EventType, Status, WebhookEvent};

/// What applying statuses needs.
#[derive(Debug)]
pub struct Processor<M, C, Q> {
    pub messages: M,
    /// For 131026: the contact is marked undeliverable.
    pub contacts: C,
    /// inbound-events: 131050 opt-outs go through consent-updater's rules.
    pub inbound: Q,
    /// How long a 131026 number is left alone.
    pub undeliverable_for: SignedDuration,
    /// What Meta's pricing is estimated to cost.
    pub rates: RateCard,
}

/// What one status came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied through the lattice (moved, or recorded as stale/duplicate/unknown value).
    Applied(Transition),
    /// A message polite does not know: counted, dropped.
    UnknownMessage,
    /// A consent confirmation reply's status: dropped.
    Confirmation,
}

/// Why a status could not be applied (its record is retried, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("the record is not a webhook event: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the event is a {0:?}, not a status")]
    NotAStatus(EventType),
    #[error("the status cannot be read: {0}")]
    Unreadable(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl<M, C, Q> Processor<M, C, Q>
where
    M: StatusLedger + MessageReader + Sync,
    C: DeliveryMarks + Sync,
    Q: EventQueue + Sync,
{
    /// One status-events record.
    ///
    /// # Errors
    /// [`StatusError`] when the record cannot be read or a store or queue fails.
    pub async fn process(&self, body: &str) -> Result<Outcome, StatusError> {
        let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, body)?;
        if event.kind != EventType::Status {
            return Err(StatusError::NotAStatus(event.kind));
        }
        let parsed: Status<'_> = serde_json::from_str(event.data.get()).map_err(|e| {
            counter!("StatusesUnreadable").increment(1);
            StatusError::Unreadable(e)
        })?;
        let report = status::read(&parsed);
        let code = report.error.as_ref().map_or_else(|| "none".to_owned(), |e| e.code.to_string());
        counter!("Statuses", "status" => label(&report.value), "code" => code).increment(1);
        let id = match &report.target {
            Target::Message(id) => id.clone(),
            Target::Confirmation => return Ok(Outcome::Confirmation),
            Target::Wamid(wamid) => match self.messages.message_for_wamid(wamid).await? {
                Some(id) => id,
                None => return Ok(unknown()),
            },
        };
        // A wamid encodes the recipient's number: logs name polite's message id instead.
        if report.pricing_unreadable {
            tracing::warn!(message_id = %id, "status pricing could not be read; the status still counts");
        }
        let mut update = report.update();
        if let Some(pricing) = &report.pricing {
            self.estimate(&mut update, pricing, event.phone_number_id.as_deref(), report.recipient.clone(), &id)
                .await?;
        }
        let Some(transition) = self.messages.apply_status(&id, &update).await? else {
            return Ok(unknown());
        };
        if transition == Transition::Ignored(IgnoreReason::Stale) {
            counter!("StatusTransitionsStale").increment(1);
        }
        if let Some(effect) = report.effect {
            self.apply_effect(effect, &id, &report).await?;
        }
        // The first status after the send carries the person's identities; later ones the same.
        if let Transition::Moved { from: MessageState::Sending, to } = transition {
            self.forward_identities(&event, &parsed, &id, to.as_str()).await?;
        }
        Ok(Outcome::Applied(transition))
    }

    /// Identities the status shows together (its recipient fields and `contacts` entry) go to
    /// consent-updater, the contacts table's owner, to be linked. Once per message (the status
    /// that first moves it on from `sending`), not per status; a group's status names no person.
    async fn forward_identities(
        &self,
        event: &WebhookEvent<'_>,
        status: &Status<'_>,
        id: &str,
        state: &str,
    ) -> Result<(), StatusError> {
        let sender = event.sender().ok().flatten();
        let links = people::in_status(sender.as_ref(), status).into_iter().filter(Observation::links);
        let messages = links
            .enumerate()
            .map(|(i, o)| envelope::identities(&format!("{id}-{state}-{i}"), &o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(EnvelopeError::Malformed)?;
        if !messages.is_empty() {
            counter!("IdentitiesForwarded").increment(messages.len() as u64);
            self.inbound.send_all(messages).await?;
        }
        Ok(())
    }

    /// Adds to `update` the estimate of `pricing` for a message to `recipient` (the message's
    /// own when the status names no one) and, for a service message, the business number's
    /// allowance it draws on.
    async fn estimate(
        &self,
        update: &mut StatusUpdate,
        pricing: &PricingRecord,
        number: Option<&str>,
        recipient: Option<ContactRef>,
        id: &str,
    ) -> Result<(), StatusError> {
        let recipient = match recipient {
            Some(r) => Some(r),
            None => self.messages.get(id).await?.map(|m| m.to),
        };
        let country = recipient.and_then(|r| r.main_region());
        let mut used = 0;
        if self.rates.counts_toward_allowance(pricing, update.at) {
            let allowance = allowance_key(number.unwrap_or("unknown-number"), update.at);
            used = self.messages.allowance_used(&allowance).await?;
            update.allowance = Some(allowance);
        }
        update.estimate = self.rates.estimate(pricing, country.as_deref(), update.at, used);
        if update.estimate.is_none() {
            counter!("PricingNotEstimated").increment(1);
        }
        Ok(())
    }

    async fn apply_effect(&self, effect: Effect, id: &str, report: &status::StatusReport) -> Result<(), StatusError> {
        // The message's own recipient first: a failed status may name no one.
        let recipient = match self.messages.get(id).await? {
            Some(message) => Some(message.to),
            None => report.recipient.clone(),
        };
        let Some(wa_id) = recipient else { return Ok(()) };
        match effect {
            // The same event id for the same message: a redelivered status opts out once.
            Effect::OptOutMarketing => {
                let masked = wa_id.masked();
                let opt_out = envelope::send_failure_opt_out(id, wa_id, report.at).map_err(EnvelopeError::Malformed)?;
                self.inbound.send_all(vec![opt_out]).await?;
                tracing::info!(message_id = id, to = %masked, "131050: marketing opt-out queued");
            }
            Effect::Undeliverable => {
                self.contacts.mark_undeliverable(&wa_id, report.at + self.undeliverable_for).await?;
                tracing::info!(message_id = id, to = %wa_id.masked(), "131026: number marked undeliverable");
            }
            Effect::Blocked => {
                self.contacts.mark_blocked(&wa_id, report.at).await?;
                tracing::info!(message_id = id, to = %wa_id.masked(), "130403: person marked blocked");
            }
        }
        Ok(())
    }
}

fn unknown() -> Outcome {
    counter!("StatusesForUnknownMessages").increment(1);
    // No identifier to log: the wamid would name the recipient's number.
    tracing::info!("status for a message polite did not send; dropped");
    Outcome::UnknownMessage
}

/// The metric label of a status value (unknown values share one label: no unbounded
/// dimension).
fn label(value: &StatusValue) -> String {
    match value {
        StatusValue::Other(_) => "other".to_owned(),
        known => known.as_str().to_owned(),
    }
}
