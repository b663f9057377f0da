//! The WhatsApp Cloud API webhook, typed.
//!
//! Borrowing serde structs (strings are `Cow`, borrowed unless JSON escapes forced a copy)
//! for every shape polite meets: messages of every type, statuses with pricing, conversation
//! and errors, `user_preferences`, value-level errors, and contacts known only by their
//! business-scoped user id. Nothing unknown is rejected: unknown message types keep their
//! content in [`Message::extra`], unknown status values stay as [`StatusValue::Other`], and
//! a change of an unknown field becomes [`EventKind::Unrecognized`] for the caller to park.
//!
//! A POST may batch up to 1000 updates across `entry[]`, `changes[]` and their arrays;
//! [`Notification::events`] visits every one of them, each with its origin.

mod route;
pub mod samples;
mod signature;

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use route::{
    EventType, IgnoreReason, IgnoredChange, ParkReason, Parked, ParkedPayload, Routed, TemplateEvent, WebhookEvent,
    route,
};
pub use signature::{SIGNATURE_HEADER, SignatureError, sign, verify_signature};

use crate::message::StatusValue;

/// The only `object` WhatsApp Business webhooks carry.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// Meta's payload limit for one webhook POST.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A webhook body that is not a WhatsApp notification.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not a WhatsApp webhook notification: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    #[error("the notification's object is '{0}', not '{WHATSAPP_OBJECT}'")]
    WrongObject(String),
}

/// Parses a webhook body (already signature-checked).
pub fn parse(body: &[u8]) -> Result<Notification<'_>, ParseError> {
    // One UTF-8 check over the whole body (SIMD-fast in std), then `from_str`, which skips
    // serde_json's per-string validation: measurably faster than `from_slice` on status
    // batches (see README, Performance).
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let n: Notification<'_> = serde_json::from_str(text)?;
    if n.object != WHATSAPP_OBJECT {
        return Err(ParseError::WrongObject(n.object.into_owned()));
    }
    Ok(n)
}

/// The envelope: `{"object": "whatsapp_business_account", "entry": [...]}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Notification<'a> {
    #[serde(borrow)]
    pub object: Cow<'a, str>,
    #[serde(borrow, default)]
    pub entry: Vec<Entry<'a>>,
}

/// One WhatsApp Business Account's changes.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Entry<'a> {
    /// The WABA id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub changes: Vec<Change<'a>>,
}

/// One change: `field` says which kind (`messages`, `user_preferences`, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Change<'a> {
    #[serde(borrow)]
    pub field: Cow<'a, str>,
    #[serde(borrow, default)]
    pub value: ChangeValue<'a>,
}

/// The value of a `messages` or `user_preferences` change.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChangeValue<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status<'a>>,
    /// App-level asynchronous errors.
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub user_preferences: Vec<UserPreference<'a>>,
}

/// The business phone number the change is about (route by `phone_number_id`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Metadata<'a> {
    #[serde(borrow, default)]
    pub display_phone_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub phone_number_id: Cow<'a, str>,
}

/// A user in `contacts[]`. Newer payloads may carry only the business-scoped `user_id`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Contact<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<Cow<'a, str>>,
}

/// A user's profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Profile<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// `@someone`, for users who adopted a username (display only).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Cow<'a, str>>,
}

/// An inbound message from a user. Known types are typed; the content of any other type is
/// kept in `extra` under its own key.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message<'a> {
    /// The sender's wa_id (may be absent when only `from_user_id` is sent).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from_parent_user_id: Option<Cow<'a, str>>,
    /// The message's wamid.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// When the user sent it; `None` when Meta's field does not read as Unix seconds (the
    /// placeholders of Meta's own examples): [`Message::sent_at`] dates it by its arrival.
    #[serde(with = "crate::unix_seconds::lenient", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// `text`, `button`, … ; empty when absent (older examples of Meta's have none): a message
    /// of a type polite does not model.
    #[serde(borrow, rename = "type", default)]
    pub kind: Cow<'a, str>,
    /// Set on a message written in a group: not the person's 1:1 conversation.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Button<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<Interactive<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Reaction<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError<'a>>,
    /// `image`, `video`, `audio`, `document`, `sticker`, `contacts`, `order`, `referral` and
    /// any type polite does not model yet, by key, as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Message<'_> {
    /// When the user sent it: its own timestamp, else `received_at` (when webhook-intake got it).
    pub fn sent_at(&self, received_at: Timestamp) -> Timestamp {
        self.timestamp.unwrap_or(received_at)
    }

    /// The message in terms polite acts on.
    pub fn content(&self) -> MessageContent<'_> {
        let kind = self.kind.as_ref();
        match kind {
            "text" => {
                self.text.as_ref().map_or(MessageContent::Other { kind }, |t| MessageContent::Text { body: &t.body })
            }
            "button" => self.button.as_ref().map_or(MessageContent::Other { kind }, |b| MessageContent::Button {
                payload: b.payload.as_deref(),
                text: b.text.as_deref(),
            }),
            "interactive" => match self.interactive.as_ref() {
                Some(Interactive { button_reply: Some(r), .. } | Interactive { list_reply: Some(r), .. }) => {
                    MessageContent::Reply { id: &r.id, title: r.title.as_deref() }
                }
                _ => MessageContent::Other { kind },
            },
            "system" => self.system.as_ref().map_or(MessageContent::Other { kind }, |s| MessageContent::System {
                kind: s.kind.as_deref(),
                new_wa_id: s.wa_id.as_deref(),
            }),
            "reaction" => MessageContent::Reaction,
            _ => MessageContent::Other { kind },
        }
    }
}

