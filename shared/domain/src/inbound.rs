//! What an inbound webhook event means for a contact — consent-updater's reading of
//! messages, `user_preferences` and number changes, as plain values. The function applies the
//! actions through the contact store; a consent change from status-processor (a 131050 send
//! failure) arrives as the same [`ConsentChange`] and takes the same path.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::WaId;
use crate::consent::{ConsentEvent, ConsentKeywords, KeywordIntent};
use crate::webhook::{EventType, Message, WebhookEvent};

/// A consent event for one contact: what consent-updater applies, whichever function
/// produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub wa_id: WaId,
    pub event: ConsentEvent,
}

/// One thing to do for an inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundAction {
    /// The user wrote: the 24 h customer-service window runs from `at`.
    Inbound { wa_id: WaId, at: Timestamp },
    /// A consent change.
    Consent(ConsentChange),
    /// A keyword was recognised; a confirmation reply may be sent (when configured) inside
    /// the window the user's message just opened.
    Confirm(ConfirmRequest),
    /// The user moved to a new number (`system` / `user_changed_number`).
    NumberChanged { from: WaId, to: WaId, at: Timestamp, wamid: String },
}

/// A keyword's confirmation reply, as the keyword asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmRequest {
    pub wa_id: WaId,
    pub intent: KeywordIntent,
    /// The keyword message (the reply quotes it).
    pub wamid: String,
    /// When the user sent it (the window it opened closes 24 h later).
    pub at: Timestamp,
    /// The business number the user wrote to: the reply comes from the same number.
    pub business_number: Option<String>,
}

/// Texts of the optional confirmation replies to keyword opt-outs and opt-ins; a missing text
/// turns that reply off (both are off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationTexts {
    #[serde(default)]
    pub opt_out: Option<String>,
    #[serde(default)]
    pub opt_in: Option<String>,
}

impl ConfirmationTexts {
    /// The text for `intent`, if that reply is on.
    pub fn for_intent(&self, intent: KeywordIntent) -> Option<&str> {
        match intent {
            KeywordIntent::OptOut => self.opt_out.as_deref(),
            KeywordIntent::OptIn => self.opt_in.as_deref(),
        }
        .filter(|t| !t.trim().is_empty())
    }

    /// Whether every reply is off.
    pub fn is_off(&self) -> bool {
        self.for_intent(KeywordIntent::OptOut).is_none() && self.for_intent(KeywordIntent::OptIn).is_none()
    }
}

/// Why a keyword gets no confirmation reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConfirmation {
    /// No text is configured for this intent.
    Off,
    /// The keyword changed nothing: a replay of an event already recorded (Meta retries for
    /// 7 days) or an older keyword arriving after a newer consent change.
    Unchanged,
    /// The 24 h window the keyword opened has closed (a late delivery): free-form text would
    /// fail with 131047.
    WindowClosed,
}

impl NoConfirmation {
    /// The metric/log label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Unchanged => "unchanged",
            Self::WindowClosed => "window_closed",
        }
    }
}

/// Whether a keyword's confirmation reply goes out, and its text: only when it is configured,
/// the keyword's consent events changed the contact's state (`changed`), and the window its
/// message opened at `at` is still open at `now`.
///
/// # Errors
/// [`NoConfirmation`] says why not.
pub fn confirmation(
    texts: &ConfirmationTexts,
    intent: KeywordIntent,
    changed: bool,
    at: Timestamp,
    now: Timestamp,
) -> Result<&str, NoConfirmation> {
    let text = texts.for_intent(intent).ok_or(NoConfirmation::Off)?;
    if !changed {
        return Err(NoConfirmation::Unchanged);
    }
    let open = crate::gate::window_closes(at).is_some_and(|closes| now < closes);
    if !open {
        return Err(NoConfirmation::WindowClosed);
    }
    Ok(text)
}

/// What an inbound event comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Act(Vec<InboundAction>),
    Ignore(Ignored),
}

/// Why an event leads to nothing (counted, not retried: retrying cannot change it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Known only by a business-scoped user id: contacts are keyed by phone number.
    NoPhoneNumber,
    /// A `user_preferences` value other than stop/resume, or another category.
    OtherPreference,
    /// A `system` message other than a number change.
    OtherSystemMessage,
    /// An app-level error: for the logs and metrics, not for a contact.
    Error,
}

impl Ignored {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPhoneNumber => "no_phone_number",
            Self::OtherPreference => "other_preference",
            Self::OtherSystemMessage => "other_system_message",
            Self::Error => "error",
        }
    }
}

