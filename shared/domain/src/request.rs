//! A send request (`POST /v1/messages`) checked into what polite stores, and where a new
//! message waits: on send-queue (due within 15 minutes) or in the table until the tick.
//!
//! Parse, don't validate: a [`ValidSend`] can only be built by [`SendRequest::validate`], so
//! every message in the table went through the same rules.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::ContactRef;
use crate::message::Category;

/// How far in the past `send_at` may be (clock skew between the caller and AWS).
pub const SEND_AT_TOLERANCE: SignedDuration = SignedDuration::from_secs(60);

/// The longest delay SQS gives a message (`DelaySeconds` ≤ 900): later sends wait in the table.
pub const MAX_QUEUE_DELAY: SignedDuration = SignedDuration::from_secs(900);

/// How long past its visible time a queued message may wait for the sender before the tick
/// assumes its queue message was lost and queues it again (a duplicate is harmless: the
/// sender claims a message with a conditional write).
pub const QUEUE_LEASE: SignedDuration = SignedDuration::from_mins(15);

/// A send-queue message: which message to (re)consider. The record itself is read from the
/// table, strongly consistent, when the sender gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    pub id: String,
}

/// Meta's limit on a text body.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The body of `POST /v1/messages`, as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub to: String,
    pub category: Category,
    #[serde(default)]
    pub template: Option<TemplateRequest>,
    #[serde(default)]
    pub text: Option<String>,
    /// Free-form media (service messages).
    #[serde(default)]
    pub media: Option<crate::content::MediaRequest>,
    /// Meta's `interactive` object: reply buttons or a list (service messages).
    #[serde(default)]
    pub interactive: Option<Value>,
    /// An emoji on the message `reply_to` names (service messages).
    #[serde(default)]
    pub reaction: Option<crate::content::ReactionRequest>,
    /// The customer's message (wamid) a service message answers: it goes out in context.
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub send_at: Option<Timestamp>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A template as the caller names it; `language` may be `"pt_BR"` or Meta's `{"code": "pt_BR"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub name: String,
    pub language: Language,
    #[serde(default)]
    pub components: Option<Vec<Value>>,
}

/// A template language in either accepted spelling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Language {
    Code(String),
    Object { code: String },
}

impl Language {
    fn code(&self) -> &str {
        match self {
            Self::Code(code) | Self::Object { code } => code,
        }
    }
}

/// What a message says, as stored (`MessageRecord::payload`): `{"template": {…}}` in Meta's
/// shape, `{"text": "…"}`, other free-form content in Meta's shape (`{"content": {"type":
/// "image", "image": {…}}}`), or any free-form payload as a reply in context (`{"reply":
/// {"reply_to": "wamid.…", "content": {…}}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Template(Value),
    Text(String),
    /// Media, interactive or a reaction: Meta's `{"type": t, t: {…}}`.
    Content(Value),
    /// A free-form payload answering the customer's message `reply_to`.
    Reply {
        reply_to: String,
        content: Box<Payload>,
    },
}

impl Payload {
    /// Free-form content needs the recipient's 24 h window.
    pub fn is_free_form(&self) -> bool {
        !matches!(self, Self::Template(_))
    }

    /// What the Graph API is given: the content, and the customer's message it replies to.
    pub fn into_content(self) -> (crate::whatsapp::Content, Option<String>) {
        use crate::whatsapp::Content;
        match self {
            Self::Template(template) => (Content::Template(template), None),
            Self::Text(body) => (Content::Text { body }, None),
            Self::Content(message) => (Content::Message(message), None),
            Self::Reply { reply_to, content } => (content.into_content().0, Some(reply_to)),
        }
    }

    /// The template's name and language (`None` for free-form text).
    pub fn template_key(&self) -> Option<crate::template::TemplateKey> {
        let Self::Template(template) = self else { return None };
        let name = template.get("name")?.as_str()?;
        let language = template.pointer("/language/code").or_else(|| template.get("language"))?.as_str()?;
        Some(crate::template::TemplateKey::new(name, language))
    }

