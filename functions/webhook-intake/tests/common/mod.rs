//! What the webhook-intake tests share: the fixtures, an intake wired to a fresh moto stack,
//! and the queues read back.

#![allow(dead_code, reason = "each test binary uses its own part of the helpers")]

use std::path::PathBuf;

use lambda_http::{Body, Request, Response};
use polite_adapters::queue::SqsQueue;
use polite_tests::{Stack, drain};
use webhook_intake::Intake;

/// The secrets the fixtures are signed with (`fixtures/generate.py`).
pub(crate) const APP_SECRET: &str = "polite-local-app-secret";
pub(crate) const VERIFY_TOKEN: &str = "polite-local-verify-token";
pub(crate) const WABA_ID: &str = "900100200300";
pub(crate) const PHONE_NUMBER_ID: &str = "700800900";

pub(crate) fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.json"))
}

/// A fixture as lambda_http hands it to the handler (base64 bodies decoded).
pub(crate) fn fixture(name: &str) -> Request {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("fixture {name} is not an API Gateway event: {e}"))
}

/// Every fixture's name.
pub(crate) fn fixture_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the fixtures directory")
        .filter_map(|e| e.ok()?.path().file_name()?.to_str()?.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A POST of `body` signed with `signature` (a header value; none when `None`).
pub(crate) fn post(body: Vec<u8>, signature: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder().method("POST").uri("/webhook");
    if let Some(signature) = signature {
        builder = builder.header("X-Hub-Signature-256", signature);
    }
    builder.body(Body::Binary(body)).expect("a valid request")
}

/// webhook-intake on a fresh copy of the template's queues.
pub(crate) struct Harness {
    pub(crate) stack: Stack,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) intake: Intake<SqsQueue>,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let stack = Stack::create().await.expect("a moto stack");
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let intake = Intake::with_queues(APP_SECRET, VERIFY_TOKEN, queue);
        Harness { stack, sqs, intake }
    }

    pub(crate) async fn handle(&self, req: Request) -> Response<Body> {
        webhook_intake::handle(&self.intake, req).await
    }

    /// Everything queued since the last call: inbound, status, template and parked bodies.
    pub(crate) async fn queued(&self) -> Queued {
        let read = |id: &'static str| async move { drain(&self.sqs, self.stack.queue(id)).await.expect("drain") };
        Queued {
            inbound: read("InboundEventsQueue").await,
            statuses: read("StatusEventsQueue").await,
            templates: read("TemplateEventsQueue").await,
            parked: read("WebhookParkingQueue").await,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) inbound: Vec<String>,
    pub(crate) statuses: Vec<String>,
    pub(crate) templates: Vec<String>,
    pub(crate) parked: Vec<String>,
}

impl Queued {
    pub(crate) fn is_empty(&self) -> bool {
        self.inbound.is_empty() && self.statuses.is_empty() && self.templates.is_empty() && self.parked.is_empty()
    }
}

pub(crate) fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

pub(crate) fn body_json(response: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref())
        .unwrap_or_else(|e| panic!("the response is not JSON ({e}): {}", body_text(response)))
}
