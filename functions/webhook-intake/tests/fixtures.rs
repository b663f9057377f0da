//! Every fixture through the handler into real (moto) queues: the answer, and exactly which
//! messages landed on which queue, each carrying its origin and its element as received.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use common::{Harness, PHONE_NUMBER_ID, WABA_ID, body_json, body_text, fixture, fixture_names};
use jiff::Timestamp;
use lambda_http::http::header::CONTENT_TYPE;
use polite_domain::envelope::{self, kinds};
use polite_domain::webhook::{EventType, Parked, ParkedPayload, WebhookEvent};

/// What a fixture must produce.
struct Expect {
    fixture: &'static str,
    status: u16,
    /// One descriptor per queued message, per queue (see `describe_event`).
    inbound: &'static [&'static str],
    statuses: &'static [&'static str],
    templates: &'static [&'static str],
    parked: &'static [&'static str],
}

const fn ok(
    fixture: &'static str,
    inbound: &'static [&'static str],
    statuses: &'static [&'static str],
    parked: &'static [&'static str],
) -> Expect {
    Expect { fixture, status: 200, inbound, statuses, templates: &[], parked }
}

/// A template webhook: one change for the template registry, nothing else.
const fn template(fixture: &'static str, templates: &'static [&'static str]) -> Expect {
    Expect { fixture, status: 200, inbound: &[], statuses: &[], templates, parked: &[] }
}

const fn refused(fixture: &'static str, status: u16) -> Expect {
    Expect { fixture, status, inbound: &[], statuses: &[], templates: &[], parked: &[] }
}

const EXPECTED: &[Expect] = &[
    refused("handshake", 200),
    refused("handshake_wrong_token", 403),
    refused("handshake_missing_challenge", 400),
    ok("text", &["message:text"], &[], &[]),
    ok("button_stop_promotions", &["message:button"], &[], &[]),
    ok("interactive_button_reply", &["message:interactive"], &[], &[]),
    ok("reaction", &["message:reaction"], &[], &[]),
    ok("image", &["message:image"], &[], &[]),
    ok("location", &["message:location"], &[], &[]),
    ok("system_user_changed_number", &["message:system"], &[], &[]),
    ok("unsupported", &["message:unsupported"], &[], &[]),
    ok("status_sent", &[], &["status:sent"], &[]),
    ok("status_delivered", &[], &["status:delivered"], &[]),
    ok("status_read", &[], &["status:read"], &[]),
    ok("status_failed", &[], &["status:failed"], &[]),
    ok("user_preferences_stop", &["user_preference:stop"], &[], &[]),
    ok("user_preferences_resume", &["user_preference:resume"], &[], &[]),
    ok("batch_three_entries", &["message:text", "user_preference:stop"], &["status:delivered"], &[]),
    ok("unicode_escapes", &["message:text"], &[], &[]),
    ok("bsuid_only_contact", &["message:text"], &[], &[]),
    refused("bad_signature", 401),
    refused("missing_signature", 401),
    ok("base64_body", &["message:text"], &[], &[]),
    ok("account_update", &[], &[], &[]),
    ok("standby_stop", &["message:text"], &[], &[]),
    ok("smb_message_echo", &["echo:text"], &[], &[]),
    template("template_paused", &["template:order_update"]),
    template("template_category_update", &["template:order_update"]),
    ok("unknown_field", &[], &[], &["parked:unknown_field"]),
    ok("not_json", &[], &[], &["parked:not_a_notification"]),
];

/// `message:<type>`, `status:<status>`, `user_preference:<value>` or `error:<code>`.
fn describe_event(event: &WebhookEvent<'_>) -> String {
    let detail = match event.kind {
        EventType::Message => event.message().unwrap().kind.into_owned(),
        EventType::Status => event.status().unwrap().status.as_str().to_owned(),
        EventType::UserPreference => event.user_preference().unwrap().value.to_string(),
        EventType::UserIdUpdate => event.user_id_update().unwrap().user_id.current.unwrap_or_default().into_owned(),
        EventType::Call => event.call().unwrap().event.unwrap_or_default().into_owned(),
        EventType::Echo => event.echo().unwrap().kind.into_owned(),
        EventType::Template => event.template_change().unwrap().message_template_name.unwrap_or_default().into_owned(),
        EventType::Error => event.error().unwrap().code.to_string(),
    };
    format!("{}:{detail}", event.kind.as_str())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The raw body the fixture carries (decoded when base64), as Meta signed it.
fn raw_body(name: &str) -> String {
    String::from_utf8(fixture(name).body().as_ref().to_vec()).unwrap()
}

#[tokio::test]
async fn every_fixture_is_expected_here() {
    let listed: Vec<&str> = EXPECTED.iter().map(|e| e.fixture).collect();
    for name in fixture_names() {
        assert!(listed.contains(&name.as_str()), "fixture {name} has no expectation in this test");
    }
}

#[tokio::test]
async fn every_fixture_produces_exactly_its_queue_messages() {
    let h = Harness::new().await;
    for expect in EXPECTED {
        let name = expect.fixture;
        let before = Timestamp::now();
        let response = h.handle(fixture(name)).await;
        let after = Timestamp::now();
        assert_eq!(response.status().as_u16(), expect.status, "{name}: {}", body_text(&response));
        let queued = h.queued().await;

        let inbound: Vec<String> = queued
            .inbound
            .iter()
            .map(|text| {
                let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, text).unwrap();
                assert_ne!(event.kind, EventType::Status, "{name}: a status on inbound-events");
                check_origin(name, &event, before, after);
                describe_event(&event)
            })
            .collect();
        let statuses: Vec<String> = queued
            .statuses
            .iter()
            .map(|text| {
                let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, text).unwrap();
                assert_eq!(event.kind, EventType::Status, "{name}: not a status on status-events");
                check_origin(name, &event, before, after);
                describe_event(&event)
            })
            .collect();
        let templates: Vec<String> = queued
            .templates
            .iter()
            .map(|text| {
                let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, text).unwrap();
                assert_eq!(event.kind, EventType::Template, "{name}: not a template change on template-events");
                assert_eq!(event.waba_id, WABA_ID, "{name}");
                assert!(event.entry_time.is_some(), "{name}: the entry's time travels with the change");
                describe_event(&event)
            })
            .collect();
        assert_eq!(templates, expect.templates, "{name}: templates");
        let parked: Vec<String> = queued
            .parked
            .iter()
            .map(|text| {
                let item: Parked<'_> = envelope::decode(kinds::PARKED_WEBHOOK, text).unwrap();
                format!("parked:{}", item.reason)
            })
            .collect();
        assert_eq!(
            sorted(inbound),
            sorted(expect.inbound.iter().map(|s| (*s).to_owned()).collect()),
            "{name}: inbound"
        );
        assert_eq!(
            sorted(statuses),
            sorted(expect.statuses.iter().map(|s| (*s).to_owned()).collect()),
            "{name}: statuses"
        );
        assert_eq!(sorted(parked), sorted(expect.parked.iter().map(|s| (*s).to_owned()).collect()), "{name}: parked");

        if expect.status == 200 && response.headers().get(CONTENT_TYPE).is_some_and(|v| v == "application/json") {
            let answer = body_json(&response);
            let events = expect.inbound.len() + expect.statuses.len() + expect.templates.len();
            assert_eq!(answer["events"], events, "{name}: {answer}");
            assert_eq!(answer["parked"], expect.parked.len(), "{name}: {answer}");
        }
    }
}

