//! Splitting a verified webhook body into queue-ready events, each kept exactly as Meta sent it.
//!
//! webhook-intake is a router, not an interpreter. The envelope (`object`, `entry[]`,
//! `changes[]`, `field`, `metadata`) is parsed with the domain model in one pass that keeps
//! every element of the change's arrays as the raw JSON Meta signed; each element is then
//! queued with its origin (WABA id, `phone_number_id`) and the time the POST arrived. Nothing
//! is re-serialised, so fields polite does not model yet survive the queue, and the element's
//! own `timestamp` reaches its consumer as sent.
//!
//! Inbound elements (messages, `user_preferences`, value-level errors: few, and they carry
//! consent) are checked against the typed model here, so one consent-updater cannot read is
//! parked where an operator looks first. Statuses — the volume — are checked to be objects and
//! parsed once, by status-processor.
//!
//! What cannot be routed is parked, never dropped: a body that is not a WhatsApp notification,
//! a change of a field polite does not subscribe to, an element that does not match the model.
//! A bad element parks alone; its neighbours in the same POST are routed as usual.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use jiff::Timestamp;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ApiError, Call, Contact, Echo, Message, Metadata, Status, UserIdUpdate, UserPreference, WHATSAPP_OBJECT};

/// The kind of a routed event (its consumer parses `data` as this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Message,
    Status,
    UserPreference,
    /// A `user_id_update` element: WhatsApp gave a person a new business-scoped user id.
    UserIdUpdate,
    /// A `calls[]` element: a voice call (a user's opens their window).
    Call,
    /// A `message_echoes` element: the business sent the user a message from elsewhere (the
    /// WhatsApp Business app): a send that counts toward the person's caps and spacing.
    Echo,
    /// A template webhook's value (`message_template_status_update`,
    /// `template_category_update`, `message_template_quality_update`): for the template
    /// registry.
    Template,
    Error,
}

impl EventType {
    /// The wire name (also the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Status => "status",
            Self::UserPreference => "user_preference",
            Self::UserIdUpdate => "user_id_update",
            Self::Call => "call",
            Self::Echo => "echo",
            Self::Template => "template",
            Self::Error => "error",
        }
    }
}

/// One update out of a webhook POST, as queued: statuses on status-events, the rest on
/// inbound-events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEvent<'a> {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The WhatsApp Business Account id (`entry[].id`).
    #[serde(borrow)]
    pub waba_id: Cow<'a, str>,
    /// The business phone number (`metadata.phone_number_id`), to route by.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<Cow<'a, str>>,
    /// When webhook-intake received the POST, in Unix milliseconds (integers: an event is
    /// serialised on the webhook's hot path, and formatting RFC 3339 there costs more than
    /// the rest of the event).
    #[serde(with = "jiff::fmt::serde::timestamp::millisecond::required")]
    pub received_at: Timestamp,
    /// For a message: its sender's `contacts[]` entry, as received; for a status: its
    /// recipient's, when the value has exactly one.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a RawValue>,
    /// The entry's `time` (Unix seconds), for a template change: when Meta made it, to order
    /// its updates by (other events carry their own timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "jiff::fmt::serde::timestamp::second::optional")]
    pub entry_time: Option<Timestamp>,
    /// The element, exactly as received.
    #[serde(borrow)]
    pub data: &'a RawValue,
}

impl<'a> WebhookEvent<'a> {
    /// The message (for [`EventType::Message`]).
    ///
    /// # Errors
    /// When `data` is not a message.
    pub fn message(&self) -> Result<Message<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The sender's contact entry, when the payload had one.
    ///
    /// # Errors
    /// When `contact` is not a contact.
    pub fn sender(&self) -> Result<Option<Contact<'a>>, serde_json::Error> {
        self.contact.map(|raw| serde_json::from_str(raw.get())).transpose()
    }

    /// The status (for [`EventType::Status`]).
    ///
    /// # Errors
    /// When `data` is not a status.
    pub fn status(&self) -> Result<Status<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The preference change (for [`EventType::UserPreference`]).
    ///
    /// # Errors
    /// When `data` is not a `user_preferences` item.
    pub fn user_preference(&self) -> Result<UserPreference<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The user-id change (for [`EventType::UserIdUpdate`]).
    ///
    /// # Errors
    /// When `data` is not a `user_id_update` item.
    pub fn user_id_update(&self) -> Result<UserIdUpdate<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The call (for [`EventType::Call`]).
    ///
    /// # Errors
    /// When `data` is not a `calls[]` element.
    pub fn call(&self) -> Result<Call<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The echoed send (for [`EventType::Echo`]).
    ///
    /// # Errors
    /// When `data` is not a `message_echoes` element.
    pub fn echo(&self) -> Result<Echo<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The template change (for [`EventType::Template`]).
    ///
    /// # Errors
    /// When `data` is not a template change's value.
    pub fn template_change(&self) -> Result<crate::template::TemplateChange<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The value-level error (for [`EventType::Error`]).
    ///
    /// # Errors
    /// When `data` is not an error object.
    pub fn error(&self) -> Result<ApiError<'a>, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }
}

