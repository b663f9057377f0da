//! Routing a verified webhook body: every element to its queue, as received; the rest parked.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::borrow::Cow;

use jiff::Timestamp;
use polite_domain::message::StatusValue;
use polite_domain::webhook::{self, EventType, MessageContent, ParkReason, ParkedPayload, WebhookEvent};
use proptest::prelude::*;
use serde_json::Value;

const INBOUND_TEXT: &str = include_str!("fixtures/webhook/inbound_text.json");
const EVERY_SHAPE: &str = include_str!("fixtures/webhook/batch_every_shape.json");

fn now() -> Timestamp {
    Timestamp::from_second(1_763_900_000).unwrap()
}

#[test]
fn every_element_of_every_entry_and_change_is_routed_to_its_queue() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());

    assert_eq!(routed.statuses.len(), 6);
    assert!(routed.statuses.iter().all(|e| e.kind == EventType::Status));
    let kinds: Vec<EventType> = routed.inbound.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == EventType::Message).count(), 10);
    assert_eq!(kinds.iter().filter(|k| **k == EventType::UserPreference).count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == EventType::Error).count(), 1);
    assert_eq!(routed.parked.len(), 1, "the change of a field no one documents");
    assert_eq!(routed.event_count(), 19);
}

#[test]
fn each_event_is_the_element_exactly_as_received_with_its_origin_and_time() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());

    for event in routed.statuses.iter().chain(&routed.inbound) {
        assert!(EVERY_SHAPE.contains(event.data.get()), "not byte-for-byte: {}", event.data.get());
        assert_eq!(event.received_at, now());
    }
    let button = &routed.inbound[0];
    assert!(button.data.get().contains(r"Parar promo\u00e7\u00f5es"), "escapes kept as Meta signed them");
    assert_eq!(button.message().unwrap().timestamp, Some(Timestamp::from_second(1_763_800_200).unwrap()));
    assert_eq!((button.waba_id.as_ref(), button.phone_number_id.as_deref()), ("900100200300", Some("700800900")));
    let pref = routed.inbound.iter().find(|e| e.kind == EventType::UserPreference).unwrap();
    assert_eq!((pref.waba_id.as_ref(), pref.phone_number_id.as_deref()), ("900100200399", Some("700800999")));
    assert_eq!(pref.user_preference().unwrap().timestamp, Timestamp::from_second(1_763_800_300).unwrap());
    let error = routed.inbound.iter().find(|e| e.kind == EventType::Error).unwrap();
    assert_eq!(error.error().unwrap().code, 131_000);
}

#[test]
fn a_message_carries_its_senders_contact_matched_by_wa_id_or_user_id() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());
    let messages: Vec<&WebhookEvent<'_>> = routed.inbound.iter().filter(|e| e.kind == EventType::Message).collect();

    let ana = messages[0].sender().unwrap().unwrap();
    assert_eq!(ana.wa_id.as_deref(), Some("5511987654321"));
    let bsuid_only = messages.iter().find(|e| e.message().unwrap().from.is_none()).unwrap();
    let bo = bsuid_only.sender().unwrap().unwrap();
    assert_eq!((bo.wa_id, bo.user_id.as_deref()), (None, Some("US.13491208655302741918")));
}

#[test]
fn a_queued_event_reads_back_as_the_typed_element() {
    let routed = webhook::route(INBOUND_TEXT.as_bytes(), now());
    let text = serde_json::to_string(&routed.inbound[0]).unwrap();

    let event: WebhookEvent<'_> = serde_json::from_str(&text).unwrap();
    assert_eq!(event.kind, EventType::Message);
    assert_eq!(event.received_at, now());
    let message = event.message().unwrap();
    assert_eq!(message.content(), MessageContent::Text { body: "PARAR" });
    assert_eq!(event.sender().unwrap().unwrap().wa_id.as_deref(), Some("5511987654321"));
}

#[test]
fn a_status_event_keeps_unknown_values_for_the_processor_to_ignore() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());
    let values: Vec<StatusValue> = routed.statuses.iter().map(|e| e.status().unwrap().status).collect();
    assert_eq!(values[0], StatusValue::Sent);
    assert!(matches!(values[4], StatusValue::Other(ref v) if v == "deleted"));
}

