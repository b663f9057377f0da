//! Queue message bodies as versioned JSON: `{"v": 1, "kind": "<event kind>", "body": {…}}`.
//!
//! The version lets a consumer deployed before a producer (or after) recognise a body it
//! cannot read and fail that record into the DLQ with a clear reason instead of
//! misinterpreting it; the kind guards against a body sent to the wrong queue.

use crate::webhook::WebhookEvent;
use serde::{Deserialize, Serialize};

/// The body format this build writes and reads.
pub const VERSION: u32 = 1;

/// The event kinds on polite's queues.
pub mod kinds {
    /// One webhook update (`crate::webhook::WebhookEvent`), on inbound-events or
    /// status-events.
    pub const WEBHOOK_EVENT: &str = "webhook_event";
    /// Webhook content that could not be routed (`crate::webhook::Parked`).
    pub const PARKED_WEBHOOK: &str = "parked_webhook";
    /// One part of a parked item too large for one SQS message: `{parking_id, part, parts,
    /// text}`; the parts' `text`s, concatenated in order, are the item's JSON.
    pub const PARKED_WEBHOOK_PART: &str = "parked_webhook_part";
    /// A consent change for one contact (`crate::inbound::ConsentChange`), on
    /// inbound-events: status-processor's 131050 opt-outs.
    pub const CONSENT_CHANGE: &str = "consent_change";
    /// Identities WhatsApp showed together (`crate::people::Observation`), on
    /// inbound-events: status-processor reads them in statuses' `contacts`, consent-updater
    /// (the contacts table's owner) links them.
    pub const IDENTITIES: &str = "identities";
    /// A part of a consent import from a file to read (`crate::consent_import::ImportNudge`),
    /// on inbound-events: contacts-api sends the first, consent-updater each next one.
    pub const CONSENT_IMPORT_PART: &str = "consent_import_part";
    /// A message for the sender to consider (`crate::request::SendJob`), on send-queue.
    pub const SEND_JOB: &str = "send_job";
}

/// A parked item that does not fit in one SQS message, in parts (kind
/// [`kinds::PARKED_WEBHOOK_PART`]): concatenating the `text` of parts 1..=`parts` of one
/// `parking_id` gives the parked item's JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct ParkedPart<'a> {
    /// Shared by the parts of one item: `<request id>/<item>`.
    #[serde(borrow)]
    pub parking_id: std::borrow::Cow<'a, str>,
    /// 1-based.
    pub part: usize,
    pub parts: usize,
    /// This part of the parked item's JSON.
    #[serde(borrow)]
    pub text: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct Out<'a, T> {
    v: u32,
    kind: &'a str,
    body: &'a T,
}

#[derive(Deserialize)]
struct In<'a> {
    v: u32,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    body: &'a serde_json::value::RawValue,
}