/// Why something was parked (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkReason {
    /// The body is not UTF-8.
    NotUtf8,
    /// The body is not JSON, or not shaped like a notification.
    NotANotification,
    /// The `object` is not `whatsapp_business_account`.
    WrongObject,
    /// A change of a field polite does not handle (`account_update`, `history`, …).
    UnknownField,
    /// A `messages` / `user_preferences` change with nothing polite knows in it.
    NoUpdates,
    /// An element that does not match the typed model.
    MalformedElement,
    /// An element too large for one queue message (SQS takes 256 KiB; Meta's bodies reach
    /// 3 MB): kept whole on the parking queue, in parts, while the rest of the POST flows.
    TooLarge,
}

impl ParkReason {
    /// The wire name (also the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotUtf8 => "not_utf8",
            Self::NotANotification => "not_a_notification",
            Self::WrongObject => "wrong_object",
            Self::UnknownField => "unknown_field",
            Self::NoUpdates => "no_updates",
            Self::MalformedElement => "malformed_element",
            Self::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for ParkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was parked, as received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkedPayload<'a> {
    /// JSON (the whole body, a change's value, or one element).
    Json(Cow<'a, RawValue>),
    /// UTF-8 text that is not JSON.
    Text(#[serde(borrow)] Cow<'a, str>),
    /// Bytes that are not UTF-8, base64-encoded.
    Base64(String),
}

/// Something that could not be routed, with enough context to replay it by hand.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parked<'a> {
    pub reason: ParkReason,
    /// What exactly was wrong (a serde message, the unknown field's name…). May quote the
    /// payload, so it belongs on the parking queue, not in logs.
    pub detail: String,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Cow<'a, str>>,
    /// For one element parked alone: the array of the change's value it came from
    /// (`messages`, `statuses`, `user_preferences`, `errors`), so it can be replayed in place.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub array: Option<Cow<'a, str>>,
    pub received_at: Timestamp,
    #[serde(borrow)]
    pub payload: ParkedPayload<'a>,
}

/// Why a change of a field Meta documents is read and deliberately left alone (also the
/// metric label). Nothing in these changes is consent, a window or a message's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// `messaging_handovers`: who holds the conversation (Meta's AI agent or the business).
    /// The user's messages meanwhile arrive on `standby`, which is read like `messages`.
    ConversationControl,
    /// `history`: a coexistence number's past chats, synced once; old messages open no window
    /// and carry no consent polite could prove.
    ChatHistory,
    /// `smb_app_state_sync`: the WhatsApp Business app's contact book.
    ContactBookSync,
    /// `group_lifecycle_update`, `group_participants_update`, `group_settings_update`,
    /// `group_status_update`: groups are not a person's 1:1 conversation.
    Group,
    /// `business_username_updates`: the business's own username.
    BusinessProfile,
    /// `account_alerts`, `account_review_update`, `account_settings_update`: for the account's
    /// owner in Meta's tools; nothing a send decision depends on.
    AccountNotice,
    /// `account_update`, `business_capability_update`, `phone_number_quality_update`: limits,
    /// restrictions and quality. Counted per field and event (`WebhookAccountSignals`) for
    /// operators to act on (README, pacing); polite's pacing already follows Meta's 130429.
    AccountSignal,
    /// The `statuses[]` of a `calls` change: call states (`RINGING`, …), not message statuses.
    CallState,
}