#[test]
fn a_change_of_an_unknown_field_is_parked_with_its_whole_value() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());
    let parked = &routed.parked[0];

    assert_eq!(parked.reason, ParkReason::UnknownField);
    assert_eq!(parked.field.as_deref(), Some("some_future_field"));
    assert_eq!(parked.waba_id.as_deref(), Some("900100200399"));
    let ParkedPayload::Json(raw) = &parked.payload else { panic!("not JSON: {:?}", parked.payload) };
    let value: Value = serde_json::from_str(raw.get()).unwrap();
    let original: Value = serde_json::from_str(EVERY_SHAPE).unwrap();
    assert_eq!(value, original["entry"][1]["changes"][2]["value"], "nothing lost");
}

#[test]
fn a_malformed_message_parks_alone_and_its_neighbours_are_routed() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"7"},
        "messages":[{"from":"5511987654321","id":"wamid.ok","timestamp":"1763800100","type":"text","text":{"body":"hi"}},
                    {"from":"5511987654321","id":"wamid.bad","timestamp":"1763800100","type":"text","text":{"body":["STOP"]}},
                    {"from":"5511987654321","id":"wamid.ok2","timestamp":1763800101,"type":"text","text":{"body":"ok"}}]}}]}]}"#;
    let routed = webhook::route(body.as_bytes(), now());

    assert_eq!(routed.inbound.len(), 2);
    assert_eq!(routed.parked.len(), 1);
    let parked = &routed.parked[0];
    assert_eq!(parked.reason, ParkReason::MalformedElement);
    assert!(parked.detail.starts_with("messages[]: "), "{}", parked.detail);
    assert_eq!(parked.phone_number_id.as_deref(), Some("7"));
    assert!(matches!(&parked.payload, ParkedPayload::Json(raw) if raw.get().contains("wamid.bad")));
}

#[test]
fn a_status_that_is_not_an_object_parks_alone() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"7"},
        "statuses":[{"id":"wamid.ok","status":"sent","timestamp":"1763800100"}, "wamid.bad", 42]}}]}]}"#;
    let routed = webhook::route(body.as_bytes(), now());

    assert_eq!(routed.statuses.len(), 1);
    assert_eq!(routed.parked.len(), 2);
    assert!(routed.parked.iter().all(|p| p.reason == ParkReason::MalformedElement));
}

#[test]
fn a_change_with_nothing_in_it_is_parked_as_no_updates() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"7"},"messages":[]}}]}]}"#;
    let routed = webhook::route(body.as_bytes(), now());
    assert_eq!(routed.event_count(), 0);
    assert_eq!(routed.parked[0].reason, ParkReason::NoUpdates);
}

#[test]
fn a_change_whose_metadata_is_unreadable_is_parked_whole() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":7},"statuses":[{"id":"w","status":"sent","timestamp":"1"}]}}]}]}"#;
    let routed = webhook::route(body.as_bytes(), now());
    assert_eq!(routed.event_count(), 0);
    assert_eq!(routed.parked[0].reason, ParkReason::MalformedElement);
    assert!(routed.parked[0].detail.starts_with("metadata: "));
}

#[test]
fn bodies_that_are_not_notifications_are_parked_whole_as_received() {
    let cases: [(&[u8], ParkReason); 4] = [
        (b"not json at all", ParkReason::NotANotification),
        (br#"{"object":"whatsapp_business_account","entry":"nope"}"#, ParkReason::NotANotification),
        (br#"{"object":"page","entry":[]}"#, ParkReason::WrongObject),
        (b"\xff\xfe{}", ParkReason::NotUtf8),
    ];
    for (body, reason) in cases {
        let routed = webhook::route(body, now());
        assert_eq!(routed.event_count(), 0);
        assert_eq!(routed.parked.len(), 1);
        assert_eq!(routed.parked[0].reason, reason, "{}", String::from_utf8_lossy(body));
    }
    let text = webhook::route(b"not json at all", now());
    assert!(matches!(&text.parked[0].payload, ParkedPayload::Text(Cow::Borrowed("not json at all"))));
    let bytes = webhook::route(b"\xff\xfe{}", now());
    assert!(matches!(&bytes.parked[0].payload, ParkedPayload::Base64(b) if b == "//57fQ=="));
}

#[test]
fn a_parked_item_serialises_and_reads_back() {
    let routed = webhook::route(EVERY_SHAPE.as_bytes(), now());
    let text = serde_json::to_string(&routed.parked[0]).unwrap();
    let back: webhook::Parked<'_> = serde_json::from_str(&text).unwrap();
    assert_eq!(back.reason, ParkReason::UnknownField);
    assert_eq!(back.received_at, now());
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["reason"], "unknown_field");
    assert_eq!(json["payload"]["json"]["event"], "APPROVED");
}

#[test]
fn routing_agrees_with_the_typed_model_on_every_fixture() {
    for body in [INBOUND_TEXT, EVERY_SHAPE] {
        let typed = webhook::parse(body.as_bytes()).unwrap();
        let statuses = typed.events().filter(|e| e.kind.is_status()).count();
        let routed = webhook::route(body.as_bytes(), now());
        assert_eq!(routed.statuses.len(), statuses);
        let ids: Vec<String> = routed.statuses.iter().map(|e| e.status().unwrap().id.into_owned()).collect();
        let typed_ids: Vec<String> = typed
            .events()
            .filter_map(|e| match e.kind {
                webhook::EventKind::Status(s) => Some(s.id.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, typed_ids, "same order");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes, routing returns (never panics) and accounts for the body: either
    /// something is routed or something is parked.
    #[test]
    fn routing_never_panics_and_never_loses_a_body(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let routed = webhook::route(&bytes, now());
        prop_assert!(routed.event_count() > 0 || !routed.parked.is_empty() || looks_empty(&bytes));
    }

    /// Cutting a real payload anywhere parks it whole rather than routing half of it.
    #[test]
    fn a_truncated_body_is_parked_whole(cut in 1usize..EVERY_SHAPE.trim_end().len()) {
        let body = &EVERY_SHAPE.as_bytes()[..cut];
        let routed = webhook::route(body, now());
        prop_assert_eq!(routed.event_count(), 0);
        prop_assert_eq!(routed.parked.len(), 1);
    }
}

/// A notification with no entries or no changes has nothing to route or park.
fn looks_empty(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v["object"] == "whatsapp_business_account")
}

fn one_change(field: &str, value: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"{field}","value":{value}}}]}}]}}"#
    )
    .into_bytes()
}

