//! The intake's use case: what one webhook POST carried, routed
//! ([`polite_domain::webhook::route`]), becomes queue messages — statuses on status-events,
//! messages, `user_preferences`, calls, echoes and value-level errors on inbound-events, template
//! changes on template-events, whatever cannot be routed (or is too large for one queue
//! message) on the parking queue, in parts when it must — and is queued before the POST is
//! answered. webhook-intake checks the request (size, signature) around it.

use std::borrow::Cow;
use std::future::Future;

use polite_domain::envelope::{self, ParkedPart, kinds};
use polite_domain::ports::{EventQueue, MAX_MESSAGE_BYTES, QueueError, QueueMessage};
use polite_domain::webhook::{ParkReason, Parked, ParkedPayload, Routed, WebhookEvent};

/// Parked items are split into parts of at most this many bytes of text, so each part fits
/// in a queue message ([`MAX_MESSAGE_BYTES`]) with its envelope; Meta's bodies may be 3 MB.
pub const PARK_PART_BYTES: usize = 200 * 1024;

/// The four queues a webhook's content goes to.
#[derive(Debug, Clone)]
pub struct Queues<Q> {
    /// inbound-events: messages, `user_preferences`, calls, echoes, value-level errors.
    pub inbound: Q,
    /// status-events.
    pub statuses: Q,
    /// template-events: template status, category and quality changes, for the registry.
    pub templates: Q,
    /// Where what cannot be routed waits for a person.
    pub parking: Q,
}

