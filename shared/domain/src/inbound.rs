//! What an inbound webhook event means for a person — consent-updater's reading of messages,
//! `user_preferences` and identity changes, as plain values. The function applies the actions
//! through the contact store; a consent change from status-processor (a 131050 send failure)
//! arrives as the same [`ConsentChange`] and takes the same path.
//!
//! A person may be known by a phone number, a business-scoped user id, or both: every action
//! names them by the identity the event carries (the phone when there is one, else the user
//! id), and the identities the event shows together come first, so the store already knows
//! they are one person when the rest is applied.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ContactRef;
use crate::caps::SentRecord;
use crate::consent::{ConsentEvent, ConsentKeywords, KeywordIntent, Preference};
use crate::message::Category;
use crate::people::{self, Observation};
use crate::webhook::{Echo, EventType, Message, WebhookEvent};

/// A consent event for one person: what consent-updater applies, whichever function
/// produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// Any identity of the person (`wa_id` in messages queued before BSUIDs).
    #[serde(alias = "wa_id")]
    pub contact: ContactRef,
    pub event: ConsentEvent,
}

/// One thing to do for an inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "a few per event, short-lived")]
pub enum InboundAction {
    /// Identities WhatsApp showed together, or moved (a number or user-id change).
    Identities(Observation),
    /// The user wrote: the 24 h customer-service window runs from `at`; `username` is the
    /// one their `contacts[]` entry showed (display only).
    Inbound { contact: ContactRef, at: Timestamp, username: Option<String> },
    /// A consent change.
    Consent(ConsentChange),
    /// The business sent the person a message from outside polite (an echo from the WhatsApp
    /// Business app): it goes into their send log under the message's wamid, so caps and pair
    /// spacing count it.
    Sent { contact: ContactRef, wamid: String, sent: SentRecord },
    /// A keyword was recognised; a confirmation reply may be sent (when configured) inside
    /// the window the user's message just opened.
    Confirm(ConfirmRequest),
    /// The person wrote, tapped or called: handed on to the business as `inbound.message`,
    /// after the element's other actions (so it names the person as linked and with the
    /// window the element opened).
    Heard(Heard),
}

/// A person's message, tap, reaction, order or call, as Meta sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub contact: ContactRef,
    /// What identifies the element (a wamid; a call's id and event): the event's identity.
    pub id: String,
    /// Its `type` (`text`, `button`, `image`, … ; `call` for a call).
    pub kind: String,
    /// The element exactly as received.
    pub element: serde_json::Value,
    /// The business number it came to.
    pub phone_number_id: Option<String>,
    pub at: Timestamp,
}

impl Heard {
    fn of(
        event: &WebhookEvent<'_>,
        contact: ContactRef,
        id: &str,
        kind: &str,
        at: Timestamp,
    ) -> Result<Heard, InboundError> {
        let element = serde_json::from_str(event.data.get())
            .map_err(|source| InboundError::Malformed { kind: "element", source })?;
        Ok(Heard {
            contact,
            id: id.to_owned(),
            kind: kind.to_owned(),
            element,
            phone_number_id: event.phone_number_id.as_deref().map(str::to_owned),
            at,
        })
    }
}

/// A keyword's confirmation reply, as the keyword asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// Who to answer: their phone when the message carried it, else their user id.
    pub contact: ContactRef,
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
    let open = crate::window::window_closes(at).is_some_and(|closes| now < closes);
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
    /// Neither a phone number nor a business-scoped user id names the person (a malformed
    /// or placeholder element): there is no one to apply it to.
    NoContact,
    /// A `user_preferences` value other than stop/resume/signup, or another category.
    OtherPreference,
    /// A `system` message other than an identity change.
    OtherSystemMessage,
    /// A message written in a group: it opens no person's window and carries no consent.
    GroupMessage,
    /// A call the business placed: it opens no window.
    BusinessCall,
    /// An app-level error: for the logs and metrics, not for a contact.
    Error,
}

impl Ignored {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoContact => "no_contact",
            Self::OtherPreference => "other_preference",
            Self::OtherSystemMessage => "other_system_message",
            Self::GroupMessage => "group_message",
            Self::BusinessCall => "business_call",
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
    #[error("a template change is not an inbound event")]
    Template,
}