/// What an inbound message means to polite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MessageContent<'m> {
    Text {
        body: &'m str,
    },
    /// A template quick-reply tap (the "Stop promotions" button arrives so).
    Button {
        payload: Option<&'m str>,
        text: Option<&'m str>,
    },
    /// An interactive button or list reply.
    Reply {
        id: &'m str,
        title: Option<&'m str>,
    },
    /// E.g. `user_changed_number`, with the user's new number.
    System {
        kind: Option<&'m str>,
        new_wa_id: Option<&'m str>,
    },
    Reaction,
    /// Media, location, contacts, order, unsupported or a type polite does not know. Every
    /// inbound message still opens the 24 h window.
    Other {
        kind: &'m str,
    },
}

/// `context`: the message replied to, or `forwarded`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Context<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
}

/// `text`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Text<'a> {
    #[serde(borrow)]
    pub body: Cow<'a, str>,
}

/// `button`: `payload` is what the business set on the template, else the label.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Button<'a> {
    #[serde(borrow, default)]
    pub payload: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
}

/// `interactive`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Interactive<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub button_reply: Option<Reply<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub list_reply: Option<Reply<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfm_reply: Option<serde_json::Value>,
}

/// A button or list reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Reply<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub title: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
}

/// `reaction`: an empty or missing emoji means the reaction was removed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Reaction<'a> {
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub emoji: Option<Cow<'a, str>>,
}

/// `system`: e.g. `{"type": "user_changed_number", "wa_id": "<new number>", "body": "…"}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct System<'a> {
    #[serde(borrow, default)]
    pub body: Option<Cow<'a, str>>,
    /// `user_changed_number`: the new number.
    #[serde(borrow, default)]
    pub wa_id: Option<Cow<'a, str>>,
    /// `user_changed_number` in older payloads: the new number.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub new_wa_id: Option<Cow<'a, str>>,
    /// `user_changed_user_id`: the new business-scoped user id.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type", default)]
    pub kind: Option<Cow<'a, str>>,
}

/// `location`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A status update for a message the business sent.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Status<'a> {
    /// The wamid of the business's message.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(with = "status_value")]
    pub status: StatusValue,
    #[serde(with = "crate::unix_seconds")]
    pub timestamp: Timestamp,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<Cow<'a, str>>,
    /// Meta's docs say `recipient_parent_user_id`; whatsapp-api-js's v25 examples
    /// `parent_recipient_user_id`.
    #[serde(borrow, default, alias = "parent_recipient_user_id", skip_serializing_if = "Option::is_none")]
    pub recipient_parent_user_id: Option<Cow<'a, str>>,
    /// `group` for a status of a message to a group: not a person's.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub recipient_type: Option<Cow<'a, str>>,
    /// The echo of what the sender set: polite's message id.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<Cow<'a, str>>,
    /// `conversation`, kept as received; typed by [`Status::conversation`]. Routing never
    /// needs it, so an unexpected shape here cannot cost the status itself.
    #[serde(borrow, default, rename = "conversation", skip_serializing_if = "Option::is_none")]
    pub conversation_raw: Option<&'a RawValue>,
    /// `pricing`, kept as received; typed by [`Status::pricing`].
    #[serde(borrow, default, rename = "pricing", skip_serializing_if = "Option::is_none")]
    pub pricing_raw: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError<'a>>,
}