/// Each event names its WABA and phone number, when it was received, and carries its element
/// byte for byte as it was in the signed body.
fn check_origin(name: &str, event: &WebhookEvent<'_>, before: Timestamp, after: Timestamp) {
    assert_eq!(event.waba_id, WABA_ID, "{name}");
    assert_eq!(event.phone_number_id.as_deref(), Some(PHONE_NUMBER_ID), "{name}");
    let received = event.received_at;
    // Millisecond precision on the queue.
    assert!(received >= before.round(jiff::Unit::Millisecond).unwrap() - jiff::SignedDuration::from_millis(1));
    assert!(received <= after, "{name}: received_at {received} after the call returned at {after}");
    let body = raw_body(name);
    assert!(body.contains(event.data.get()), "{name}: the element is not the one received: {}", event.data.get());
    if let Some(contact) = event.contact {
        assert!(body.contains(contact.get()), "{name}: the contact is not the one received");
    }
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_as_plain_text() {
    let h = Harness::new().await;
    let response = h.handle(fixture("handshake")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/plain");
    assert_eq!(body_text(&response), "1158201444");

    let response = h.handle(fixture("handshake_wrong_token")).await;
    assert_eq!(body_json(&response)["error"]["code"], "forbidden");
    let response = h.handle(fixture("handshake_missing_challenge")).await;
    let answer = body_json(&response);
    assert_eq!(answer["error"]["code"], "missing_parameter");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("hub.challenge") && !message.contains("hub.mode"), "{message}");
}

#[tokio::test]
async fn refused_signatures_say_why_and_queue_nothing() {
    let h = Harness::new().await;
    for name in ["bad_signature", "missing_signature"] {
        let response = h.handle(fixture(name)).await;
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(body_json(&response)["error"]["code"], "invalid_signature", "{name}");
    }
    assert!(h.queued().await.is_empty());
}

#[tokio::test]
async fn messages_keep_their_sender_and_their_text_as_received() {
    let h = Harness::new().await;

    assert_eq!(h.handle(fixture("text")).await.status(), 200);
    let queued = h.queued().await;
    let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &queued.inbound[0]).unwrap();
    let message = event.message().unwrap();
    assert_eq!(message.text.unwrap().body, "PARAR");
    assert_eq!(message.timestamp, Some(Timestamp::from_second(1_795_435_201).unwrap()), "the message's own timestamp");
    assert_eq!(event.sender().unwrap().unwrap().wa_id.as_deref(), Some("5511987654321"));

    // Escapes stay escapes on the queue (the element as signed) and decode to the text.
    assert_eq!(h.handle(fixture("unicode_escapes")).await.status(), 200);
    let queued = h.queued().await;
    let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &queued.inbound[0]).unwrap();
    assert!(event.data.get().contains(r"N\u00e3o"), "{}", event.data.get());
    assert_eq!(event.message().unwrap().text.unwrap().body, "Não quero mais promoções 🙏");

    // A contact known only by its business-scoped user id.
    assert_eq!(h.handle(fixture("bsuid_only_contact")).await.status(), 200);
    let queued = h.queued().await;
    let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &queued.inbound[0]).unwrap();
    let sender = event.sender().unwrap().unwrap();
    assert_eq!(sender.wa_id, None);
    assert_eq!(sender.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(event.message().unwrap().from_user_id.as_deref(), Some("US.13491208655302741918"));

    // The number change carries the new number; no contacts[] in that shape.
    assert_eq!(h.handle(fixture("system_user_changed_number")).await.status(), 200);
    let queued = h.queued().await;
    let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &queued.inbound[0]).unwrap();
    let system = event.message().unwrap().system.unwrap();
    assert_eq!(system.wa_id.as_deref(), Some("5511912345678"));
    assert!(event.contact.is_none());
}

