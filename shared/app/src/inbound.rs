//! consent-updater's use case: what each inbound event means for a person
//! ([`polite_domain::inbound::interpret`]) applied to the contacts table — the identities it
//! shows together or moves, the 24 h window of every user message, keyword and button
//! opt-outs and opt-ins, WhatsApp's own stop/resume/signup control, the messages the business
//! sent from the WhatsApp Business app (into the person's send log), the consent changes other
//! functions send, and `inbound.message` for every user message. Every write is idempotent, so
//! Meta's retries and queue redeliveries change nothing twice, and the ledger orders by event
//! time, so an old event arriving late never overrides a newer one.

use jiff::{SignedDuration, Timestamp};
use metrics::counter;
use polite_domain::consent::ConsentKeywords;
use polite_domain::contact::ConsentAppend;
use polite_domain::envelope::{self, EnvelopeError, kinds};
use polite_domain::events::{Event, EventContact};
use polite_domain::inbound::{
    ConfirmRequest, ConfirmationTexts, ConsentChange, InboundAction, InboundError, Reading, confirmation, interpret,
};
use polite_domain::ports::{ContactReader, ContactWriter, Outbox, SendLog, StoreError, WhatsAppApi};
use polite_domain::webhook::WebhookEvent;
use polite_domain::whatsapp::{CONFIRMATION_CALLBACK_PREFIX, Content, Outbound};

/// What applying inbound events needs.
#[derive(Debug)]
pub struct Updater<S, W> {
    pub store: S,
    pub keywords: ConsentKeywords,
    /// Confirmation replies to keyword opt-outs/opt-ins; `None`: off (the default).
    pub confirmations: Option<Confirmations<W>>,
    /// How long a send recorded from an echo counts ([`polite_domain::gate::Policy::send_memory`]
    /// of the sending policy).
    pub send_memory: SignedDuration,
}

/// The optional confirmation replies: their texts and the Graph API to send them through.
#[derive(Debug)]
pub struct Confirmations<W> {
    pub api: W,
    pub texts: ConfirmationTexts,
}