impl IgnoreReason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConversationControl => "conversation_control",
            Self::ChatHistory => "chat_history",
            Self::ContactBookSync => "contact_book_sync",
            Self::Group => "group",
            Self::BusinessProfile => "business_profile",
            Self::AccountNotice => "account_notice",
            Self::AccountSignal => "account_signal",
            Self::CallState => "call_state",
        }
    }

    /// The reason a documented field is ignored for; `None` for the fields polite reads and
    /// for those it does not know (parked).
    pub fn of_field(field: &str) -> Option<Self> {
        Some(match field {
            "messaging_handovers" => Self::ConversationControl,
            "history" => Self::ChatHistory,
            "smb_app_state_sync" => Self::ContactBookSync,
            f if f.starts_with("group_") => Self::Group,
            "business_username_updates" => Self::BusinessProfile,
            "account_alerts" | "account_review_update" | "account_settings_update" => Self::AccountNotice,
            "account_update" | "business_capability_update" | "phone_number_quality_update" => Self::AccountSignal,
            _ => return None,
        })
    }
}

/// A change ignored by name: its field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredChange<'a> {
    pub field: Cow<'a, str>,
    pub reason: IgnoreReason,
    /// The value's `event` (`account_update`'s `ACCOUNT_RESTRICTION`, a quality update's
    /// `FLAGGED`…), when it names one: a label for operators, never an identity.
    pub event: Option<String>,
}

/// A body split into its destinations.
#[derive(Debug, Default)]
pub struct Routed<'a> {
    /// For status-events.
    pub statuses: Vec<WebhookEvent<'a>>,
    /// For inbound-events: messages (of `messages` and `standby`), `user_preferences`,
    /// `user_id_update`, calls, message echoes, value-level errors.
    pub inbound: Vec<WebhookEvent<'a>>,
    /// For template-events: template status, category and quality changes.
    pub templates: Vec<TemplateEvent<'a>>,
    /// Changes of documented fields read and left alone, by name.
    pub ignored: Vec<IgnoredChange<'a>>,
    /// For the parking queue.
    pub parked: Vec<Parked<'a>>,
}

impl Routed<'_> {
    /// Events routed (not counting parked items).
    pub fn event_count(&self) -> usize {
        self.statuses.len() + self.inbound.len() + self.templates.len()
    }
}

/// A template change, for the template registry. Its value is rebuilt from the members Meta
/// sent (each byte for byte), so it is owned; [`TemplateEvent::event`] lends it as a queue event.
#[derive(Debug)]
pub struct TemplateEvent<'a> {
    pub waba_id: Cow<'a, str>,
    pub received_at: Timestamp,
    pub entry_time: Option<Timestamp>,
    pub value: Box<RawValue>,
}

impl TemplateEvent<'_> {
    /// The change as a [`WebhookEvent`] of [`EventType::Template`].
    pub fn event(&self) -> WebhookEvent<'_> {
        WebhookEvent {
            kind: EventType::Template,
            waba_id: Cow::Borrowed(&self.waba_id),
            phone_number_id: None,
            received_at: self.received_at,
            contact: None,
            entry_time: self.entry_time,
            data: &self.value,
        }
    }
}

/// Splits a body whose signature has been verified. Never fails: what cannot be routed is in
/// [`Routed::parked`].
pub fn route(body: &[u8], received_at: Timestamp) -> Routed<'_> {
    let mut routed = Routed::default();
    let Ok(text) = std::str::from_utf8(body) else {
        let payload = ParkedPayload::Base64(base64::engine::general_purpose::STANDARD.encode(body));
        routed.parked.push(Parked::whole(ParkReason::NotUtf8, "the body is not UTF-8".into(), received_at, payload));
        return routed;
    };
    let notification: RawNotification<'_> = match serde_json::from_str(text) {
        Ok(n) => n,
        Err(e) => {
            let payload = match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) => ParkedPayload::Json(Cow::Borrowed(raw)),
                Err(_) => ParkedPayload::Text(Cow::Borrowed(text)),
            };
            routed.parked.push(Parked::whole(ParkReason::NotANotification, e.to_string(), received_at, payload));
            return routed;
        }
    };
    if notification.object != WHATSAPP_OBJECT {
        let detail = format!("object is '{}', not '{WHATSAPP_OBJECT}'", notification.object);
        let payload = serde_json::from_str::<&RawValue>(text)
            .map_or(ParkedPayload::Text(Cow::Borrowed(text)), |raw| ParkedPayload::Json(Cow::Borrowed(raw)));
        routed.parked.push(Parked::whole(ParkReason::WrongObject, detail, received_at, payload));
        return routed;
    }
    for entry in notification.entry {
        for change in entry.changes {
            route_change((&entry.id, entry.time), change, received_at, &mut routed);
        }
    }
    routed
}

