//! webhook-intake beyond the fixtures: tampering, size, queue failures, oversized parking,
//! and configuration from SSM — all against moto.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use common::{APP_SECRET, Harness, body_json, fixture, post};
use polite_adapters::config::Env;
use polite_adapters::queue::SqsQueue;
use polite_app::intake::{PARK_PART_BYTES, Queues};
use polite_domain::envelope::ParkedPart;
use polite_domain::envelope::{self, kinds};
use polite_domain::webhook::{self, MAX_BODY_BYTES, Parked, ParkedPayload};
use secrecy::ExposeSecret as _;
use webhook_intake::{Config, Intake};

fn signed_text_body() -> Vec<u8> {
    fixture("text").body().as_ref().to_vec()
}

#[tokio::test]
async fn a_tampered_byte_anywhere_in_a_signed_body_is_refused() {
    let h = Harness::new().await;
    let body = signed_text_body();
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    assert_eq!(h.handle(post(body.clone(), Some(&signature))).await.status(), 200, "the untouched body");
    h.queued().await;

    for i in 0..body.len() {
        for flip in [0x01u8, 0x80] {
            let mut tampered = body.clone();
            tampered[i] ^= flip;
            let response = h.handle(post(tampered, Some(&signature))).await;
            assert_eq!(response.status(), 401, "byte {i} ^ {flip:#04x} was accepted");
        }
    }
    // A byte added or removed at either end.
    let mut longer = body.clone();
    longer.push(b' ');
    let shorter = body[1..].to_vec();
    for changed in [longer, shorter] {
        assert_eq!(h.handle(post(changed, Some(&signature))).await.status(), 401);
    }
    assert!(h.queued().await.is_empty(), "a refused body queued something");
}

#[tokio::test]
async fn a_tampered_signature_header_is_refused_without_panicking() {
    let h = Harness::new().await;
    let body = signed_text_body();
    let good = webhook::sign(APP_SECRET.as_bytes(), &body);
    let hex = good.strip_prefix("sha256=").unwrap();
    let mut headers = vec![
        String::new(),
        hex.to_owned(),
        format!("sha1={hex}"),
        format!("sha256={}", &hex[..63]),
        format!("sha256={hex}0"),
        format!("sha256={}", "zz".repeat(32)),
    ];
    for i in 0..hex.len() {
        let mut chars: Vec<char> = hex.chars().collect();
        chars[i] = if chars[i] == '0' { '1' } else { '0' };
        headers.push(format!("sha256={}", chars.into_iter().collect::<String>()));
    }
    for header in headers {
        let response = h.handle(post(body.clone(), Some(&header))).await;
        assert_eq!(response.status(), 401, "{header:?}");
    }
    // Upper-case hex is the same signature.
    let response = h.handle(post(body, Some(&format!("sha256={}", hex.to_uppercase())))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_body_over_3_mb_is_refused_with_413_before_anything_else() {
    let h = Harness::new().await;
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    let response = h.handle(post(body, Some(&signature))).await;
    assert_eq!(response.status(), 413);
    assert_eq!(body_json(&response)["error"]["code"], "payload_too_large");
    assert!(h.queued().await.is_empty());
}

#[tokio::test]
async fn other_methods_are_refused_with_405() {
    let h = Harness::new().await;
    let req =
        lambda_http::http::Request::builder().method("PUT").uri("/webhook").body(lambda_http::Body::Empty).unwrap();
    let response = h.handle(req).await;
    assert_eq!(response.status(), 405);
    assert_eq!(body_json(&response)["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn when_a_queue_fails_the_answer_is_500_and_metas_retry_delivers_everything() {
    let h = Harness::new().await;
    let broken = Intake {
        app_secret: APP_SECRET.into(),
        verify_token: "unused".into(),
        queues: Queues {
            inbound: SqsQueue::new(h.sqs.clone(), format!("{}-gone", h.stack.queue("InboundEventsQueue"))),
            ..h.intake.queues.clone()
        },
    };
    let batch = fixture("batch_three_entries");
    let (parts, body) = batch.into_parts();
    let body = body.as_ref().to_vec();
    let retry = lambda_http::http::Request::from_parts(parts.clone(), lambda_http::Body::Binary(body.clone()));
    let first = lambda_http::http::Request::from_parts(parts, lambda_http::Body::Binary(body));

    let response = webhook_intake::handle(&broken, first).await;
    assert_eq!(response.status(), 500);
    // The generic body says nothing about queues or AWS.
    let answer = body_json(&response);
    assert_eq!(answer["error"]["code"], "internal_error");
    assert!(!answer.to_string().contains("Queue"), "{answer}");
    let after_failure = h.queued().await;
    assert!(after_failure.inbound.is_empty());

    // Meta retries; this time every queue works. The status queued by the failed attempt is
    // queued again (consumers deduplicate by wamid and status).
    assert_eq!(h.handle(retry).await.status(), 200);
    let after_retry = h.queued().await;
    assert_eq!(after_retry.inbound.len(), 2);
    assert_eq!(after_retry.statuses.len(), 1);
    assert_eq!(after_failure.statuses.len(), 1);
    assert_eq!(strip_received(&after_failure.statuses[0]), strip_received(&after_retry.statuses[0]));
}

/// The event without its `received_at` (which differs between attempts).
fn strip_received(text: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
    value["body"].as_object_mut().unwrap().remove("received_at");
    value.to_string()
}

#[tokio::test]
async fn a_signed_body_too_large_for_one_sqs_message_is_parked_in_parts_that_rebuild_it() {
    let h = Harness::new().await;
    // 1 MB that is not JSON, with multi-byte characters so parts must not cut one in half.
    let body: Vec<u8> = "é não 🙏 ".repeat(1024 * 1024 / 16).into_bytes();
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    let response = h.handle(post(body.clone(), Some(&signature))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["parked"], 1);

    let queued = h.queued().await;
    let mut parts: Vec<ParkedPart<'_>> =
        queued.parked.iter().map(|text| envelope::decode(kinds::PARKED_WEBHOOK_PART, text).unwrap()).collect();
    assert!(parts.len() >= 5, "{} parts", parts.len());
    assert!(queued.parked.iter().all(|text| text.len() <= 256 * 1024), "a part over SQS's limit");
    parts.sort_by_key(|p| p.part);
    assert!(parts.iter().all(|p| p.parts == parts.len() && p.parking_id == parts[0].parking_id));
    assert!(parts.iter().all(|p| p.text.len() <= PARK_PART_BYTES));
    let whole: String = parts.iter().map(|p| p.text.as_ref()).collect();
    let item: Parked<'_> = serde_json::from_str(&whole).unwrap();
    let ParkedPayload::Text(text) = item.payload else { panic!("parked as {:?}", item.payload) };
    assert_eq!(text.as_bytes(), body, "the rebuilt payload is not the body received");
}

#[tokio::test]
async fn one_element_too_large_for_sqs_is_parked_whole_and_the_rest_of_the_post_is_queued() {
    let h = Harness::new().await;
    // A 300 KiB text message (over SQS's 256 KiB) beside an ordinary status.
    let huge = "a".repeat(300 * 1024);
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700800900"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
            "messages": [{"from": "5511987654321", "id": "wamid.HUGE", "timestamp": "1795435201", "type": "text",
                "text": {"body": huge}}],
            "statuses": [{"id": "wamid.S", "status": "delivered", "timestamp": "1795435201", "recipient_id": "5511987654321"}]}}]}]})
    .to_string()
    .into_bytes();
    let signature = webhook::sign(APP_SECRET.as_bytes(), &body);
    let response = h.handle(post(body, Some(&signature))).await;
    assert_eq!(response.status(), 200, "Meta must not retry it for 7 days");

    let queued = h.queued().await;
    assert_eq!(queued.statuses.len(), 1, "the rest of the POST is queued");
    assert!(queued.inbound.is_empty());
    let mut parts: Vec<ParkedPart<'_>> =
        queued.parked.iter().map(|text| envelope::decode(kinds::PARKED_WEBHOOK_PART, text).unwrap()).collect();
    parts.sort_by_key(|p| p.part);
    let whole: String = parts.iter().map(|p| p.text.as_ref()).collect();
    let item: Parked<'_> = serde_json::from_str(&whole).unwrap();
    assert_eq!(item.reason.as_str(), "too_large");
    let ParkedPayload::Json(event) = item.payload else { panic!("parked as {:?}", item.payload) };
    let event: serde_json::Value = serde_json::from_str(event.get()).unwrap();
    assert_eq!(event["data"]["text"]["body"].as_str().map(str::len), Some(300 * 1024), "kept whole");
}