#[tokio::test]
async fn a_failed_status_keeps_its_error_code_for_status_processor() {
    let h = Harness::new().await;
    assert_eq!(h.handle(fixture("status_failed")).await.status(), 200);
    let queued = h.queued().await;
    let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &queued.statuses[0]).unwrap();
    let status = event.status().unwrap();
    assert_eq!(status.errors[0].code, 131_050);
    assert_eq!(status.biz_opaque_callback_data.as_deref(), Some("msg_01JDPOLITE0000000000000002"));
}

#[tokio::test]
async fn a_validly_signed_body_that_is_not_a_notification_is_parked_whole_and_answered_200() {
    let h = Harness::new().await;
    let response = h.handle(fixture("not_json")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response), serde_json::json!({"events": 0, "ignored": 0, "parked": 1}));
    let queued = h.queued().await;
    let item: Parked<'_> = envelope::decode(kinds::PARKED_WEBHOOK, &queued.parked[0]).unwrap();
    let ParkedPayload::Text(text) = &item.payload else { panic!("parked as {:?}", item.payload) };
    assert_eq!(text, "this is not a WhatsApp notification");

    let response = h.handle(fixture("unknown_field")).await;
    assert_eq!(response.status(), 200);
    let queued = h.queued().await;
    let item: Parked<'_> = envelope::decode(kinds::PARKED_WEBHOOK, &queued.parked[0]).unwrap();
    assert_eq!(item.field.as_deref(), Some("some_future_field"));
    assert_eq!(item.waba_id.as_deref(), Some(WABA_ID));
    let ParkedPayload::Json(value) = &item.payload else { panic!("parked as {:?}", item.payload) };
    assert!(value.get().contains("SOMETHING_NEW"));

    // A documented field with nothing to act on: ignored by name, nothing queued or parked.
    let response = h.handle(fixture("account_update")).await;
    assert_eq!(body_json(&response), serde_json::json!({"events": 0, "ignored": 1, "parked": 0}));
    let queued = h.queued().await;
    assert!(queued.parked.is_empty() && queued.inbound.is_empty() && queued.statuses.is_empty());
}