/// Where a change came from: what every event and parked item of it carries.
struct ChangeOrigin<'a> {
    waba_id: Cow<'a, str>,
    phone_number_id: Option<Cow<'a, str>>,
    field: Cow<'a, str>,
    received_at: Timestamp,
}

impl<'a> ChangeOrigin<'a> {
    fn park(&self, reason: ParkReason, detail: String, payload: Cow<'a, RawValue>) -> Parked<'a> {
        Parked {
            reason,
            detail,
            waba_id: Some(self.waba_id.clone()),
            phone_number_id: self.phone_number_id.clone(),
            field: Some(self.field.clone()),
            array: None,
            received_at: self.received_at,
            payload: ParkedPayload::Json(payload),
        }
    }

    fn park_element(&self, array: &'static str, detail: &dyn fmt::Display, payload: &'a RawValue) -> Parked<'a> {
        Parked {
            array: Some(Cow::Borrowed(array)),
            ..self.park(ParkReason::MalformedElement, format!("{array}[]: {detail}"), Cow::Borrowed(payload))
        }
    }

    fn event(&self, kind: EventType, contact: Option<&'a RawValue>, data: &'a RawValue) -> WebhookEvent<'a> {
        WebhookEvent {
            kind,
            waba_id: self.waba_id.clone(),
            phone_number_id: self.phone_number_id.clone(),
            received_at: self.received_at,
            contact,
            entry_time: None,
            data,
        }
    }
}

#[allow(clippy::ptr_arg, reason = "cloning the Cow keeps a borrowed id borrowed; a &str could not")]
fn route_change<'a>(
    (waba_id, entry_time): (&Cow<'a, str>, Option<Timestamp>),
    change: RawChange<'a>,
    received_at: Timestamp,
    out: &mut Routed<'a>,
) {
    let value = change.value;
    let metadata = value.metadata.map(|m| serde_json::from_str::<Metadata<'a>>(m.get()));
    let phone_number_id = match &metadata {
        Some(Ok(m)) => Some(m.phone_number_id.clone()),
        _ => None,
    };
    if let Some(reason) = IgnoreReason::of_field(&change.field) {
        out.ignored.push(IgnoredChange { field: change.field, reason, event: value.event.as_deref().map(label) });
        return;
    }
    let origin = ChangeOrigin { waba_id: waba_id.clone(), phone_number_id, field: change.field, received_at };
    if TEMPLATE_FIELDS.contains(&origin.field.as_ref()) {
        // The value is the change: one template's new status, category or quality.
        let raw = value.to_raw();
        match serde_json::from_str::<crate::template::TemplateChange<'_>>(raw.get()) {
            Ok(_) => {
                out.templates.push(TemplateEvent { waba_id: origin.waba_id, received_at, entry_time, value: raw });
            }
            Err(e) => {
                out.parked.push(origin.park(ParkReason::MalformedElement, format!("value: {e}"), Cow::Owned(raw)));
            }
        }
        return;
    }
    if !ELEMENT_FIELDS.contains(&origin.field.as_ref()) {
        let detail = format!("changes[].field '{}' is not one polite handles", origin.field);
        out.parked.push(origin.park(ParkReason::UnknownField, detail, Cow::Owned(value.to_raw())));
        return;
    }
    if value.is_empty() {
        let detail = "the change carries no messages, statuses, user_preferences or errors".to_owned();
        out.parked.push(origin.park(ParkReason::NoUpdates, detail, Cow::Owned(value.to_raw())));
        return;
    }
    if let Some(Err(problem)) = &metadata {
        // Without a readable phone_number_id nothing in this change can be routed reliably.
        let payload = Cow::Owned(value.to_raw());
        out.parked.push(origin.park(ParkReason::MalformedElement, format!("metadata: {problem}"), payload));
        return;
    }
    route_elements(&origin, value, out);
}