/// Reads one inbound event: the actions to apply, or why there are none.
///
/// - the identities the element shows together, or moves → [`InboundAction::Identities`] first;
/// - any user message → [`InboundAction::Inbound`] at the message's own timestamp, and last
///   [`InboundAction::Heard`] (the business hears it);
/// - a text that is a keyword → the keyword's consent events (marketing and utility) and a
///   [`InboundAction::Confirm`];
/// - a quick-reply button that is the opt-out button → a marketing opt-out;
/// - `user_preferences` stop/resume/signup → a marketing opt-out/opt-in;
/// - `system` `user_changed_number` / `user_changed_user_id` and the `user_id_update` field →
///   the move only (not a user message);
/// - a call the user made (`calls[]`) → [`InboundAction::Inbound`]: it opens the window too,
///   and [`InboundAction::Heard`];
/// - an echo (`smb_message_echoes`: the business wrote from the WhatsApp Business app) →
///   [`InboundAction::Sent`]: it counts toward the person's caps and spacing, and opens no
///   window (the business wrote, not the user).
///
/// # Errors
/// [`InboundError`] when the element does not read as its kind.
pub fn interpret(
    event: &WebhookEvent<'_>,
    keywords: &ConsentKeywords,
    recorded_at: Timestamp,
) -> Result<Reading, InboundError> {
    match event.kind {
        EventType::Message => read_message(event, keywords, recorded_at),
        EventType::UserPreference => {
            let pref = event
                .user_preference()
                .map_err(|source| InboundError::Malformed { kind: "user_preference", source })?;
            let preference = match (pref.category.as_ref(), pref.value.as_ref()) {
                ("marketing_messages", "stop") => Preference::Stop,
                ("marketing_messages", "resume") => Preference::Resume,
                ("marketing_messages", "signup") => match pref.signup_id.as_deref() {
                    Some(signup_id) if !signup_id.is_empty() => Preference::Signup { signup_id },
                    // A signup is evidence by its id; without one it proves nothing.
                    _ => return Ok(Reading::Ignore(Ignored::OtherPreference)),
                },
                _ => return Ok(Reading::Ignore(Ignored::OtherPreference)),
            };
            let entry = event.sender().ok().flatten();
            let Some(seen) = people::in_user_preference(entry.as_ref(), &pref) else {
                return Ok(Reading::Ignore(Ignored::NoContact));
            };
            let Some(contact) = speaker(std::slice::from_ref(&seen)) else {
                return Ok(Reading::Ignore(Ignored::NoContact));
            };
            let event =
                ConsentEvent::from_user_preference(&contact.to_string(), preference, pref.timestamp, recorded_at);
            let mut actions = Vec::with_capacity(2);
            if seen.links() {
                actions.push(InboundAction::Identities(seen));
            }
            actions.push(InboundAction::Consent(ConsentChange { contact, event }));
            Ok(Reading::Act(actions))
        }
        EventType::UserIdUpdate => {
            let update =
                event.user_id_update().map_err(|source| InboundError::Malformed { kind: "user_id_update", source })?;
            let moves: Vec<InboundAction> =
                people::in_user_id_update(&update).into_iter().map(InboundAction::Identities).collect();
            if moves.is_empty() {
                return Ok(Reading::Ignore(Ignored::NoContact));
            }
            Ok(Reading::Act(moves))
        }
        EventType::Call => {
            let call = event.call().map_err(|source| InboundError::Malformed { kind: "call", source })?;
            if !call.by_user() {
                return Ok(Reading::Ignore(Ignored::BusinessCall));
            }
            let entry = event.sender().ok().flatten();
            let at = call.timestamp.unwrap_or(event.received_at);
            let observations = people::in_call(entry.as_ref(), &call, at);
            let Some(contact) = speaker(&observations) else { return Ok(Reading::Ignore(Ignored::NoContact)) };
            let mut actions = links(observations);
            // A user's call opens or refreshes their window, as a message does.
            // A call has several events (connect, terminate) under one id: each is heard.
            let id = format!("{}#{}", call.id, call.event.as_deref().unwrap_or_default());
            let heard = Heard::of(event, contact.clone(), &id, "call", at)?;
            actions.push(InboundAction::Inbound { contact, at, username: None });
            actions.push(InboundAction::Heard(heard));
            Ok(Reading::Act(actions))
        }
        EventType::Echo => {
            let echo = event.echo().map_err(|source| InboundError::Malformed { kind: "echo", source })?;
            let entry = event.sender().ok().flatten();
            let at = echo.timestamp.unwrap_or(event.received_at);
            let observations = people::in_echo(entry.as_ref(), &echo, at);
            let Some(contact) = speaker(&observations) else { return Ok(Reading::Ignore(Ignored::NoContact)) };
            let mut actions = links(observations);
            let sent = SentRecord { category: echo_category(&echo), at };
            actions.push(InboundAction::Sent { contact, wamid: echo.id.into_owned(), sent });
            Ok(Reading::Act(actions))
        }
        EventType::Error => Ok(Reading::Ignore(Ignored::Error)),
        EventType::Status => Err(InboundError::Status),
        EventType::Template => Err(InboundError::Template),
    }
}