    /// A template's own `components` (none for free-form content).
    pub fn template_components(&self) -> Vec<Value> {
        match self {
            Self::Template(template) => {
                template.get("components").and_then(Value::as_array).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// The template with `personal` components replacing its own of the same part (the body,
    /// the header, a button by index); free-form content is returned as it is.
    #[must_use]
    pub fn with_components(&self, personal: &[Value]) -> Payload {
        match self {
            Self::Template(template) => {
                let mut template = template.clone();
                template["components"] = Value::Array(crate::audience::merge(&self.template_components(), personal));
                Self::Template(template)
            }
            other => other.clone(),
        }
    }
}

/// A checked send request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSend {
    pub to: ContactRef,
    pub category: Category,
    pub payload: Payload,
    pub send_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub campaign_id: Option<String>,
    pub idempotency_key: Option<String>,
}

pub use crate::invalid::Invalid;
pub(crate) use crate::invalid::invalid;

/// Ids and keys: 1–100 printable ASCII characters (they end up in DynamoDB keys and logs).
pub(crate) fn check_token(field: &'static str, value: Option<String>) -> Result<Option<String>, Invalid> {
    match value {
        Some(v) if replay_key(Some(&v)).is_none() => {
            Err(invalid(field, "must be 1–100 printable ASCII characters without spaces"))
        }
        other => Ok(other),
    }
}

/// The idempotency key of a request, if it gave a well-formed one: a retry with a known key
/// gets its original answer before anything else is judged.
pub fn replay_key(key: Option<&str>) -> Option<&str> {
    key.filter(|k| !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_graphic()))
}

impl SendRequest {
    /// Checks the request at `now`.
    ///
    /// # Errors
    /// [`Invalid`] naming the first field that is wrong.
    pub fn validate(self, now: Timestamp) -> Result<ValidSend, Invalid> {
        let to = ContactRef::parse(&self.to).map_err(|e| invalid("to", e.to_string()))?;
        let free_form = free_form(self.text, self.media, self.interactive, self.reaction, self.reply_to.as_deref())?;
        let payload = match (self.category, self.template, free_form) {
            (_, Some(_), Some(_)) => return Err(invalid("text", "send either a template or a text, not both")),
            (Category::Service, Some(_), None) => {
                return Err(invalid("template", "service messages are free-form (text, media, interactive, reaction)"));
            }
            (Category::Service, None, Some(content)) => content,
            (Category::Service, None, None) => {
                return Err(invalid("text", "is required for a service message (or media, interactive, reaction)"));
            }
            (category, None, _) => {
                return Err(invalid(
                    "template",
                    format!(
                        "is required: {} messages are sent as approved templates (free-form text only as \"service\" inside the 24 h window)",
                        category.as_str()
                    ),
                ));
            }
            (_, Some(template), None) => {
                if self.reply_to.is_some() {
                    return Err(invalid("reply_to", "only a service message answers in context"));
                }
                Payload::Template(check_template(template)?)
            }
        };
        // A reply quotes the customer's message; a reaction names it itself.
        let payload = match self.reply_to {
            Some(reply_to) if !matches!(&payload, Payload::Content(c) if c["type"] == "reaction") => {
                Payload::Reply { reply_to, content: Box::new(payload) }
            }
            _ => payload,
        };
        check_times(self.send_at, self.expires_at, now)?;
        Ok(ValidSend {
            to,
            category: self.category,
            payload,
            send_at: self.send_at,
            expires_at: self.expires_at,
            campaign_id: check_token("campaign_id", self.campaign_id)?,
            idempotency_key: check_token("idempotency_key", self.idempotency_key)?,
        })
    }
}

/// The free-form content of a request (at most one of text, media, interactive and reaction),
/// checked; `None` when it has none.
fn free_form(
    text: Option<String>,
    media: Option<crate::content::MediaRequest>,
    interactive: Option<Value>,
    reaction: Option<crate::content::ReactionRequest>,
    reply_to: Option<&str>,
) -> Result<Option<Payload>, Invalid> {
    use crate::content::{check_interactive, check_media, check_reaction, check_reply_to};
    if let Some(reply_to) = reply_to {
        check_reply_to(reply_to)?;
    }
    let given = usize::from(text.is_some())
        + usize::from(media.is_some())
        + usize::from(interactive.is_some())
        + usize::from(reaction.is_some());
    if given > 1 {
        return Err(invalid("text", "send one of text, media, interactive and reaction"));
    }
    Ok(match (text, media, interactive, reaction) {
        (Some(text), ..) => Some(Payload::Text(check_text(text)?)),
        (_, Some(media), ..) => Some(Payload::Content(check_media(media)?)),
        (_, _, Some(interactive), _) => Some(Payload::Content(check_interactive(interactive)?)),
        (.., Some(reaction)) => {
            let message_id = reply_to.ok_or_else(|| invalid("reply_to", "names the message a reaction is on"))?;
            Some(Payload::Content(check_reaction(reaction, message_id)?))
        }
        _ => None,
    })
}

/// `send_at` may not lie in the past (beyond clock skew); `expires_at` must come after the send.
pub(crate) fn check_times(
    send_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Invalid> {
    if let Some(send_at) = send_at
        && send_at < now - SEND_AT_TOLERANCE
    {
        return Err(invalid("send_at", "is in the past; leave it out to send now"));
    }
    if let Some(expires_at) = expires_at {
        let start = send_at.map_or(now, |s| s.max(now));
        if expires_at <= start {
            return Err(invalid("expires_at", "must be after send_at (or after now when send_at is not given)"));
        }
    }
    Ok(())
}

fn check_text(text: String) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        return Err(invalid("text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid("text", format!("is longer than WhatsApp's {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}

/// Meta's template object: `{"name", "language": {"code"}, "components"?}`.
pub(crate) fn check_template(template: TemplateRequest) -> Result<Value, Invalid> {
    let name_ok = !template.name.is_empty()
        && template.name.len() <= 512
        && template.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(invalid("template.name", "must be an approved template's name (lowercase letters, digits, _)"));
    }
    let code = template.language.code();
    let code_ok = (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
    if !code_ok {
        return Err(invalid("template.language", "must be a template language code such as \"pt_BR\" or \"en\""));
    }
    let mut value = serde_json::json!({ "name": template.name, "language": { "code": code } });
    if let Some(components) = template.components {
        value["components"] = Value::Array(components);
    }
    Ok(value)
}

/// Whether a free-form message can still go at `start`: the window must be open then.
pub fn window_allows(payload: &Payload, window_open_until: Option<Timestamp>, start: Timestamp) -> bool {
    !payload.is_free_form() || window_open_until.is_some_and(|until| start < until)
}

/// Where a new (or released) message waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On send-queue, invisible for `delay_seconds` (0–900).
    Queue { delay_seconds: u32 },
    /// In the table as `scheduled` until the tick releases it at `due_at`.
    Schedule { due_at: Timestamp },
}

/// Where a message due at `due` waits, seen at `now`: SQS holds it when it is due within
/// [`MAX_QUEUE_DELAY`], the table otherwise.
pub fn placement(due: Option<Timestamp>, now: Timestamp) -> Placement {
    let Some(due) = due.filter(|d| *d > now) else { return Placement::Queue { delay_seconds: 0 } };
    let wait = due.duration_since(now);
    if wait > MAX_QUEUE_DELAY {
        return Placement::Schedule { due_at: due };
    }
    Placement::Queue { delay_seconds: queue_delay(wait) }
}

/// A wait as an SQS `DelaySeconds`: rounded up (a message must never go before its time) and
/// within 0–900.
pub fn queue_delay(wait: SignedDuration) -> u32 {
    let millis = wait.as_millis().clamp(0, MAX_QUEUE_DELAY.as_millis());
    u32::try_from((millis + 999) / 1000).unwrap_or(900)
}

/// The hash an idempotency key is bound to: SHA-256 of the request body's canonical JSON
/// (object keys sorted, insignificant whitespace dropped), so the same request retried with
/// its keys in another order is still "the same body".
pub fn body_hash(body: &Value) -> String {
    // serde_json's Map is a BTreeMap (no `preserve_order`): keys serialise sorted.
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn request(json: &str) -> SendRequest {
        serde_json::from_str(json).unwrap()
    }

    fn problem(json: &str) -> Invalid {
        request(json).validate(now()).unwrap_err()
    }

    const TEMPLATE: &str = r#""template":{"name":"spring_sale","language":"pt_BR"}"#;

    #[test]
    fn a_marketing_template_is_valid_and_its_language_takes_metas_shape() {
        let ok = request(&format!(r#"{{"to":"+5511987654321","category":"marketing",{TEMPLATE}}}"#))
            .validate(now())
            .unwrap();
        assert_eq!(ok.to.to_string(), "5511987654321");
        assert_eq!(
            ok.payload,
            Payload::Template(serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}}))
        );
        assert_eq!(serde_json::from_value::<Payload>(serde_json::to_value(&ok.payload).unwrap()).unwrap(), ok.payload);
    }

    #[test]
    fn marketing_utility_and_authentication_need_a_template() {
        for category in ["marketing", "utility", "authentication"] {
            let p = problem(&format!(r#"{{"to":"+16505551234","category":"{category}","text":"hi"}}"#));
            assert_eq!(p.field, "template", "{category}");
            assert!(p.problem.contains(category));
        }
    }

    #[test]
    fn service_messages_are_free_form_not_templates() {
        let ok = request(r#"{"to":"+16505551234","category":"service","text":"Your order shipped"}"#).validate(now());
        assert!(ok.unwrap().payload.is_free_form());
        assert_eq!(problem(&format!(r#"{{"to":"+16505551234","category":"service",{TEMPLATE}}}"#)).field, "template");
        assert_eq!(problem(r#"{"to":"+16505551234","category":"service"}"#).field, "text");
        assert_eq!(problem(r#"{"to":"+16505551234","category":"service","text":"  "}"#).field, "text");
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(problem(&format!(r#"{{"to":"+16505551234","category":"service","text":"{long}"}}"#)).field, "text");
    }

    #[test]
    fn a_service_answer_goes_in_context_and_a_reaction_names_its_message() {
        let reply = request(
            r#"{"to":"+16505551234","category":"service","text":"Yes, size M is back","reply_to":"wamid.IN1"}"#,
        )
        .validate(now())
        .unwrap();
        let Payload::Reply { reply_to, content } = &reply.payload else { panic!("{:?}", reply.payload) };
        assert_eq!((reply_to.as_str(), content.as_ref()), ("wamid.IN1", &Payload::Text("Yes, size M is back".into())));
        assert!(reply.payload.is_free_form(), "a reply needs the window");
        let stored = serde_json::to_value(&reply.payload).unwrap();
        assert_eq!(serde_json::from_value::<Payload>(stored).unwrap(), reply.payload, "stored and read back");
        let (content, quoted) = reply.payload.into_content();
        assert_eq!(
            (content, quoted.as_deref()),
            (crate::whatsapp::Content::Text { body: "Yes, size M is back".into() }, Some("wamid.IN1"))
        );

        let photo = r#"{"to":"+16505551234","category":"service","media":{"type":"image","link":"https://shop.example/m.jpg"},"reply_to":"wamid.IN1"}"#;
        let (content, quoted) = request(photo).validate(now()).unwrap().payload.into_content();
        assert_eq!(
            content,
            crate::whatsapp::Content::Message(
                serde_json::json!({"type": "image", "image": {"link": "https://shop.example/m.jpg"}})
            )
        );
        assert_eq!(quoted.as_deref(), Some("wamid.IN1"));

        let like = r#"{"to":"+16505551234","category":"service","reaction":{"emoji":"❤️"},"reply_to":"wamid.IN1"}"#;
        let (content, quoted) = request(like).validate(now()).unwrap().payload.into_content();
        let crate::whatsapp::Content::Message(m) = content else { panic!() };
        assert_eq!(
            (m["reaction"]["message_id"].as_str(), quoted),
            (Some("wamid.IN1"), None),
            "no context on a reaction"
        );

        for (json, field) in [
            (r#"{"to":"+16505551234","category":"service","reaction":{"emoji":"❤️"}}"#, "reply_to"),
            (r#"{"to":"+16505551234","category":"service","text":"hi","reply_to":"msg_1"}"#, "reply_to"),
            (
                r#"{"to":"+16505551234","category":"utility","template":{"name":"a","language":"en"},"reply_to":"wamid.IN1"}"#,
                "reply_to",
            ),
            (r#"{"to":"+16505551234","category":"service","text":"hi","media":{"type":"image","id":"1"}}"#, "text"),
            (r#"{"to":"+16505551234","category":"service","media":{"type":"image"}}"#, "media"),
            (r#"{"to":"+16505551234","category":"service","interactive":{"type":"button"}}"#, "interactive.body.text"),
        ] {
            assert_eq!(problem(json).field, field, "{json}");
        }
    }

    #[test]
    fn bad_numbers_templates_and_times_name_their_field() {
        let cases = [
            (r#"{"to":"12","category":"marketing","template":{"name":"a","language":"en"}}"#, "to"),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"Spring Sale","language":"en"}}"#,
                "template.name",
            ),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"english please"}}"#,
                "template.language",
            ),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"en"},"send_at":"2026-11-23T11:58:00Z"}"#,
                "send_at",
            ),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"en"},"send_at":"2026-11-24T12:00:00Z","expires_at":"2026-11-24T11:00:00Z"}"#,
                "expires_at",
            ),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"en"},"expires_at":"2026-11-23T11:00:00Z"}"#,
                "expires_at",
            ),
            (
                r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"en"},"idempotency_key":"has space"}"#,
                "idempotency_key",
            ),
            (
                r#"{"to":"+16505551234","category":"service","text":"a","template":{"name":"a","language":"en"}}"#,
                "text",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(problem(json).field, field, "{json}");
        }
    }

    #[test]
    fn send_at_a_little_in_the_past_is_clock_skew_not_an_error() {
        let json = r#"{"to":"+16505551234","category":"marketing","template":{"name":"a","language":"en"},"send_at":"2026-11-23T11:59:30Z"}"#;
        assert!(request(json).validate(now()).is_ok());
    }

    #[test]
    fn text_needs_the_window_open_when_the_message_would_go() {
        let text = Payload::Text("hi".into());
        let until: Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
        assert!(window_allows(&text, Some(until), now()));
        assert!(!window_allows(&text, Some(until), "2026-11-23T16:00:00Z".parse().unwrap()));
        assert!(!window_allows(&text, None, now()));
        assert!(window_allows(&Payload::Template(Value::Null), None, now()), "templates need no window");
    }

    #[test]
    fn messages_due_within_fifteen_minutes_wait_on_the_queue_later_ones_in_the_table() {
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        assert_eq!(placement(None, now()), Placement::Queue { delay_seconds: 0 });
        assert_eq!(placement(Some(at("2026-11-23T11:00:00Z")), now()), Placement::Queue { delay_seconds: 0 });
        assert_eq!(placement(Some(at("2026-11-23T12:00:00.2Z")), now()), Placement::Queue { delay_seconds: 1 });
        assert_eq!(placement(Some(at("2026-11-23T12:15:00Z")), now()), Placement::Queue { delay_seconds: 900 });
        let later = at("2026-11-23T12:15:01Z");
        assert_eq!(placement(Some(later), now()), Placement::Schedule { due_at: later });
    }

    #[test]
    fn queue_delays_round_up_and_stay_within_sqs_limits() {
        assert_eq!(queue_delay(SignedDuration::from_millis(-5)), 0);
        assert_eq!(queue_delay(SignedDuration::ZERO), 0);
        assert_eq!(queue_delay(SignedDuration::from_millis(1)), 1);
        assert_eq!(queue_delay(SignedDuration::from_secs(2)), 2);
        assert_eq!(queue_delay(SignedDuration::from_hours(3)), 900);
    }

    #[test]
    fn the_body_hash_ignores_key_order_and_whitespace_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"to":"+1","category":"marketing"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "category" : "marketing", "to": "+1" }"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"to":"+2","category":"marketing"}"#).unwrap();
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_ne!(body_hash(&a), body_hash(&c));
    }

    #[test]
    fn a_stored_template_names_its_registry_key() {
        let stored = Payload::Template(serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
        assert_eq!(stored.template_key(), Some(crate::template::TemplateKey::new("spring_sale", "pt_BR")));
        assert_eq!(Payload::Text("hi".into()).template_key(), None);
    }
}
