//! The parked-webhook tool (`make parked`, `make replay-parked`) against webhook-intake on
//! moto: what the intake parked is listed whole (parts reassembled), and a replay brings each
//! replayable item back through the webhook as Meta sent it — signed, so the intake takes it —
//! deleting it only once the webhook answered 200.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{APP_SECRET, Harness, VERIFY_TOKEN, post};
use polite_adapters::queue::SqsQueue;
use polite_devstack::parking::{self, Parking, Replayed};
use polite_domain::webhook::{self, ParkedPayload};
use serde_json::json;
use webhook_intake::Intake;

/// A body with three things the intake parks: a change of a field polite does not handle, a
/// message element that does not match the model, and a message too large for SQS.
fn body_with_three_parked_items() -> Vec<u8> {
    let metadata = json!({"display_phone_number": "15550001111", "phone_number_id": "700800900"});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [
        {"field": "some_future_field", "value": {"decision": "APPROVED"}},
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata,
            "messages": [
                {"from": "5511987654321", "id": "wamid.ODD", "timestamp": "1795435201", "type": "text", "text": {"body": ["not", "text"]}},
                {"from": "5511987654321", "id": "wamid.HUGE", "timestamp": "1795435201", "type": "text",
                    "text": {"body": "a".repeat(300 * 1024)}}]}}]}]})
    .to_string()
    .into_bytes()
}

/// webhook-intake served over HTTP on the same queues, as API Gateway would serve it.
async fn served_intake(h: &Harness) -> String {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post as route_post;
    let queue = |id: &str| SqsQueue::new(h.sqs.clone(), h.stack.queue(id));
    let intake = Arc::new(Intake::with_queues(APP_SECRET, VERIFY_TOKEN, queue));
    let app = axum::Router::new().route(
        "/webhook",
        route_post(move |headers: HeaderMap, body: Bytes| {
            let intake = Arc::clone(&intake);
            async move {
                // The tool's own signature, checked by the intake.
                let signature = headers.get(webhook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
                let response = webhook_intake::handle(&intake, post(body.to_vec(), signature)).await;
                axum::http::StatusCode::from_u16(response.status().as_u16()).unwrap()
            }
        }),
    );
    serve(app).await
}

/// A webhook that is down: every POST answered 503.
async fn broken_webhook() -> String {
    use axum::routing::post as route_post;
    serve(axum::Router::new().route("/webhook", route_post(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE })))
        .await
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Each item's reason and payload JSON, for comparing listings.
fn payloads(parking: &Parking) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in &parking.items {
        let parked = item.parked().unwrap();
        let ParkedPayload::Json(payload) = &parked.payload else { panic!("parked as {:?}", parked.payload) };
        out.entry(parked.reason.as_str().to_owned()).or_default().push(payload.get().to_owned());
    }
    out
}

#[tokio::test]
async fn parked_items_are_listed_whole_and_a_replay_brings_them_back_through_the_webhook_as_meta_sent_them() {
    let h = Harness::new().await;
    let body = body_with_three_parked_items();
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    assert_eq!(h.handle(post(body, Some(&signature))).await.status(), 200);
    let queue = h.stack.queue("WebhookParkingQueue");

    let listed = parking::read(&h.sqs, queue, Duration::from_mins(1)).await.unwrap();
    let before = payloads(&listed);
    let reasons: Vec<&str> = before.keys().map(String::as_str).collect();
    assert_eq!(reasons, ["malformed_element", "too_large", "unknown_field"]);
    assert_eq!((listed.items.len(), listed.incomplete_parts, listed.unreadable), (3, 0, 0));
    let huge = listed.items.iter().find(|i| i.parked().unwrap().reason.as_str() == "too_large").unwrap();
    assert!(huge.receipts.len() > 1, "the oversized item came in parts and is listed whole");
    let mut text = Vec::new();
    parking::list(&listed, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("3 parked item(s)") && text.contains("field some_future_field"), "{text}");

    // The webhook is down: nothing is deleted.
    let down = broken_webhook().await;
    let refused = parking::replay(&h.sqs, queue, &listed, &down, APP_SECRET, &mut Vec::new()).await.unwrap();
    assert_eq!(refused, Replayed { accepted: 0, refused: 2, skipped: 1 });

    // The webhook is up: the intake takes each replayed body (signature and all) and, this
    // build still not handling them, parks the very same items again — the replay is faithful.
    let webhook = served_intake(&h).await;
    let done = parking::replay(&h.sqs, queue, &listed, &webhook, APP_SECRET, &mut Vec::new()).await.unwrap();
    assert_eq!(done, Replayed { accepted: 2, refused: 0, skipped: 1 });
    let again = parking::read(&h.sqs, queue, Duration::from_mins(1)).await.unwrap();
    let after = payloads(&again);
    assert_eq!(after.get("unknown_field"), before.get("unknown_field"));
    assert_eq!(after.get("malformed_element"), before.get("malformed_element"));
    assert_eq!(after.get("too_large"), None, "still hidden by the first listing: it was never deleted");
}

#[tokio::test]
async fn a_body_parked_whole_is_replayed_byte_for_byte() {
    let h = Harness::new().await;
    let body = b"{\"object\":\"page\",\"entry\":[]}".to_vec();
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    assert_eq!(h.handle(post(body.clone(), Some(&signature))).await.status(), 200);
    let listed = parking::read(&h.sqs, h.stack.queue("WebhookParkingQueue"), Duration::from_mins(1)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let parked = listed.items[0].parked().unwrap();
    assert_eq!(parked.reason.as_str(), "wrong_object");
    assert_eq!(parking::replay_body(&parked).unwrap(), body);
}