#[tokio::test]
async fn secrets_come_from_ssm_securestrings_when_named_there() {
    let h = Harness::new().await;
    let ssm = aws_sdk_ssm::Client::new(&h.stack.sdk);
    let name = |s: &str| format!("/{}/whatsapp/{s}", h.stack.prefix);
    for (param, value) in [("app-secret", "from-ssm-secret"), ("verify-token", "from-ssm-token")] {
        ssm.put_parameter()
            .name(name(param))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let vars = [
        ("INBOUND_EVENTS_QUEUE_URL", h.stack.queue("InboundEventsQueue").to_owned()),
        ("STATUS_EVENTS_QUEUE_URL", h.stack.queue("StatusEventsQueue").to_owned()),
        ("TEMPLATE_EVENTS_QUEUE_URL", h.stack.queue("TemplateEventsQueue").to_owned()),
        ("WEBHOOK_PARKING_QUEUE_URL", h.stack.queue("WebhookParkingQueue").to_owned()),
        ("WHATSAPP_APP_SECRET_PARAM", name("app-secret")),
        ("WHATSAPP_VERIFY_TOKEN_PARAM", name("verify-token")),
        // The plain variable is ignored when the parameter is named.
        ("WHATSAPP_APP_SECRET", "plain".to_owned()),
    ];
    let env = Env::from_lookup(|key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
    let config = Config::load(env, &h.stack.sdk).await.unwrap();
    assert_eq!(config.app_secret.expose_secret(), "from-ssm-secret");
    assert_eq!(config.verify_token.expose_secret(), "from-ssm-token");
    assert!(!format!("{config:?}").contains("from-ssm"), "a secret in Debug output");
}

#[tokio::test]
async fn configuration_problems_are_reported_all_at_once() {
    let h = Harness::new().await;
    let vars = [
        ("STATUS_EVENTS_QUEUE_URL", h.stack.queue("StatusEventsQueue").to_owned()),
        ("TEMPLATE_EVENTS_QUEUE_URL", h.stack.queue("TemplateEventsQueue").to_owned()),
        ("WHATSAPP_VERIFY_TOKEN_PARAM", format!("/{}/no-such-parameter", h.stack.prefix)),
    ];
    let env = Env::from_lookup(|key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
    let problems = Config::load(env, &h.stack.sdk).await.unwrap_err().problems.join("\n");
    for needle in ["INBOUND_EVENTS_QUEUE_URL", "WEBHOOK_PARKING_QUEUE_URL", "WHATSAPP_APP_SECRET", "no-such-parameter"]
    {
        assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
    }
}
