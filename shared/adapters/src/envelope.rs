//! Queue message bodies as versioned JSON: `{"v": 1, "kind": "<event kind>", "body": {…}}`.
//!
//! The version lets a consumer deployed before a producer (or after) recognise a body it
//! cannot read and fail that record into the DLQ with a clear reason instead of
//! misinterpreting it; the kind guards against a body sent to the wrong queue.

use serde::{Deserialize, Serialize};

/// The body format this build writes and reads.
pub const VERSION: u32 = 1;

/// The event kinds on polite's queues.
pub mod kinds {
    /// One webhook update (`polite_domain::webhook::WebhookEvent`), on inbound-events or
    /// status-events.
    pub const WEBHOOK_EVENT: &str = "webhook_event";
    /// Webhook content that could not be routed (`polite_domain::webhook::Parked`).
    pub const PARKED_WEBHOOK: &str = "parked_webhook";
    /// One part of a parked item too large for one SQS message: `{parking_id, part, parts,
    /// text}`; the parts' `text`s, concatenated in order, are the item's JSON.
    pub const PARKED_WEBHOOK_PART: &str = "parked_webhook_part";
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
    encode_with_capacity(kind, body, 128)
}

/// [`encode`] into a buffer of `capacity` bytes: on the webhook's hot path, sizing the buffer
/// from the raw element it carries saves the reallocations of a growing `String`.
///
/// # Errors
/// When `body` cannot be serialised (non-string map keys).
pub fn encode_with_capacity<T: Serialize>(kind: &str, body: &T, capacity: usize) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, &Out { v: VERSION, kind, body })?;
    // serde_json writes UTF-8 only.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.utf8_error()))
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
}