/// Every element of a change of a field polite reads, to its queue; one that does not read as
/// its kind parks alone.
fn route_elements<'a>(origin: &ChangeOrigin<'a>, value: RawChangeValue<'a>, out: &mut Routed<'a>) {
    let contacts: Vec<(&RawValue, Option<Contact<'a>>)> =
        value.contacts.iter().map(|raw| (*raw, serde_json::from_str(raw.get()).ok())).collect();
    for raw in value.messages {
        match serde_json::from_str::<Message<'_>>(raw.get()) {
            Ok(m) => {
                let sender = entry_of(&contacts, m.from.as_deref(), m.from_user_id.as_deref());
                out.inbound.push(origin.event(EventType::Message, sender, raw));
            }
            Err(e) => out.parked.push(origin.park_element("messages", &e, raw)),
        }
    }
    // Statuses are the volume (up to three per message sent) and status-processor parses each
    // one anyway: checking more than "an object" here would parse every status twice, which
    // measured 2.7x the floor instead of 1.5x (README, Performance). One status-processor
    // cannot read goes to its dead-letter queue, not lost.
    // A status's recipient is the value's only `contacts[]` entry when there is one (Meta
    // sends one status per value); with several, matching would parse every status here.
    let recipient = match contacts.as_slice() {
        [(only, _)] if value.statuses.len() == 1 => Some(*only),
        _ => None,
    };
    let calls = origin.field == "calls";
    if calls && !value.statuses.is_empty() {
        out.ignored.push(IgnoredChange { field: origin.field.clone(), reason: IgnoreReason::CallState, event: None });
    }
    for raw in value.calls {
        match serde_json::from_str::<Call<'_>>(raw.get()) {
            Ok(call) => {
                let caller = entry_of(&contacts, call.from.as_deref(), call.from_user_id.as_deref());
                out.inbound.push(origin.event(EventType::Call, caller, raw));
            }
            Err(e) => out.parked.push(origin.park_element("calls", &e, raw)),
        }
    }
    for raw in value.message_echoes {
        match serde_json::from_str::<Echo<'_>>(raw.get()) {
            Ok(echo) => {
                let to = entry_of(&contacts, echo.to.as_deref(), echo.to_user_id.as_deref());
                out.inbound.push(origin.event(EventType::Echo, to, raw));
            }
            Err(e) => out.parked.push(origin.park_element("message_echoes", &e, raw)),
        }
    }
    for raw in if calls { Vec::new() } else { value.statuses } {
        if raw.get().starts_with('{') {
            out.statuses.push(origin.event(EventType::Status, recipient, raw));
        } else {
            out.parked.push(origin.park_element("statuses", &"not an object", raw));
        }
    }
    for raw in value.user_preferences {
        match serde_json::from_str::<UserPreference<'_>>(raw.get()) {
            // Its person's `contacts[]` entry goes along: an item may name no one itself.
            Ok(pref) => {
                let person = entry_of(&contacts, pref.wa_id.as_deref(), pref.user_id.as_deref());
                out.inbound.push(origin.event(EventType::UserPreference, person, raw));
            }
            Err(e) => out.parked.push(origin.park_element("user_preferences", &e, raw)),
        }
    }
    for raw in value.user_id_update {
        match serde_json::from_str::<UserIdUpdate<'_>>(raw.get()) {
            Ok(_) => out.inbound.push(origin.event(EventType::UserIdUpdate, None, raw)),
            Err(e) => out.parked.push(origin.park_element("user_id_update", &e, raw)),
        }
    }
    for raw in value.errors {
        match serde_json::from_str::<ApiError<'_>>(raw.get()) {
            Ok(_) => out.inbound.push(origin.event(EventType::Error, None, raw)),
            Err(e) => out.parked.push(origin.park_element("errors", &e, raw)),
        }
    }
}

/// The fields whose change values hold arrays of elements polite reads. `standby`: the user's
/// messages while Meta's AI agent holds the chat — a STOP there is a STOP, a message there opens
/// the window as on `messages`. `smb_message_echoes` / `message_echoes`: the business's own
/// sends from the WhatsApp Business app or another app on the number — sends to count.
const ELEMENT_FIELDS: &[&str] =
    &["messages", "standby", "user_preferences", "user_id_update", "calls", "smb_message_echoes", "message_echoes"];

/// The template webhook fields: routed to the template registry.
const TEMPLATE_FIELDS: &[&str] =
    &["message_template_status_update", "template_category_update", "message_template_quality_update"];

