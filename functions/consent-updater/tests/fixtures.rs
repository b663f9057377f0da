//! The fixtures in `functions/consent-updater/fixtures/` — the events Lambda hands it, usable with `cargo lambda invoke --data-file` — are built here from their sources and
//! checked against the committed files, so they cannot drift from what webhook-intake queues;
//! then each is handled by the real handler on moto.
//!
//! After a deliberate change, rewrite them with
//! `POLITE_REGENERATE_FIXTURES=1 cargo test -p consent-updater --test fixtures`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::path::PathBuf;

use aws_lambda_events::event::sqs::SqsEvent;
use consent_updater::handle;
use jiff::Timestamp;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::GraphClient;
use polite_app::contacts::Importer;
use polite_app::fakes::MemoryQueue;
use polite_app::inbound::Updater;
use polite_app::scheduler::NoAudiences;
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentKeywords, ConsentStatus};
use polite_domain::envelope::{self, kinds};
use polite_domain::inbound::ConsentChange;
use polite_domain::ports::prelude::*;
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

fn check_fixture(name: &str, value: &Value) {
    polite_tests::fixtures::check(&dir(), name, value);
}

fn read_fixture(name: &str) -> String {
    polite_tests::fixtures::read(&dir(), name)
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

async fn updater() -> Updater<DynamoContacts, GraphClient> {
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

async fn run_sqs(updater: &Updater<DynamoContacts, GraphClient>, fixture: &str) -> Vec<String> {
    let event: SqsEvent = serde_json::from_str(&read_fixture(fixture)).unwrap();
    // No import parts among the fixtures: files and queue are never used.
    let importer = Importer { files: NoAudiences, queue: MemoryQueue::default() };
    let response = handle(updater, &importer, event).await.unwrap();
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

async fn status(
    updater: &Updater<DynamoContacts, GraphClient>,
    wa_id: &str,
    category: ConsentCategory,
) -> Option<ConsentStatus> {
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