/// An event consent-updater cannot read at all (webhook-intake type-checks these, so this
/// means a producer bug: the record goes to the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("the {kind} element does not read: {source}")]
    Malformed {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("a status is not an inbound event")]
    Status,
    #[error("the number in the event is not valid: {0}")]
    BadNumber(#[from] crate::IdError),
}

/// Reads one inbound event: the actions to apply, or why there are none.
///
/// - any user message → [`InboundAction::Inbound`] at the message's own timestamp;
/// - a text that is a keyword → the keyword's consent events (marketing and utility) and a
///   [`InboundAction::Confirm`];
/// - a quick-reply button that is the opt-out button → a marketing opt-out;
/// - `user_preferences` stop/resume → a marketing opt-out/opt-in;
/// - `system` `user_changed_number` → [`InboundAction::NumberChanged`] (not a user message).
///
/// # Errors
/// [`InboundError`] when the element does not read as its kind or a number is invalid.
pub fn interpret(
    event: &WebhookEvent<'_>,
    keywords: &ConsentKeywords,
    recorded_at: Timestamp,
) -> Result<Reading, InboundError> {
    match event.kind {
        EventType::Message => {
            let message = event.message().map_err(|source| InboundError::Malformed { kind: "message", source })?;
            let sender = event.sender().ok().flatten();
            let from = message.from.as_deref().or_else(|| sender.as_ref().and_then(|c| c.wa_id.as_deref()));
            let Some(from) = from else { return Ok(Reading::Ignore(Ignored::NoPhoneNumber)) };
            let wa_id = WaId::parse(from)?;
            let business_number = event.phone_number_id.as_deref();
            message_actions(&message, wa_id, business_number, keywords, recorded_at)
        }
        EventType::UserPreference => {
            let pref = event
                .user_preference()
                .map_err(|source| InboundError::Malformed { kind: "user_preference", source })?;
            let stop = match (pref.category.as_ref(), pref.value.as_ref()) {
                ("marketing_messages", "stop") => true,
                ("marketing_messages", "resume") => false,
                _ => return Ok(Reading::Ignore(Ignored::OtherPreference)),
            };
            let Some(wa_id) = pref.wa_id.as_deref() else { return Ok(Reading::Ignore(Ignored::NoPhoneNumber)) };
            let wa_id = WaId::parse(wa_id)?;
            let event = ConsentEvent::from_user_preference(wa_id.as_str(), stop, pref.timestamp, recorded_at);
            Ok(Reading::Act(vec![InboundAction::Consent(ConsentChange { wa_id, event })]))
        }
        EventType::Error => Ok(Reading::Ignore(Ignored::Error)),
        EventType::Status => Err(InboundError::Status),
    }
}

fn message_actions(
    message: &Message<'_>,
    wa_id: WaId,
    business_number: Option<&str>,
    keywords: &ConsentKeywords,
    recorded_at: Timestamp,
) -> Result<Reading, InboundError> {
    let at = message.timestamp;
    if message.kind == "system" {
        let system = message.system.as_ref();
        let is_change = system.and_then(|s| s.kind.as_deref()) == Some("user_changed_number");
        let Some(to) = system.and_then(|s| s.wa_id.as_deref()).filter(|_| is_change) else {
            return Ok(Reading::Ignore(Ignored::OtherSystemMessage));
        };
        let to = WaId::parse(to)?;
        return Ok(Reading::Act(vec![InboundAction::NumberChanged {
            from: wa_id,
            to,
            at,
            wamid: message.id.to_string(),
        }]));
    }
    let mut actions = vec![InboundAction::Inbound { wa_id: wa_id.clone(), at }];
    match message.kind.as_ref() {
        "text" => {
            let intent = message.text.as_ref().and_then(|t| keywords.classify_text(&t.body));
            if let Some(intent) = intent {
                for event in ConsentEvent::from_keyword(intent, &message.id, at, recorded_at) {
                    actions.push(InboundAction::Consent(ConsentChange { wa_id: wa_id.clone(), event }));
                }
                actions.push(InboundAction::Confirm(ConfirmRequest {
                    wa_id,
                    intent,
                    wamid: message.id.to_string(),
                    at,
                    business_number: business_number.map(str::to_owned),
                }));
            }
        }
        "button" => {
            let button = message.button.as_ref();
            let payload = button.and_then(|b| b.payload.as_deref());
            let text = button.and_then(|b| b.text.as_deref());
            if keywords.is_optout_button(payload, text) {
                let event = ConsentEvent::from_button(&message.id, at, recorded_at);
                actions.push(InboundAction::Consent(ConsentChange { wa_id, event }));
            }
        }
        _ => {}
    }
    Ok(Reading::Act(actions))
}
