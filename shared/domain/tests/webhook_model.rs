//! The webhook model over fixtures: every shape docs/whatsapp.md describes parses, nothing is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::Timestamp;
use polite_domain::message::StatusValue;
use polite_domain::webhook::{self, EventKind, MessageContent, ParseError};

const INBOUND_TEXT: &str = include_str!("fixtures/webhook/inbound_text.json");
const FAILED_131050: &str = include_str!("fixtures/webhook/status_failed_131050.json");
const EVERY_SHAPE: &str = include_str!("fixtures/webhook/batch_every_shape.json");

#[test]
fn inbound_text_is_one_message_event_with_its_origin_and_contact() {
    let n = webhook::parse(INBOUND_TEXT.as_bytes()).unwrap();
    let events: Vec<_> = n.events().collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].origin.waba_id, "900100200300");
    assert_eq!(events[0].origin.phone_number_id, Some("700800900"));
    let EventKind::Message { message, contact } = events[0].kind else { panic!("not a message") };
    assert_eq!(message.content(), MessageContent::Text { body: "PARAR" });
    assert_eq!(message.timestamp, Some(Timestamp::from_second(1_763_800_000).unwrap()));
    assert_eq!(contact.unwrap().profile.as_ref().unwrap().name.as_deref(), Some("Ana"));
}

#[test]
fn failed_status_carries_error_code_and_callback_data() {
    let n = webhook::parse(FAILED_131050.as_bytes()).unwrap();
    let EventKind::Status(s) = n.events().next().unwrap().kind else { panic!("not a status") };
    assert_eq!(s.status, StatusValue::Failed);
    assert_eq!(s.errors[0].code, 131_050);
    assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("msg_01J000000000000000000000"));
    assert_eq!(s.recipient_id.as_deref(), Some("5511987654321"));
}

#[test]
fn every_entry_change_and_element_becomes_an_event() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let kinds: Vec<&str> = n
        .events()
        .map(|e| match e.kind {
            EventKind::Message { .. } => "message",
            EventKind::Status(_) => "status",
            EventKind::UserPreference(_) => "preference",
            EventKind::Error(_) => "error",
            EventKind::Unrecognized { .. } => "unrecognized",
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "status").count(), 6);
    assert_eq!(kinds.iter().filter(|k| **k == "message").count(), 10);
    assert_eq!(kinds.iter().filter(|k| **k == "preference").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "error").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "unrecognized").count(), 1);
    assert_eq!(kinds.len(), 20);
}

#[test]
fn events_keep_the_origin_of_their_own_entry() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let prefs: Vec<_> = n.events().filter(|e| matches!(e.kind, EventKind::UserPreference(_))).collect();
    assert!(prefs.iter().all(|e| e.origin.waba_id == "900100200399" && e.origin.phone_number_id == Some("700800999")));
    let unknown = n.events().find(|e| matches!(e.kind, EventKind::Unrecognized { .. })).unwrap();
    assert!(matches!(unknown.kind, EventKind::Unrecognized { field: "some_future_field" }));
}

#[test]
fn statuses_keep_pricing_conversation_unknown_values_and_bsuid_recipients() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let statuses: Vec<_> = n
        .events()
        .filter_map(|e| match e.kind {
            EventKind::Status(s) => Some(s),
            _ => None,
        })
        .collect();
    let sent = statuses[0];
    let pricing = sent.pricing().unwrap().unwrap();
    assert_eq!(
        (pricing.billable, pricing.category.as_deref(), pricing.kind.as_deref()),
        (Some(true), Some("marketing"), Some("regular"))
    );
    let conv = sent.conversation().unwrap().unwrap();
    assert_eq!(conv.origin.as_ref().unwrap().kind, "marketing");
    assert_eq!(conv.expiration_timestamp, Some(Timestamp::from_second(1_763_886_500).unwrap()));
    assert_eq!(statuses[1].pricing().unwrap().unwrap().billable, None);
    assert!(statuses[2].pricing().is_none());
    assert_eq!(statuses[3].status, StatusValue::Played);
    assert_eq!(statuses[4].status, StatusValue::Other("deleted".into()));
    assert_eq!(statuses[5].recipient_id, None);
    assert_eq!(statuses[5].recipient_user_id.as_deref(), Some("BR.9876543210"));
}