/// A `messages[]` (or `standby`) element: [`interpret`]'s reading of it.
fn read_message(
    event: &WebhookEvent<'_>,
    keywords: &ConsentKeywords,
    recorded_at: Timestamp,
) -> Result<Reading, InboundError> {
    let message = event.message().map_err(|source| InboundError::Malformed { kind: "message", source })?;
    let entry = event.sender().ok().flatten();
    if message.group_id.is_some() {
        return Ok(Reading::Ignore(Ignored::GroupMessage));
    }
    let at = message.sent_at(event.received_at);
    let observations = people::in_message(entry.as_ref(), &message, at);
    let Some(contact) = speaker(&observations) else { return Ok(Reading::Ignore(Ignored::NoContact)) };
    let reply = reply_address(&observations).unwrap_or_else(|| contact.clone());
    let business_number = event.phone_number_id.as_deref();
    let mut actions = links(observations);
    let username = entry
        .as_ref()
        .and_then(|c| c.profile.as_ref()?.username.as_deref())
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let sender = Sender { contact: contact.clone(), reply, username };
    match message_actions(&message, sender, at, business_number, keywords, recorded_at) {
        Reading::Act(more) => {
            // A move (a system message) is no one writing.
            let spoke = !more.is_empty();
            actions.extend(more);
            if spoke {
                // The element is read as JSON only when it is handed on.
                actions.push(InboundAction::Heard(Heard::of(event, contact, &message.id, &message.kind, at)?));
            }
        }
        // A system message other than a move may still show who the person is.
        Reading::Ignore(why) if actions.is_empty() => return Ok(Reading::Ignore(why)),
        Reading::Ignore(_) => {}
    }
    Ok(Reading::Act(actions))
}

/// Who the element speaks for, by the identity that keeps finding the person: their user id
/// when it has one (a retired user id still finds the person, so a STOP typed on the old
/// number before a change and delivered after it reaches them; a retired phone may be someone
/// else's by then), else its phone, else its parent id (a parent names the business's whole
/// portfolio view of the person, not a chat).
fn speaker(observations: &[Observation]) -> Option<ContactRef> {
    observations.iter().find_map(|o| match o {
        Observation::Together { user: Some(u), .. } => Some(ContactRef::User(u.clone())),
        Observation::Together { phone: Some(p), .. } => Some(ContactRef::Phone(p.clone())),
        Observation::Together { parent: Some(p), .. } => Some(ContactRef::User(p.clone())),
        _ => None,
    })
}

/// The category an echoed send counts under: a free-form message is a service message; a
/// template is counted as marketing, the strictest (an echo does not say its category).
fn echo_category(echo: &Echo<'_>) -> Category {
    if echo.kind == "template" { Category::Marketing } else { Category::Service }
}

/// The observations that relate identities, as the first actions of an element.
fn links(observations: Vec<Observation>) -> Vec<InboundAction> {
    observations.into_iter().filter(Observation::links).map(InboundAction::Identities).collect()
}

/// Where a reply to the element goes: the number the user wrote from, else their user id.
fn reply_address(observations: &[Observation]) -> Option<ContactRef> {
    observations.iter().find_map(|o| match o {
        Observation::Together { phone: Some(p), .. } => Some(ContactRef::Phone(p.clone())),
        _ => None,
    })
}

/// The person a message is from, where a reply to it goes, and the username it showed.
struct Sender {
    contact: ContactRef,
    reply: ContactRef,
    username: Option<String>,
}

fn message_actions(
    message: &Message<'_>,
    Sender { contact, reply, username }: Sender,
    at: Timestamp,
    business_number: Option<&str>,
    keywords: &ConsentKeywords,
    recorded_at: Timestamp,
) -> Reading {
    if message.kind == "system" {
        // A move is an observation (already read); any other system message changes nothing.
        let kind = message.system.as_ref().and_then(|s| s.kind.as_deref());
        return match kind {
            Some("user_changed_number" | "user_changed_user_id") => Reading::Act(Vec::new()),
            _ => Reading::Ignore(Ignored::OtherSystemMessage),
        };
    }
    let mut actions = vec![InboundAction::Inbound { contact: contact.clone(), at, username }];
    match message.kind.as_ref() {
        "text" => {
            let intent = message.text.as_ref().and_then(|t| keywords.classify_text(&t.body));
            if let Some(intent) = intent {
                for event in ConsentEvent::from_keyword(intent, &message.id, at, recorded_at) {
                    actions.push(InboundAction::Consent(ConsentChange { contact: contact.clone(), event }));
                }
                actions.push(InboundAction::Confirm(ConfirmRequest {
                    contact: reply,
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
                actions.push(InboundAction::Consent(ConsentChange { contact, event }));
            }
        }
        _ => {}
    }
    Reading::Act(actions)
}