/// Meta's event name as a metric label: letters, digits and `_`, at most 64.
fn label(event: &str) -> String {
    event.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

/// The `contacts[]` entry of a message's sender or a call's caller: matched by wa_id or
/// business-scoped user id, or the only entry there is.
fn entry_of<'a>(
    contacts: &[(&'a RawValue, Option<Contact<'_>>)],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a RawValue> {
    let matches = |c: &Contact<'_>| c.names(from, from_user_id);
    let by_id = contacts.iter().find(|(_, c)| c.as_ref().is_some_and(matches)).map(|(raw, _)| *raw);
    by_id.or(match contacts {
        [(only, _)] => Some(*only),
        _ => None,
    })
}

impl<'a> Parked<'a> {
    fn whole(reason: ParkReason, detail: String, received_at: Timestamp, payload: ParkedPayload<'a>) -> Self {
        Parked { reason, detail, waba_id: None, phone_number_id: None, field: None, array: None, received_at, payload }
    }
}

// --- the skeleton: one pass over the body, elements kept as raw JSON ---

#[derive(Deserialize)]
struct RawNotification<'a> {
    #[serde(borrow)]
    object: Cow<'a, str>,
    #[serde(borrow, default)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    /// When Meta made the entry's changes (template updates are ordered by it).
    #[serde(default, with = "crate::unix_seconds::lenient")]
    time: Option<Timestamp>,
    #[serde(borrow, default)]
    changes: Vec<RawChange<'a>>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    #[serde(borrow)]
    field: Cow<'a, str>,
    #[serde(borrow, default)]
    value: RawChangeValue<'a>,
}

/// A change's `value` with its arrays split into raw elements, in the same single pass as the
/// rest of the skeleton. Keys polite does not know are kept (raw) so a parked value loses
/// nothing.
#[derive(Default)]
struct RawChangeValue<'a> {
    metadata: Option<&'a RawValue>,
    contacts: Vec<&'a RawValue>,
    messages: Vec<&'a RawValue>,
    statuses: Vec<&'a RawValue>,
    user_preferences: Vec<&'a RawValue>,
    user_id_update: Vec<&'a RawValue>,
    calls: Vec<&'a RawValue>,
    message_echoes: Vec<&'a RawValue>,
    errors: Vec<&'a RawValue>,
    /// The value's `event`, when it is a string (account and quality updates name one).
    event: Option<Cow<'a, str>>,
    other: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl RawChangeValue<'_> {
    fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.statuses.is_empty()
            && self.user_preferences.is_empty()
            && self.user_id_update.is_empty()
            && self.calls.is_empty()
            && self.message_echoes.is_empty()
            && self.errors.is_empty()
    }

    /// The value as JSON again, for parking: the same members and elements, byte for byte,
    /// though not in the original member order.
    fn to_raw(&self) -> Box<RawValue> {
        let arrays = [
            ("contacts", &self.contacts),
            ("messages", &self.messages),
            ("statuses", &self.statuses),
            ("user_preferences", &self.user_preferences),
            ("user_id_update", &self.user_id_update),
            ("calls", &self.calls),
            ("message_echoes", &self.message_echoes),
            ("errors", &self.errors),
        ];
        let mut text = String::from("{");
        let mut member = |key: &str, value: &str| {
            if text.len() > 1 {
                text.push(',');
            }
            // Keys are JSON strings that were already valid; re-quoting cannot fail.
            text.push_str(&serde_json::to_string(key).unwrap_or_default());
            text.push(':');
            text.push_str(value);
        };
        if let Some(m) = self.metadata {
            member("metadata", m.get());
        }
        for (key, elements) in arrays.into_iter().filter(|(_, e)| !e.is_empty()) {
            let joined: Vec<&str> = elements.iter().map(|e| e.get()).collect();
            member(key, &format!("[{}]", joined.join(",")));
        }
        for (key, value) in &self.other {
            member(key, value.get());
        }
        text.push('}');
        RawValue::from_string(text).unwrap_or_else(|_| unreachable!("members are valid JSON"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawChangeValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = RawChangeValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a change value object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawChangeValue<'a>, M::Error> {
                let mut value = RawChangeValue::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "contacts" => &mut value.contacts,
                        "messages" => &mut value.messages,
                        "statuses" => &mut value.statuses,
                        "user_preferences" => &mut value.user_preferences,
                        "user_id_update" => &mut value.user_id_update,
                        "calls" => &mut value.calls,
                        "message_echoes" => &mut value.message_echoes,
                        "errors" => &mut value.errors,
                        "metadata" => {
                            value.metadata = Some(map.next_value()?);
                            continue;
                        }
                        "event" => {
                            let raw: &'a RawValue = map.next_value()?;
                            value.event = serde_json::from_str::<Cow<'a, str>>(raw.get()).ok();
                            value.other.push((key, raw));
                            continue;
                        }
                        _ => {
                            value.other.push((key, map.next_value()?));
                            continue;
                        }
                    };
                    *slot = map.next_value::<Option<Vec<&'a RawValue>>>()?.unwrap_or_default();
                }
                Ok(value)
            }
        }
        d.deserialize_map(ValueVisitor(std::marker::PhantomData))
    }
}