/// Why a queue body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not a polite envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("envelope version {found} is not supported (this build reads {VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("expected a '{expected}' event, got '{found}'")]
    WrongKind { expected: &'static str, found: String },
    #[error("the '{kind}' body is malformed: {source}")]
    Body {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `body` as a `kind` event.
///
/// # Errors
/// When `body` cannot be serialised (non-string map keys).
pub fn encode<T: Serialize>(kind: &str, body: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Out { v: VERSION, kind, body })
}

/// A send-queue message asking the sender to consider message `id`, visible after
/// `delay_seconds`. The batch entry id is the message id (unique in a batch, ≤ 80 chars).
///
/// # Errors
/// Only if serialisation fails (it cannot for this type).
pub fn send_job(id: &str, delay_seconds: u32) -> Result<crate::ports::QueueMessage, serde_json::Error> {
    Ok(crate::ports::QueueMessage {
        id: id.to_owned(),
        body: encode(kinds::SEND_JOB, &crate::request::SendJob { id: id.to_owned() })?,
        delay_seconds,
    })
}

/// The inbound-events message for a send that failed with 131050 (the user stopped marketing
/// messages): a marketing opt-out `consent_change` for consent-updater's rules. Its event id
/// derives from the message id, so the sender's synchronous failure and status-processor's
/// `failed` status (and every redelivery) record one opt-out.
///
/// # Errors
/// Only if serialisation fails (it cannot for this type).
pub fn send_failure_opt_out(
    message_id: &str,
    contact: crate::ContactRef,
    at: jiff::Timestamp,
) -> Result<crate::ports::QueueMessage, serde_json::Error> {
    let change = crate::inbound::ConsentChange {
        contact,
        event: crate::consent::ConsentEvent::from_send_failure(message_id, at, at),
    };
    Ok(crate::ports::QueueMessage {
        id: format!("optout-{message_id}"),
        body: encode(kinds::CONSENT_CHANGE, &change)?,
        delay_seconds: 0,
    })
}

/// The inbound-events message linking identities a status showed together; its id derives
/// from the status's message and value, so a redelivered status queues the same observation.
///
/// # Errors
/// Only if serialisation fails (it cannot for this type).
pub fn identities(
    id: &str,
    observation: &crate::people::Observation,
) -> Result<crate::ports::QueueMessage, serde_json::Error> {
    Ok(crate::ports::QueueMessage {
        id: format!("ids-{id}"),
        body: encode(kinds::IDENTITIES, observation)?,
        delay_seconds: 0,
    })
}

/// The kind of an envelope, for a queue that carries several.
///
/// # Errors
/// [`EnvelopeError`] when `text` is not an envelope this build reads.
pub fn kind_of(text: &str) -> Result<String, EnvelopeError> {
    let envelope: In<'_> = serde_json::from_str(text).map_err(EnvelopeError::Malformed)?;
    if envelope.v != VERSION {
        return Err(EnvelopeError::UnsupportedVersion { found: envelope.v });
    }
    Ok(envelope.kind.into_owned())
}

/// Reads a `kind` event; the body may borrow from `text` (webhook events do).
///
/// # Errors
/// [`EnvelopeError`] saying exactly what is wrong, for the record's failure reason.
pub fn decode<'de, T: Deserialize<'de>>(kind: &'static str, text: &'de str) -> Result<T, EnvelopeError> {
    let envelope: In<'de> = serde_json::from_str(text).map_err(EnvelopeError::Malformed)?;
    if envelope.v != VERSION {
        return Err(EnvelopeError::UnsupportedVersion { found: envelope.v });
    }
    if envelope.kind != kind {
        return Err(EnvelopeError::WrongKind { expected: kind, found: envelope.kind.into_owned() });
    }
    serde_json::from_str(envelope.body.get()).map_err(|source| EnvelopeError::Body { kind, source })
}

/// [`encode`] of a webhook event, byte for byte, without serde's per-field machinery: on the
/// webhook's hot path that machinery cost more than everything else intake adds to the parse
/// (README, Performance). The element and contact are copied as received; the two ids go
/// through serde_json's escaping unless they plainly need none. Checked equal to `encode` by
/// the tests below and by webhook-intake's fuzz target.
pub fn encode_webhook_event(event: &WebhookEvent<'_>) -> String {
    let capacity = 160 + event.data.get().len() + event.contact.map_or(0, |c| c.get().len());
    let mut out = String::with_capacity(capacity);
    out.push_str(r#"{"v":1,"kind":""#);
    out.push_str(kinds::WEBHOOK_EVENT);
    out.push_str(r#"","body":{"type":""#);
    out.push_str(event.kind.as_str());
    out.push_str(r#"","waba_id":"#);
    push_json_str(&mut out, &event.waba_id);
    if let Some(phone_number_id) = &event.phone_number_id {
        out.push_str(r#","phone_number_id":"#);
        push_json_str(&mut out, phone_number_id);
    }
    out.push_str(r#","received_at":"#);
    out.push_str(&event.received_at.as_millisecond().to_string());
    if let Some(contact) = event.contact {
        out.push_str(r#","contact":"#);
        out.push_str(contact.get());
    }
    if let Some(time) = event.entry_time {
        out.push_str(r#","entry_time":"#);
        out.push_str(&time.as_second().to_string());
    }
    out.push_str(r#","data":"#);
    out.push_str(event.data.get());
    out.push_str("}}");
    out
}

/// Appends `s` as a JSON string, exactly as serde_json writes it.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // A `str` always serialises.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Job {
        message_id: String,
    }

    #[test]
    fn a_body_round_trips_through_its_envelope() {
        let job = Job { message_id: "m1".into() };
        let text = encode("send", &job).unwrap();
        assert_eq!(text, r#"{"v":1,"kind":"send","body":{"message_id":"m1"}}"#);
        assert_eq!(decode::<Job>("send", &text).unwrap(), job);
    }

    #[test]
    fn unknown_versions_wrong_kinds_and_bad_bodies_are_named() {
        let v2 = r#"{"v":2,"kind":"send","body":{"message_id":"m1"}}"#;
        assert!(matches!(decode::<Job>("send", v2), Err(EnvelopeError::UnsupportedVersion { found: 2 })));
        let status = r#"{"v":1,"kind":"status","body":{}}"#;
        assert!(matches!(decode::<Job>("send", status), Err(EnvelopeError::WrongKind { .. })));
        let bad = r#"{"v":1,"kind":"send","body":{"id":"m1"}}"#;
        let err = decode::<Job>("send", bad).unwrap_err().to_string();
        assert!(err.contains("missing field `message_id`"), "{err}");
        assert!(matches!(decode::<Job>("send", "not json"), Err(EnvelopeError::Malformed(_))));
    }

    #[test]
    fn a_webhook_event_is_encoded_exactly_as_serde_would() {
        use crate::webhook::{EventType, WebhookEvent};
        use serde_json::value::RawValue;
        let data: &RawValue = serde_json::from_str(r#"{"id":"wamid.1","text":{"body":"Ol\u00e1 \"x\""}}"#).unwrap();
        let contact: &RawValue = serde_json::from_str(r#"{"wa_id":"5511"}"#).unwrap();
        let at = jiff::Timestamp::from_millisecond(1_795_435_200_123).unwrap();
        let entry_time = Some(jiff::Timestamp::from_second(1_795_435_000).unwrap());
        for (waba_id, phone_number_id, contact, entry_time) in [
            ("900100200300", Some("700800900"), Some(contact), None),
            ("with \"quote\" and \\ and \u{1}", None, None, None),
            ("ünïcode 🙏", Some("tab\there"), Some(contact), None),
            ("900100200300", None, None, entry_time),
        ] {
            let event = WebhookEvent {
                kind: EventType::Message,
                waba_id: waba_id.into(),
                phone_number_id: phone_number_id.map(Into::into),
                received_at: at,
                contact,
                entry_time,
                data,
            };
            assert_eq!(encode_webhook_event(&event), encode(kinds::WEBHOOK_EVENT, &event).unwrap(), "{waba_id}");
        }
    }
}