impl<'a> Status<'a> {
    /// The `conversation` object, typed; `None` when absent (as from Graph API v24.0 on).
    pub fn conversation(&self) -> Option<Result<Conversation<'a>, serde_json::Error>> {
        self.conversation_raw.map(|raw| serde_json::from_str(raw.get()))
    }

    /// The `pricing` object, typed; `None` when absent (it comes on one of delivered/read).
    pub fn pricing(&self) -> Option<Result<Pricing<'a>, serde_json::Error>> {
        self.pricing_raw.map(|raw| serde_json::from_str(raw.get()))
    }
}

/// `conversation` (omitted from Graph API v24.0 on except in free entry-point windows).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Conversation<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(default, with = "crate::unix_seconds::option", skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<Timestamp>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin<'a>>,
}

/// `conversation.origin`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Origin<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
}

/// `pricing` (on one of delivered/read only).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Pricing<'a> {
    /// Being deprecated by Meta; absent means "use `type`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<Cow<'a, str>>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(borrow, rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Cow<'a, str>>,
}

/// An error object (in statuses, messages, or the value itself).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiError<'a> {
    pub code: i64,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<ErrorData<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub href: Option<Cow<'a, str>>,
}

/// `error_data`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorData<'a> {
    #[serde(borrow, default)]
    pub details: Option<Cow<'a, str>>,
}

/// A user stopped or resumed marketing messages inside WhatsApp.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UserPreference<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
    /// A `signup`'s id (Meta's in-app signup link): the opt-in's evidence.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub signup_id: Option<Cow<'a, str>>,
    /// `marketing_messages`.
    #[serde(borrow)]
    pub category: Cow<'a, str>,
    /// `stop`, `resume`, `signup`.
    #[serde(borrow)]
    pub value: Cow<'a, str>,
    /// An integer here (a string is accepted too).
    #[serde(with = "crate::unix_seconds")]
    pub timestamp: Timestamp,
}

/// A `user_id_update` element: WhatsApp regenerated a person's business-scoped user id (it
/// does when they change number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdUpdate<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub user_id: IdChange<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<IdChange<'a>>,
    /// An integer or a string of one.
    #[serde(with = "crate::unix_seconds")]
    pub timestamp: Timestamp,
}

/// A `calls[]` element: a WhatsApp voice call between a user and the business (Meta's
/// calling API). A call the user made opens or refreshes their 24 h window, as a message does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The caller: the user's number for a call they made (may be empty or absent when
    /// WhatsApp withholds it).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Cow<'a, str>>,
    /// `connect`, `terminate`, …
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Cow<'a, str>>,
    /// `USER_INITIATED` or `BUSINESS_INITIATED` (absent on older payloads: a `calls[]` element
    /// with a `from` is a user's call).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Cow<'a, str>>,
    #[serde(with = "crate::unix_seconds::lenient", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

impl Call<'_> {
    /// Whether the user called the business (a call the business placed opens no window).
    pub fn by_user(&self) -> bool {
        !self.direction.as_deref().is_some_and(|d| d.eq_ignore_ascii_case("BUSINESS_INITIATED"))
    }
}

/// A `message_echoes` element (fields `smb_message_echoes` and `message_echoes`): a message the
/// business sent to a user from elsewhere than polite — the WhatsApp Business app on a number
/// shared with the Cloud API (coexistence), or another app on the same number. It is a send to
/// that person: it counts toward their frequency caps and pair spacing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo<'a> {
    /// The echoed message's wamid.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The business's number.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Cow<'a, str>>,
    /// The user's number (may be empty or absent when WhatsApp withholds it).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to_parent_user_id: Option<Cow<'a, str>>,
    #[serde(with = "crate::unix_seconds::lenient", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// `text`, `image`, `template`, … ; empty when absent.
    #[serde(borrow, rename = "type", default)]
    pub kind: Cow<'a, str>,
}

/// An id's `previous` and `current` values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdChange<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Cow<'a, str>>,
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventOrigin<'n> {
    /// The WhatsApp Business Account id.
    pub waba_id: &'n str,
    /// The business phone number's id (absent only on malformed changes).
    pub phone_number_id: Option<&'n str>,
}

/// One update out of a notification.
#[derive(Debug, Clone, Copy)]
pub struct Event<'n, 'a> {
    pub origin: EventOrigin<'n>,
    pub kind: EventKind<'n, 'a>,
}

