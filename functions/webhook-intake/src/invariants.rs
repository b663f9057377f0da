//! What must hold for any body at all, checked by the fuzz target
//! (`functions/webhook-intake/fuzz`) and, over the committed crash inputs and the fixtures, by
//! `cargo test` (`tests/invariants.rs`). Each check panics with what broke.

#![allow(clippy::expect_used, clippy::panic, reason = "an invariant check reports by panicking")]

use jiff::Timestamp;
use polite_domain::envelope::{self, kinds};
use polite_domain::ports::MAX_MESSAGE_BYTES;
use polite_domain::webhook::{self, EventKind, EventType, Parked, ParkedPayload, WebhookEvent};

use polite_app::intake::Outgoing;
use polite_domain::envelope::ParkedPart;

/// Routes `body` as a validly signed POST and checks the queue messages it would produce:
/// - routing and encoding never fail or panic;
/// - every message fits in one SQS message;
/// - every event decodes back to its kind on its queue, its element a verbatim piece of the
///   body, its envelope exactly what serde writes for it; every parked item decodes back, with the body's own bytes when parked whole;
/// - whenever the typed model parses the body too, both agree on how many statuses, inbound
///   events and unrecognised changes it holds (nothing dropped, nothing invented).
///
/// # Panics
/// When one of those does not hold.
pub fn route_and_encode(body: &[u8]) {
    let routed = webhook::route(body, Timestamp::UNIX_EPOCH);
    let out = Outgoing::of(&routed, "fuzz").expect("every routed part encodes");
    let text = std::str::from_utf8(body).ok();

    for (messages, on_status_queue) in [(&out.statuses, true), (&out.inbound, false)] {
        for m in messages {
            assert!(m.body.len() <= MAX_MESSAGE_BYTES, "an event of {} bytes", m.body.len());
            let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &m.body).expect("an event decodes");
            assert_eq!(event.kind == EventType::Status, on_status_queue, "{:?} on the wrong queue", event.kind);
            assert_eq!(
                m.body,
                envelope::encode(kinds::WEBHOOK_EVENT, &event).expect("encodes"),
                "fast encoding differs"
            );
            let text = text.expect("events only come from UTF-8 bodies");
            assert!(text.contains(event.data.get()), "an element that is not in the body: {}", event.data.get());
        }
    }
    // A template change's value is rebuilt from the members Meta sent: each one verbatim.
    for m in &out.templates {
        assert!(m.body.len() <= MAX_MESSAGE_BYTES, "a template event of {} bytes", m.body.len());
        let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &m.body).expect("an event decodes");
        assert_eq!(event.kind, EventType::Template, "{:?} on the template queue", event.kind);
        event.template_change().expect("a routed template change reads");
    }
    for m in &out.parked {
        assert!(m.body.len() <= MAX_MESSAGE_BYTES, "a parked message of {} bytes", m.body.len());
        if let Ok(item) = envelope::decode::<Parked<'_>>(kinds::PARKED_WEBHOOK, &m.body) {
            match item.payload {
                ParkedPayload::Text(t) => assert_eq!(t.as_bytes(), body, "parked text is not the body"),
                ParkedPayload::Base64(b) => {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(b).expect("base64 decodes");
                    assert_eq!(bytes, body, "parked bytes are not the body");
                }
                ParkedPayload::Json(_) => {}
            }
        } else {
            envelope::decode::<ParkedPart<'_>>(kinds::PARKED_WEBHOOK_PART, &m.body).expect("a parked message decodes");
        }
    }

    if let Ok(parsed) = webhook::parse(body) {
        let (mut statuses, mut inbound, mut unrecognized) = (0, 0, 0);
        for event in parsed.events() {
            match event.kind {
                EventKind::Status(_) => statuses += 1,
                EventKind::Unrecognized { .. } => unrecognized += 1,
                _ => inbound += 1,
            }
        }
        // A change of an unknown field is parked whole, its elements with it; one of a
        // documented field polite has no use for is ignored by name; a template change goes to
        // the registry. The typed model reads none of those, nor calls, echoes and user-id
        // updates (one change holds one or more of their elements).
        let whole_changes = routed.parked.len() + routed.ignored.len() + routed.templates.len();
        let beyond_the_model = routed
            .inbound
            .iter()
            .filter(|e| matches!(e.kind, EventType::Call | EventType::Echo | EventType::UserIdUpdate))
            .count();
        if unrecognized == 0 {
            assert_eq!(routed.statuses.len(), statuses, "statuses: route and parse disagree");
            assert_eq!(routed.inbound.len(), inbound, "inbound events: route and parse disagree");
            assert_eq!(whole_changes, 0, "parked what the typed model reads: {:?}", routed.parked);
        } else {
            assert!(whole_changes <= unrecognized, "more changes parked, ignored or routed whole than exist");
            assert!(whole_changes + beyond_the_model >= unrecognized, "an unrecognised change went nowhere");
            assert!(routed.statuses.len() <= statuses && routed.inbound.len() <= inbound + beyond_the_model);
        }
    }
}