#[test]
fn a_message_on_standby_is_routed_like_one_on_messages() {
    // While Meta's AI agent holds the chat, the user's messages — a STOP too — come on `standby`.
    let value = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"700800900"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987654321"}],"messages":[{"from":"5511987654321","id":"wamid.SB1","timestamp":"1795435201","type":"text","text":{"body":"STOP"}}]}"#;
    let body = one_change("standby", value);
    let routed = webhook::route(&body, now());
    assert!(routed.parked.is_empty() && routed.ignored.is_empty());
    assert_eq!(routed.inbound.len(), 1);
    let event = &routed.inbound[0];
    assert_eq!(event.kind, EventType::Message);
    assert!(matches!(event.message().unwrap().content(), MessageContent::Text { body: "STOP" }));
    assert_eq!(event.sender().unwrap().unwrap().wa_id.as_deref(), Some("5511987654321"));
}

#[test]
fn documented_fields_with_nothing_to_act_on_are_ignored_by_name_never_parked() {
    use webhook::IgnoreReason;
    let cases = [
        ("messaging_handovers", r#"{"messaging_product":"whatsapp"}"#, IgnoreReason::ConversationControl, None),
        ("history", r#"{"history":[{"threads":[]}]}"#, IgnoreReason::ChatHistory, None),
        ("smb_app_state_sync", r#"{"state_sync":[]}"#, IgnoreReason::ContactBookSync, None),
        ("group_lifecycle_update", r#"{"groups":[]}"#, IgnoreReason::Group, None),
        ("group_status_update", r#"{"groups":[]}"#, IgnoreReason::Group, None),
        ("business_username_updates", r#"{"username":"shop"}"#, IgnoreReason::BusinessProfile, None),
        ("account_alerts", r#"{"entity_type":"WABA"}"#, IgnoreReason::AccountNotice, None),
        ("account_review_update", r#"{"decision":"APPROVED"}"#, IgnoreReason::AccountNotice, None),
        ("account_settings_update", "{}", IgnoreReason::AccountNotice, None),
        (
            "account_update",
            r#"{"phone_number":"15550001111","event":"ACCOUNT_RESTRICTION","restriction_info":[]}"#,
            IgnoreReason::AccountSignal,
            Some("ACCOUNT_RESTRICTION"),
        ),
        (
            "business_capability_update",
            r#"{"max_daily_conversation_per_phone":10000}"#,
            IgnoreReason::AccountSignal,
            None,
        ),
        (
            "phone_number_quality_update",
            r#"{"display_phone_number":"15550001111","event":"FLAGGED","current_limit":"TIER_1K"}"#,
            IgnoreReason::AccountSignal,
            Some("FLAGGED"),
        ),
    ];
    for (field, value, reason, event) in cases {
        let body = one_change(field, value);
        let routed = webhook::route(&body, now());
        assert!(routed.parked.is_empty(), "{field}: {:?}", routed.parked);
        assert_eq!(routed.event_count(), 0, "{field}");
        assert_eq!(routed.ignored.len(), 1, "{field}");
        assert_eq!(routed.ignored[0].field, field);
        assert_eq!(routed.ignored[0].reason, reason, "{field}");
        assert_eq!(routed.ignored[0].event.as_deref(), event, "{field}");
    }
    // A field no one documents is still parked.
    let body = one_change("brand_new_field", "{}");
    let routed = webhook::route(&body, now());
    assert_eq!((routed.ignored.len(), routed.parked.len()), (0, 1));
    assert_eq!(routed.parked[0].reason, ParkReason::UnknownField);
}

#[test]
fn a_users_call_is_routed_to_inbound_and_call_states_are_ignored_by_name() {
    let value = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"700800900"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987654321","user_id":"BR.1349"}],"calls":[{"id":"wacid.C1","from":"5511987654321","from_user_id":"BR.1349","to":"15550001111","event":"connect","direction":"USER_INITIATED","timestamp":"1795435201","session":{"sdp_type":"offer","sdp":"v=0"}}]}"#;
    let body = one_change("calls", value);
    let routed = webhook::route(&body, now());
    assert!(routed.parked.is_empty() && routed.ignored.is_empty() && routed.statuses.is_empty());
    assert_eq!(routed.inbound.len(), 1);
    let call = routed.inbound[0].call().unwrap();
    assert_eq!((call.id.as_ref(), call.by_user()), ("wacid.C1", true));
    assert_eq!(routed.inbound[0].sender().unwrap().unwrap().user_id.as_deref(), Some("BR.1349"));

    // pywa's call status: a `calls` change with `statuses[]` of call states, not message statuses.
    let states = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"16315553601","phone_number_id":"5483758353"},"statuses":[{"id":"wacid.ABGGFjFVU2AfAgo6V","timestamp":"1671644824","type":"call","status":"RINGING","recipient_id":"163155536021"}]}"#;
    let body = one_change("calls", states);
    let routed = webhook::route(&body, now());
    assert_eq!((routed.event_count(), routed.parked.len()), (0, 0));
    assert_eq!(routed.ignored[0].reason, webhook::IgnoreReason::CallState);
}

#[test]
fn template_changes_go_to_the_registry_dated_by_their_entry_whatever_field_carries_them() {
    let body = |field: &str, value: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","time":1746082800,"changes":[{{"field":"{field}","value":{value}}}]}}]}}"#
        )
        .into_bytes()
    };
    let cases = [
        (
            "template_category_update",
            r#"{"message_template_id":278077987957091,"message_template_name":"welcome_template","message_template_language":"en-US","new_category":"UTILITY","correct_category":"MARKETING","category_update_timestamp":1746169200}"#,
        ),
        (
            "message_template_status_update",
            r#"{"event":"PAUSED","message_template_id":1,"message_template_name":"welcome_template","message_template_language":"en-US","reason":"LOW_QUALITY"}"#,
        ),
        // Meta's own example sends a quality change on the status field.
        (
            "message_template_status_update",
            r#"{"previous_quality_score":"GREEN","new_quality_score":"YELLOW","message_template_id":1,"message_template_name":"welcome_template","message_template_language":"en-US"}"#,
        ),
        (
            "message_template_quality_update",
            r#"{"previous_quality_score":"YELLOW","new_quality_score":"RED","message_template_id":1,"message_template_name":"welcome_template","message_template_language":"en-US"}"#,
        ),
    ];
    for (field, value) in cases {
        let bytes = body(field, value);
        let routed = webhook::route(&bytes, now());
        assert_eq!((routed.templates.len(), routed.parked.len(), routed.inbound.len()), (1, 0, 0), "{field}");
        let event = routed.templates[0].event();
        assert_eq!(event.kind, EventType::Template);
        assert_eq!(event.entry_time, Some(Timestamp::from_second(1_746_082_800).unwrap()));
        assert_eq!(event.waba_id, "102290129340398");
        let queued = serde_json::to_string(&event).unwrap();
        let back: WebhookEvent<'_> = serde_json::from_str(&queued).unwrap();
        let change = back.template_change().unwrap();
        assert_eq!(change.message_template_name.as_deref(), Some("welcome_template"));
        assert_eq!(back.entry_time, event.entry_time);
    }
    // A template change that is not an object cannot be read: parked, not lost.
    let bad = body("template_category_update", r#"{"message_template_name":7}"#);
    let routed = webhook::route(&bad, now());
    assert_eq!((routed.templates.len(), routed.parked.len()), (0, 1));
}
