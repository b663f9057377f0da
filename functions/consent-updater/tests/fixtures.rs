//! The fixtures in `functions/consent-updater/fixtures/` — the events Lambda hands the two
//! bins, usable with `cargo lambda invoke --data-file` — are built here from their sources and
//! checked against the committed files, so they cannot drift from what webhook-intake queues or
//! from the HTTP contract; then each is handled by the real handler on moto.
//!
//! After a deliberate change, rewrite them with
//! `POLITE_REGENERATE_FIXTURES=1 cargo test -p consent-updater --test fixtures`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::path::PathBuf;

use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine as _;
use consent_updater::Updater;
use consent_updater::api::{ContactsApi, handle};
use jiff::Timestamp;
use polite_adapters::contacts::DynamoContacts;
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentKeywords, ConsentStatus};
use polite_domain::envelope::{self, kinds};
use polite_domain::inbound::ConsentChange;
use polite_domain::ports::ContactStore as _;
use polite_domain::webhook;
use polite_tests::Stack;
use serde_json::{Value, json};

const ANA: &str = "5511987654321";
const CRM: &str = "16505551234";
/// When webhook-intake "received" the fixtures' webhooks.
const RECEIVED_AT_MS: i64 = 1_795_435_202_000;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Compares `value` with the committed fixture `name` (or writes it when regenerating).
fn check_fixture(name: &str, value: &Value) {
    let path = dir().join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("POLITE_REGENERATE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with POLITE_REGENERATE_FIXTURES=1)", path.display()));
    assert_eq!(committed, text, "{name}.json drifted from its source (regenerate with POLITE_REGENERATE_FIXTURES=1)");
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap()
}

// ---------------------------------------------------------------- SQS (inbound-events) ----

/// What webhook-intake queues for one of its fixtures, received at [`RECEIVED_AT_MS`].
fn queued_by_intake(webhook_fixture: &str) -> Vec<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../webhook-intake/fixtures/{webhook_fixture}.json"));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = event["body"].as_str().unwrap().as_bytes();
    let routed = webhook::route(body, Timestamp::from_millisecond(RECEIVED_AT_MS).unwrap());
    assert!(routed.parked.is_empty() && routed.statuses.is_empty(), "{webhook_fixture}");
    routed.inbound.iter().map(envelope::encode_webhook_event).collect()
}

fn consent_change_131050() -> String {
    let at = Timestamp::from_millisecond(RECEIVED_AT_MS).unwrap();
    let change = ConsentChange {
        contact: ContactRef::parse(CRM).unwrap(),
        event: ConsentEvent::from_send_failure("msg_01JDPOLITE0000000000000002", at, at),
    };
    envelope::encode(kinds::CONSENT_CHANGE, &change).unwrap()
}