#[test]
fn every_message_type_is_understood_or_kept() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let messages: Vec<_> = n
        .events()
        .filter_map(|e| match e.kind {
            EventKind::Message { message, contact } => Some((message, contact)),
            _ => None,
        })
        .collect();
    let content: Vec<MessageContent<'_>> = messages.iter().map(|(m, _)| m.content()).collect();
    assert_eq!(content[0], MessageContent::Button { payload: Some("OPTOUT_MARKETING"), text: Some("Parar promoções") });
    assert_eq!(content[1], MessageContent::Reply { id: "yes", title: Some("Yes") });
    assert_eq!(content[2], MessageContent::Reply { id: "row1", title: Some("Row") });
    assert_eq!(content[3], MessageContent::Reaction);
    assert_eq!(content[4], MessageContent::Other { kind: "image" });
    assert_eq!(messages[4].0.extra["image"]["caption"], "look");
    assert_eq!(content[5], MessageContent::Other { kind: "location" });
    assert!((messages[5].0.location.as_ref().unwrap().latitude + 23.55).abs() < 1e-9);
    assert_eq!(
        content[6],
        MessageContent::System { kind: Some("user_changed_number"), new_wa_id: Some("5511912345678") }
    );
    assert_eq!(messages[7].0.errors[0].code, 131_051);
    assert_eq!(content[8], MessageContent::Other { kind: "poll_vote" });
    assert_eq!(messages[8].0.extra["poll_vote"]["options"][1], 2, "unknown types keep their content");
    assert_eq!(content[9], MessageContent::Text { body: "hi \"there\"" });
    assert!(messages[9].0.extra.contains_key("referral"));
    assert_eq!(messages[9].0.from, None);
    assert_eq!(
        messages[9].1.unwrap().user_id.as_deref(),
        Some("US.13491208655302741918"),
        "BSUID-only contact matched"
    );
    assert_eq!(messages[0].1.unwrap().wa_id.as_deref(), Some("5511987654321"));
}

#[test]
fn user_preferences_accept_integer_and_string_timestamps() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let prefs: Vec<_> = n
        .events()
        .filter_map(|e| match e.kind {
            EventKind::UserPreference(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!((prefs[0].value.as_ref(), prefs[0].timestamp.as_second()), ("stop", 1_763_800_300));
    assert_eq!((prefs[1].value.as_ref(), prefs[1].timestamp.as_second()), ("resume", 1_763_800_400));
    assert_eq!(prefs[0].category, "marketing_messages");
}

#[test]
fn strings_without_escapes_are_borrowed_from_the_body() {
    let n = webhook::parse(INBOUND_TEXT.as_bytes()).unwrap();
    let EventKind::Message { message, .. } = n.events().next().unwrap().kind else { panic!() };
    assert!(matches!(message.id, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn parsed_events_serialise_back_without_losing_fields() {
    let n = webhook::parse(EVERY_SHAPE.as_bytes()).unwrap();
    let EventKind::Message { message, .. } =
        n.events().find(|e| matches!(e.kind, EventKind::Message { .. })).unwrap().kind
    else {
        panic!()
    };
    let json = serde_json::to_value(message).unwrap();
    assert_eq!(json["button"]["payload"], "OPTOUT_MARKETING");
    assert_eq!(json["context"]["id"], "wamid.S1");
    assert_eq!(json["timestamp"], "1763800200");
}

#[test]
fn an_unexpected_pricing_shape_does_not_cost_the_status() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"delivered","timestamp":"1763800000","pricing":{"billable":"maybe"}}]}}]}]}"#;
    let n = webhook::parse(body).unwrap();
    let EventKind::Status(s) = n.events().next().unwrap().kind else { panic!() };
    assert_eq!(s.status, StatusValue::Delivered);
    assert!(s.pricing().unwrap().is_err(), "the typed view reports the odd field");
    assert_eq!(serde_json::to_value(s).unwrap()["pricing"]["billable"], "maybe", "kept verbatim for the queue");
}

#[test]
fn bodies_that_are_not_whatsapp_notifications_are_errors_not_panics() {
    for body in [
        &b"not json"[..],
        b"{}",
        b"[]",
        b"{\"object\":\"page\",\"entry\":[]}",
        b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[]}]}",
    ] {
        assert!(webhook::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
    assert!(
        matches!(webhook::parse(b"{\"object\":\"page\",\"entry\":[]}"), Err(ParseError::WrongObject(o)) if o == "page")
    );
    let bad_ts = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"sent","timestamp":"soon"}]}}]}]}"#;
    assert!(webhook::parse(bad_ts).is_err());
}