/// Why a queue message could not be applied (it is retried, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("a '{0}' message does not belong on inbound-events")]
    UnexpectedKind(String),
    #[error(transparent)]
    Inbound(#[from] InboundError),
    #[error("the contact store failed")]
    Store(#[from] StoreError),
}

impl<S: ContactReader + ContactWriter + SendLog + Outbox + Sync, W: WhatsAppApi + Sync> Updater<S, W> {
    /// One queue message: a webhook event or a consent change.
    ///
    /// # Errors
    /// [`UpdateError`] when the message cannot be read or the store fails.
    pub async fn apply_record(&self, body: &str, now: Timestamp) -> Result<(), UpdateError> {
        self.apply_kind(&envelope::kind_of(body)?, body, now).await
    }

    /// [`Self::apply_record`] of a message whose envelope's `kind` the caller has read.
    ///
    /// # Errors
    /// [`UpdateError`] when the message cannot be read or the store fails.
    pub async fn apply_kind(&self, kind: &str, body: &str, now: Timestamp) -> Result<(), UpdateError> {
        match kind {
            kinds::WEBHOOK_EVENT => {
                let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, body)?;
                match interpret(&event, &self.keywords, now)? {
                    Reading::Act(actions) => {
                        // Whether this event's consent changes moved the contact's state: a
                        // replay or a superseded keyword gets no confirmation.
                        let mut changed = false;
                        for action in actions {
                            if let InboundAction::Confirm(request) = action {
                                self.confirm(request, changed, now).await;
                            } else {
                                changed |= self.apply(action).await?;
                            }
                        }
                    }
                    Reading::Ignore(why) => {
                        counter!("InboundIgnored", "reason" => why.as_str()).increment(1);
                        tracing::info!(reason = why.as_str(), "inbound event needs no change");
                    }
                }
                Ok(())
            }
            kinds::IDENTITIES => {
                let observation: polite_domain::people::Observation = envelope::decode(kinds::IDENTITIES, body)?;
                self.apply(InboundAction::Identities(observation)).await.map(|_| ())
            }
            kinds::CONSENT_CHANGE => {
                let change: ConsentChange = envelope::decode(kinds::CONSENT_CHANGE, body)?;
                self.apply(InboundAction::Consent(change)).await.map(|_| ())
            }
            _ => Err(UpdateError::UnexpectedKind(kind.to_owned())),
        }
    }

    /// Applies one action to the store; true when it was a consent event that became the
    /// contact's current state.
    async fn apply(&self, action: InboundAction) -> Result<bool, UpdateError> {
        let mut changed = false;
        match action {
            InboundAction::Identities(observation) => {
                let linked = self.store.observe(&observation).await?;
                if !linked.is_unchanged() {
                    counter!("IdentityLinks", "merged" => if linked.merged > 0 { "yes" } else { "no" }).increment(1);
                    tracing::info!(
                        links_changed = linked.links_changed,
                        merged = linked.merged,
                        events_moved = linked.events_moved,
                        "identities linked"
                    );
                }
            }
            InboundAction::Inbound { contact, at, username } => {
                self.store.record_inbound(&contact, at, username.as_deref()).await?;
            }
            InboundAction::Consent(ConsentChange { contact, event }) => {
                let outcome = self.store.append_consent(&contact, &event).await?;
                changed = outcome == ConsentAppend::Recorded { changed: true };
                let result = match outcome {
                    ConsentAppend::Recorded { changed: true } => "changed",
                    ConsentAppend::Recorded { changed: false } => "superseded",
                    ConsentAppend::Duplicate => "duplicate",
                };
                counter!("ConsentEvents", "source" => event.source.as_str().to_owned(), "status" => event.status.as_str(), "result" => result)
                    .increment(1);
                tracing::info!(
                    contact = %contact.masked(),
                    category = event.category.as_str(),
                    status = event.status.as_str(),
                    source = event.source.as_str(),
                    result,
                    "consent event"
                );
            }
            InboundAction::Sent { contact, wamid, sent } => {
                // Caps and spacing count per person, whatever identity they were written to by.
                let person = self.store.get(&contact).await?.map_or(contact, |c| c.id);
                self.store.record_sent(&person, &wamid, sent, self.send_memory).await?;
                counter!("EchoedSends", "category" => sent.category.as_str()).increment(1);
                tracing::info!(contact = %person.masked(), category = sent.category.as_str(), "send from the business app recorded");
            }
            InboundAction::Heard(heard) => {
                // Told after the element's other actions: the person as linked now, and the
                // window as recorded (a later message may already have moved it on).
                let person = self.store.get(&heard.contact).await?;
                let (contact, window) = match &person {
                    Some(p) => (EventContact::of(&p.id, &p.identities), p.window_open_until()),
                    None => (EventContact::named(&heard.contact), polite_domain::window::window_closes(heard.at)),
                };
                let event = Event::inbound_message(
                    &contact,
                    &heard.id,
                    &heard.kind,
                    &heard.element,
                    heard.phone_number_id.as_deref(),
                    window,
                    heard.at,
                );
                self.store.publish(&event, heard.at).await?;
                counter!("InboundMessages").increment(1);
            }
            InboundAction::Confirm(_) => {
                // Handled by `confirm`, which needs to know what the event's consent changes did.
            }
        }
        Ok(changed)
    }

    /// Sends a keyword's confirmation reply when it is on and due
    /// ([`polite_domain::inbound::confirmation`]). At most once: a failed send is counted and
    /// logged but does not fail the record, because the redelivered record would find its
    /// consent events already recorded and rightly confirm nothing — a courtesy reply is not
    /// worth a second send risk.
    async fn confirm(&self, request: ConfirmRequest, changed: bool, now: Timestamp) {
        let Some(confirmations) = &self.confirmations else { return };
        let text = match confirmation(&confirmations.texts, request.intent, changed, request.at, now) {
            Ok(text) => text,
            Err(why) => {
                counter!("Confirmations", "result" => why.as_str()).increment(1);
                tracing::debug!(contact = %request.contact.masked(), reason = why.as_str(), "no confirmation reply");
                return;
            }
        };
        let message = Outbound {
            from: request.business_number,
            to: request.contact,
            content: Content::Text { body: text.to_owned() },
            callback_data: Some(format!("{CONFIRMATION_CALLBACK_PREFIX}{}", request.wamid)),
            reply_to: Some(request.wamid),
            endpoint: polite_domain::whatsapp::Endpoint::Messages,
        };
        match confirmations.api.send(&message).await {
            Ok(_accepted) => {
                counter!("Confirmations", "result" => "sent").increment(1);
                // Not the wamid: it encodes the number.
                tracing::info!(contact = %message.to.masked(), "confirmation reply sent");
            }
            Err(e) => {
                counter!("Confirmations", "result" => "failed").increment(1);
                tracing::warn!(contact = %message.to.masked(), error = %e, "confirmation reply not sent");
            }
        }
    }
}