/// An SQS event as Lambda delivers it from inbound-events.
fn sqs_event(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("0c6e4b1e-0000-4000-8000-{i:012}"),
                "receiptHandle": format!("AQEB-fixture-{i}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": RECEIVED_AT_MS.to_string(),
                    "SenderId": "AROAFIXTURE:webhook-intake",
                    "ApproximateFirstReceiveTimestamp": (RECEIVED_AT_MS + 40).to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:polite-inbound-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn sqs_fixtures() -> Vec<(&'static str, Value)> {
    let mixed: Vec<String> = [
        queued_by_intake("button_stop_promotions"),
        queued_by_intake("reaction"),
        vec![r#"{"v":1,"kind":"send","body":{}}"#.to_owned()],
    ]
    .concat();
    vec![
        ("sqs_keyword_stop", sqs_event(&queued_by_intake("text"))),
        ("sqs_user_preferences_stop", sqs_event(&queued_by_intake("user_preferences_stop"))),
        ("sqs_mixed_with_one_bad_record", sqs_event(&mixed)),
        ("sqs_consent_change_131050", sqs_event(&[consent_change_131050()])),
    ]
}

#[test]
fn sqs_fixtures_are_exactly_what_webhook_intake_and_status_processor_queue() {
    for (name, value) in sqs_fixtures() {
        check_fixture(name, &value);
    }
}

async fn updater() -> Updater<DynamoContacts> {
    let stack = Stack::create().await.unwrap();
    let store = DynamoContacts::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("ContactsTable"),
        b"test-contact-hash-key",
    );
    Updater {
        store,
        keywords: ConsentKeywords::default(),
        confirmations: None,
        send_memory: polite_domain::gate::Policy::default().send_memory(),
    }
}

async fn run_sqs(updater: &Updater<DynamoContacts>, fixture: &str) -> Vec<String> {
    let event: SqsEvent = serde_json::from_str(&read_fixture(fixture)).unwrap();
    let response = updater.handle(event).await.unwrap();
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

async fn status(updater: &Updater<DynamoContacts>, wa_id: &str, category: ConsentCategory) -> Option<ConsentStatus> {
    updater.store.get(&ContactRef::parse(wa_id).unwrap()).await.unwrap()?.consent.status(category)
}

#[tokio::test]
async fn each_sqs_fixture_is_handled_as_specified() {
    let u = updater().await;
    assert!(run_sqs(&u, "sqs_keyword_stop").await.is_empty());
    assert_eq!(status(&u, ANA, ConsentCategory::Utility).await, Some(ConsentStatus::OptedOut));

    let u = updater().await;
    assert!(run_sqs(&u, "sqs_user_preferences_stop").await.is_empty());
    assert_eq!(status(&u, ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(status(&u, ANA, ConsentCategory::Utility).await, None);

    let u = updater().await;
    assert_eq!(
        run_sqs(&u, "sqs_mixed_with_one_bad_record").await,
        ["0c6e4b1e-0000-4000-8000-000000000002"],
        "only the record that does not belong on inbound-events fails"
    );
    assert_eq!(status(&u, ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));

    let u = updater().await;
    assert!(run_sqs(&u, "sqs_consent_change_131050").await.is_empty());
    assert_eq!(status(&u, CRM, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
}

// ------------------------------------------------------------ HTTP (/v1/contacts/…) ----

/// An API Gateway HTTP API (payload 2.0) event for the `/v1` routes, signed in with IAM.
fn api_event(method: &str, path: &str, route: &str, body: Option<&str>, base64: bool) -> Value {
    let body = body.map(|b| if base64 { base64::engine::general_purpose::STANDARD.encode(b) } else { b.to_owned() });
    let mut headers = json!({
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "crm-backend/2.3",
        "x-amz-date": "20261123T120000Z"
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": {
                "accessKey": "AKIAFIXTURE", "accountId": "123456789012", "callerId": "AIDAFIXTURE",
                "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/crm-backend", "userId": "AIDAFIXTURE"
            }},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "crm-backend/2.3"},
            "requestId": "fixture",
            "routeKey": format!("{method} {route}"),
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_435_200_000_i64
        },
        "isBase64Encoded": base64
    });
    if let Some(id) = path.split('/').nth(3) {
        event["pathParameters"] = json!({ "contact": id });
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

const CAPTURE: &str = r#"{"category":"marketing","status":"opted_in","source":"web_checkout","evidence":"Ticked 'Send me offers on WhatsApp' at https://shop.example/checkout","occurred_at":"2026-11-20T10:00:00Z"}"#;

/// The API fixtures in the order they are replayed against one table, with the status each
/// must answer.
fn api_fixtures() -> Vec<(&'static str, Value, u16)> {
    let consent = "/v1/contacts/{contact}/consent";
    let contact = "/v1/contacts/{contact}";
    let history = "/v1/contacts/{contact}/consent-history";
    let patch = r#"{"timezone":"America/Los_Angeles","quiet_hours":{"start":"20:00","end":"09:00"},"locale":"en_US"}"#;
    vec![
        ("api_get_unknown_contact", api_event("GET", "/v1/contacts/16505551234", contact, None, false), 404),
        ("api_put_consent", api_event("PUT", "/v1/contacts/+16505551234/consent", consent, Some(CAPTURE), false), 200),
        ("api_get_contact", api_event("GET", "/v1/contacts/16505551234", contact, None, false), 200),
        ("api_patch_contact", api_event("PATCH", "/v1/contacts/16505551234", contact, Some(patch), false), 200),
        (
            "api_patch_unknown_zone",
            api_event("PATCH", "/v1/contacts/16505551234", contact, Some(r#"{"timezone":"Mars/Olympus_Mons"}"#), false),
            422,
        ),
        (
            "api_put_consent_invalid_json",
            api_event("PUT", "/v1/contacts/16505551234/consent", consent, Some(r#"{"category":"marketing","#), false),
            400,
        ),
        (
            "api_put_consent_base64",
            api_event(
                "PUT",
                "/v1/contacts/%2B16505551234/consent",
                consent,
                Some(
                    r#"{"category":"utility","status":"opted_in","source":"crm_import","occurred_at":"2026-11-21T09:00:00Z"}"#,
                ),
                true,
            ),
            200,
        ),
        (
            "api_consent_history",
            api_event("GET", "/v1/contacts/16505551234/consent-history", history, None, false),
            200,
        ),
        ("api_wrong_method", api_event("POST", "/v1/contacts/16505551234", contact, Some("{}"), false), 405),
        ("api_delete_contact", api_event("DELETE", "/v1/contacts/16505551234", contact, None, false), 204),
    ]
}

#[test]
fn api_fixtures_are_api_gateway_v2_events_for_the_contract_routes() {
    for (name, value, _) in api_fixtures() {
        check_fixture(name, &value);
    }
}

#[tokio::test]
async fn each_api_fixture_answers_per_the_contract() {
    let stack = Stack::create().await.unwrap();
    let store = DynamoContacts::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("ContactsTable"),
        b"test-contact-hash-key",
    );
    let messages = polite_adapters::messages::DynamoMessages::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("MessagesTable"),
        b"test-contact-hash-key",
    );
    let api = ContactsApi { store, messages };
    let mut answers = std::collections::HashMap::new();
    for (name, _, expected) in api_fixtures() {
        let req = lambda_http::request::from_str(&read_fixture(name)).unwrap();
        let response = handle(&api, req).await;
        let bytes = response.body().as_ref();
        let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).unwrap() };
        assert_eq!(response.status().as_u16(), expected, "{name}: {body}");
        if expected >= 400 {
            assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{name}: {body}");
        }
        answers.insert(name, body);
    }
    assert_eq!(answers["api_get_unknown_contact"]["error"]["code"], "not_found");
    assert_eq!(answers["api_put_consent_invalid_json"]["error"]["code"], "invalid_json");
    assert!(answers["api_patch_unknown_zone"]["error"]["message"].as_str().unwrap().contains("timezone"));
    assert_eq!(answers["api_get_contact"]["consent"]["marketing"]["source"], "web_checkout");
    assert_eq!(answers["api_patch_contact"]["timezone"], "America/Los_Angeles");
    assert_eq!(answers["api_patch_contact"]["quiet_hours"], json!({"start": "20:00", "end": "09:00"}));
    let events = answers["api_consent_history"]["events"].as_array().unwrap();
    let sources: Vec<&str> = events.iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["web_checkout", "crm_import"], "oldest first; the base64 body was decoded");
    assert_eq!(answers["api_delete_contact"], Value::Null, "204 has no body");
}