/// The kinds of update: statuses go to status-events, the rest to inbound-events, and
/// unrecognised changes are parked.
#[derive(Debug, Clone, Copy)]
pub enum EventKind<'n, 'a> {
    /// A user's message, with the `contacts[]` entry for its sender when present.
    Message {
        message: &'n Message<'a>,
        contact: Option<&'n Contact<'a>>,
    },
    Status(&'n Status<'a>),
    UserPreference(&'n UserPreference<'a>),
    /// A value-level (app) error.
    Error(&'n ApiError<'a>),
    /// A change whose field or content polite does not know.
    Unrecognized {
        field: &'n str,
    },
}

impl EventKind<'_, '_> {
    /// When the event happened, where it says.
    pub fn timestamp(&self) -> Option<Timestamp> {
        match self {
            Self::Message { message, .. } => message.timestamp,
            Self::Status(s) => Some(s.timestamp),
            Self::UserPreference(p) => Some(p.timestamp),
            Self::Error(_) | Self::Unrecognized { .. } => None,
        }
    }

    /// Whether the event belongs on status-events (else inbound-events or parking).
    pub fn is_status(&self) -> bool {
        matches!(self, Self::Status(_))
    }
}

impl<'a> Notification<'a> {
    /// Every update in every entry and change, in payload order.
    pub fn events(&self) -> impl Iterator<Item = Event<'_, 'a>> {
        self.entry.iter().flat_map(|entry| {
            entry.changes.iter().flat_map(move |change| {
                let v = &change.value;
                let origin = EventOrigin {
                    waba_id: &entry.id,
                    phone_number_id: v.metadata.as_ref().map(|m| m.phone_number_id.as_ref()),
                };
                let known = matches!(change.field.as_ref(), "messages" | "standby" | "user_preferences");
                let messages =
                    v.messages.iter().map(move |m| EventKind::Message { message: m, contact: contact_for(v, m) });
                let statuses = v.statuses.iter().map(EventKind::Status);
                let prefs = v.user_preferences.iter().map(EventKind::UserPreference);
                let errors = v.errors.iter().map(EventKind::Error);
                let empty = v.messages.is_empty()
                    && v.statuses.is_empty()
                    && v.user_preferences.is_empty()
                    && v.errors.is_empty();
                let unrecognized = (!known || empty).then_some(EventKind::Unrecognized { field: &change.field });
                messages
                    .chain(statuses)
                    .chain(prefs)
                    .chain(errors)
                    .chain(unrecognized)
                    .map(move |kind| Event { origin, kind })
            })
        })
    }
}

fn contact_for<'n, 'a>(v: &'n ChangeValue<'a>, m: &Message<'a>) -> Option<&'n Contact<'a>> {
    v.contact_of(m.from.as_deref(), m.from_user_id.as_deref())
}

/// The same identity in two fields: both set and not empty (a withheld phone is `""`).
fn same(a: Option<&str>, b: Option<&str>) -> bool {
    a.is_some_and(|a| !a.is_empty() && Some(a) == b)
}

impl Contact<'_> {
    /// Whether this entry is the person with `phone` or `user_id` (an element's `from` /
    /// `from_user_id`, `recipient_id` / `recipient_user_id`).
    pub fn names(&self, phone: Option<&str>, user_id: Option<&str>) -> bool {
        same(self.wa_id.as_deref(), phone) || same(self.user_id.as_deref(), user_id)
    }
}

impl<'a> ChangeValue<'a> {
    /// The `contacts[]` entry of the person with `phone` or `user_id`, or the only entry.
    fn contact_of(&self, phone: Option<&str>, user_id: Option<&str>) -> Option<&Contact<'a>> {
        let by_id = self.contacts.iter().find(|c| c.names(phone, user_id));
        by_id.or(if self.contacts.len() == 1 { self.contacts.first() } else { None })
    }

    /// The `contacts[]` entry of a status's recipient (statuses carry one since 2026), or the
    /// only entry.
    pub fn contact_for_status(&self, status: &Status<'a>) -> Option<&Contact<'a>> {
        self.contact_of(status.recipient_id.as_deref(), status.recipient_user_id.as_deref())
    }
}

/// A status value from its wire string, unknown values kept.
mod status_value {
    use super::{Cow, Deserializer, StatusValue};
    use serde::{Deserialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &StatusValue, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StatusValue, D::Error> {
        #[derive(Deserialize)]
        struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
        let Borrowed(s) = Borrowed::deserialize(d)?;
        Ok(StatusValue::parse(&s))
    }
}