impl<Q> Queues<Q> {
    /// The four queues `queue` opens by their logical ids in `template.yaml`
    /// (`InboundEventsQueue`, `StatusEventsQueue`, `TemplateEventsQueue`,
    /// `WebhookParkingQueue`) — how the tests and the local tools wire them.
    pub fn open(queue: impl Fn(&'static str) -> Q) -> Self {
        Queues {
            inbound: queue("InboundEventsQueue"),
            statuses: queue("StatusEventsQueue"),
            templates: queue("TemplateEventsQueue"),
            parking: queue("WebhookParkingQueue"),
        }
    }
}

/// Why a POST could not be acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("queueing {what} events")]
    Queue {
        what: &'static str,
        #[source]
        source: QueueError,
    },
    #[error("encoding a queue message")]
    Encode(#[from] serde_json::Error),
}

/// Queues what one POST carried to the four destinations concurrently; Ok only when every
/// message is queued (else the POST is answered 500 and Meta sends it all again: the
/// consumers are idempotent, so what did get queued twice is harmless). `request_id` names
/// the parts of a parked item too large for one queue message.
///
/// # Errors
/// [`IntakeError`]: a destination refused some of its messages, or an event would not encode.
pub async fn queue<Q: EventQueue + Sync>(
    queues: &Queues<Q>,
    routed: &Routed<'_>,
    request_id: &str,
) -> Result<(), IntakeError> {
    let Outgoing { statuses, inbound, templates, parked } = Outgoing::of(routed, request_id)?;
    let (s, i, t, p) = tokio::join!(
        send(&queues.statuses, statuses),
        send(&queues.inbound, inbound),
        send(&queues.templates, templates),
        send(&queues.parking, parked)
    );
    s.map_err(|source| IntakeError::Queue { what: "status", source })?;
    i.map_err(|source| IntakeError::Queue { what: "inbound", source })?;
    t.map_err(|source| IntakeError::Queue { what: "template", source })?;
    p.map_err(|source| IntakeError::Queue { what: "parked", source })?;
    Ok(())
}

/// The queue messages one POST produces, per destination.
#[derive(Debug)]
pub struct Outgoing {
    pub statuses: Vec<QueueMessage>,
    pub inbound: Vec<QueueMessage>,
    pub templates: Vec<QueueMessage>,
    pub parked: Vec<QueueMessage>,
}

impl Outgoing {
    /// One envelope per event, one per parked item (or per part of one too large for SQS).
    ///
    /// # Errors
    /// When an event cannot be encoded (not expected: every part is JSON already).
    pub fn of(routed: &Routed<'_>, request_id: &str) -> Result<Outgoing, serde_json::Error> {
        let mut too_large = Vec::new();
        let statuses = events(&routed.statuses, "s", &mut too_large)?;
        let inbound = events(&routed.inbound, "i", &mut too_large)?;
        // Template changes are rare: lending each its borrowed event form costs nothing here.
        let template_events: Vec<WebhookEvent<'_>> = routed.templates.iter().map(|t| t.event()).collect();
        let mut too_large_templates = Vec::new();
        let templates = events(&template_events, "t", &mut too_large_templates)?;
        let too_large = too_large.iter().chain(&too_large_templates);
        Ok(Outgoing {
            statuses,
            inbound,
            templates,
            parked: parked(routed.parked.iter().chain(too_large), request_id)?,
        })
    }
}

fn send<Q: EventQueue>(queue: &Q, messages: Vec<QueueMessage>) -> impl Future<Output = Result<(), QueueError>> + Send {
    let empty = messages.is_empty();
    let sending = queue.send_all(messages);
    async move { if empty { Ok(()) } else { sending.await } }
}

/// One queue message per event. Ids only need to be unique within a SendMessageBatch call.
/// An event too large for one SQS message goes to `too_large` instead (parked whole, in
/// parts): one oversized element must not fail the whole POST, which Meta would then retry
/// for 7 days.
fn events<'a>(
    events: &[WebhookEvent<'a>],
    prefix: &str,
    too_large: &mut Vec<Parked<'a>>,
) -> Result<Vec<QueueMessage>, serde_json::Error> {
    let mut out = Vec::with_capacity(events.len());
    for (n, event) in events.iter().enumerate() {
        let body = envelope::encode_webhook_event(event);
        if body.len() <= MAX_MESSAGE_BYTES {
            out.push(QueueMessage { id: format!("{prefix}{n}"), body, delay_seconds: 0 });
            continue;
        }
        let json = serde_json::value::RawValue::from_string(serde_json::to_string(event)?)?;
        too_large.push(Parked {
            reason: ParkReason::TooLarge,
            detail: format!(
                "the {:?} event is {} bytes; one SQS message takes at most {MAX_MESSAGE_BYTES}",
                event.kind,
                body.len()
            ),
            waba_id: Some(event.waba_id.clone()),
            phone_number_id: event.phone_number_id.clone(),
            field: None,
            array: None,
            received_at: event.received_at,
            payload: ParkedPayload::Json(Cow::Owned(json)),
        });
    }
    Ok(out)
}

/// One queue message per parked item, or per part of one too large for SQS.
fn parked<'p, 'a: 'p>(
    items: impl Iterator<Item = &'p Parked<'a>>,
    request_id: &str,
) -> Result<Vec<QueueMessage>, serde_json::Error> {
    let mut out = Vec::new();
    for (n, item) in items.enumerate() {
        let whole = envelope::encode(kinds::PARKED_WEBHOOK, item)?;
        if whole.len() <= PARK_PART_BYTES {
            out.push(QueueMessage { id: format!("p{n}"), body: whole, delay_seconds: 0 });
            continue;
        }
        let text = serde_json::to_string(item)?;
        let pieces = split_at_chars(&text, PARK_PART_BYTES);
        let parking_id = format!("{request_id}/{n}");
        for (k, piece) in pieces.iter().enumerate() {
            let part = ParkedPart {
                parking_id: Cow::Borrowed(&parking_id),
                part: k + 1,
                parts: pieces.len(),
                text: Cow::Borrowed(piece),
            };
            let body = envelope::encode(kinds::PARKED_WEBHOOK_PART, &part)?;
            out.push(QueueMessage { id: format!("p{n}_{k}"), body, delay_seconds: 0 });
        }
    }
    Ok(out)
}

/// Splits `text` into pieces of at most `max` bytes (at least one character each), never
/// inside a UTF-8 character.
fn split_at_chars(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = max.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}
