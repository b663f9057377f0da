//! The fixtures in `functions/contacts-api/fixtures/` — the API Gateway events Lambda hands
//! it, usable with `cargo lambda invoke --data-file` — are built here and checked against the
//! committed files, so they cannot drift from the HTTP contract; then each is handled by the
//! real handler on moto.
//!
//! After a deliberate change, rewrite them with
//! `POLITE_REGENERATE_FIXTURES=1 cargo test -p contacts-api --test fixtures`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::path::PathBuf;

use base64::Engine as _;
use contacts_api::{ContactsApi, handle};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_app::contacts::Importer;
use polite_app::fakes::MemoryQueue;
use polite_app::scheduler::NoAudiences;
use polite_tests::Stack;
use polite_tests::fixtures::{check, read};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

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
        check(&dir(), name, &value);
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
    let messages = DynamoMessages::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("MessagesTable"),
        b"test-contact-hash-key",
    );
    // The fixtures import no file: imports from files are refused (no bucket), queue unused.
    let imports = Importer { files: NoAudiences, queue: MemoryQueue::default() };
    let api = ContactsApi { store, messages, imports };
    let mut answers = std::collections::HashMap::new();
    for (name, _, expected) in api_fixtures() {
        let req = lambda_http::request::from_str(&read(&dir(), name)).unwrap();
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
