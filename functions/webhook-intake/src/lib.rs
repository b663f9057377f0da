//! webhook-intake: the function WhatsApp calls.
//!
//! `GET /webhook` answers Meta's subscription handshake. `POST /webhook` checks the size and
//! `X-Hub-Signature-256` over the raw bytes, splits the notification into its updates
//! ([`polite_domain::webhook::route`]) and queues every one — statuses on status-events,
//! messages, `user_preferences`, calls, echoes and value-level errors on inbound-events,
//! template changes on template-events, whatever cannot be routed on the parking queue —
//! before answering 200. If any of it cannot be queued the answer
//! is 500 and Meta retries the whole POST (for up to 7 days); consumers are idempotent, so the
//! part that did get queued twice is harmless. Nothing is lost either way.

pub mod config;
pub mod invariants;

use jiff::Timestamp;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt as _, Response};
use polite_adapters::http::ApiError;
use polite_adapters::telemetry::{counter, histogram};
use polite_app::intake::{Queues, queue};
use polite_domain::ports::EventQueue;
use polite_domain::webhook::{self, EventType, IgnoreReason, Routed, SignatureError};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "webhook-intake";

/// What the handler needs: the two secrets and the four queues.
#[derive(Debug)]
pub struct Intake<Q> {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub queues: Queues<Q>,
}

impl<Q> Intake<Q> {
    /// An intake whose four queues `queue` opens by their logical ids in `template.yaml`
    /// (`InboundEventsQueue`, `StatusEventsQueue`, `TemplateEventsQueue`,
    /// `WebhookParkingQueue`) — how the tests and the local tools wire it.
    pub fn with_queues(app_secret: &str, verify_token: &str, queue: impl Fn(&'static str) -> Q) -> Self {
        Intake { app_secret: app_secret.into(), verify_token: verify_token.into(), queues: Queues::open(queue) }
    }
}

/// `POST /webhook` with `body` signed as Meta signs it with `app_secret` — what the tests of
/// the consumers and the local tools post.
///
/// # Errors
/// Never in practice (fixed method, path and a hex header); the builder's error otherwise.
pub fn signed_request(app_secret: &str, body: Vec<u8>) -> Result<Request, lambda_http::http::Error> {
    let signature = webhook::sign(app_secret.as_bytes(), &body);
    lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri("/webhook")
        .header(webhook::SIGNATURE_HEADER, signature)
        .body(Body::Binary(body))
}

/// Handles one API Gateway (HTTP API, payload 2.0) request. Every outcome is a response; the
/// handler never fails the invocation (a failed invocation would be a 502 to Meta, with no
/// body saying why).
pub async fn handle<Q: EventQueue + Sync>(intake: &Intake<Q>, req: Request) -> Response<Body> {
    match *req.method() {
        Method::GET => handshake(intake, &req),
        Method::POST => receive(intake, &req, polite_adapters::clock::now()).await,
        ref other => reject("method", ApiError::method_not_allowed(other.as_str(), req.uri().path())).into_response(),
    }
}

/// `GET /webhook?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C` → 200 `C` as text
/// when the mode is `subscribe` and `T` is the configured token; 403 otherwise; 400 when a
/// parameter is missing.
fn handshake<Q>(intake: &Intake<Q>, req: &Request) -> Response<Body> {
    let query = req.query_string_parameters_ref();
    let param = |name: &str| query.and_then(|q| q.first(name));
    let missing: Vec<&str> =
        ["hub.mode", "hub.verify_token", "hub.challenge"].into_iter().filter(|p| param(p).is_none()).collect();
    let (Some(mode), Some(token), Some(challenge)) =
        (param("hub.mode"), param("hub.verify_token"), param("hub.challenge"))
    else {
        let message = format!("The handshake needs the query parameters {}.", missing.join(", "));
        return reject("handshake_missing_parameter", error(StatusCode::BAD_REQUEST, "missing_parameter", message))
            .into_response();
    };
    if mode != "subscribe" || !same_secret(token, intake.verify_token.expose_secret()) {
        let message = "hub.mode must be 'subscribe' and hub.verify_token must match the configured token.";
        return reject("handshake_refused", error(StatusCode::FORBIDDEN, "forbidden", message.into())).into_response();
    }
    tracing::info!("webhook handshake accepted");
    let mut response = Response::new(Body::Text(challenge.to_owned()));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

/// Compares two secrets in constant time. Hashing first makes the comparison independent of
/// the lengths too, so not even the token's length leaks.
fn same_secret(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

/// `POST /webhook`.
async fn receive<Q: EventQueue + Sync>(intake: &Intake<Q>, req: &Request, received_at: Timestamp) -> Response<Body> {
    let started = std::time::Instant::now();
    // lambda_http has already decoded a base64 body (`isBase64Encoded`): these are the bytes
    // Meta signed.
    let body: &[u8] = req.body().as_ref();
    if body.len() > webhook::MAX_BODY_BYTES {
        let message = format!("The body is {} bytes; WhatsApp sends at most {}.", body.len(), webhook::MAX_BODY_BYTES);
        return reject("too_large", error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)).into_response();
    }
    // A header that is not visible ASCII cannot be a valid signature; it is refused as malformed.
    let signature = req.headers().get(webhook::SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or(""));
    if let Err(e) = webhook::verify_signature(intake.app_secret.expose_secret().as_bytes(), body, signature) {
        let reason = match e {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Mismatch => "signature_mismatch",
        };
        return reject(reason, error(StatusCode::UNAUTHORIZED, "invalid_signature", format!("{e}."))).into_response();
    }

    let routed = webhook::route(body, received_at);
    let request_id =
        req.lambda_context_ref().map_or_else(|| received_at.as_millisecond().to_string(), |c| c.request_id.clone());
    // Boxed: three concurrent SDK calls make a ~32 KB future, kept off the caller's stack.
    match Box::pin(queue(&intake.queues, &routed, &request_id)).await {
        Ok(()) => {
            record(&routed, started.elapsed());
            let answer = format!(
                r#"{{"events":{},"ignored":{},"parked":{}}}"#,
                routed.event_count(),
                routed.ignored.len(),
                routed.parked.len()
            );
            let mut response = Response::new(Body::Text(answer));
            response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            counter!("WebhookQueueFailures").increment(1);
            // 500 makes Meta retry the whole POST later; the generic body says nothing more.
            ApiError::internal(&e).into_response()
        }
    }
}

/// Counts what was queued and parked (labels are kinds and reasons, never identities).
fn record(routed: &Routed<'_>, elapsed: std::time::Duration) {
    // One counter update per type, not per event: a status POST may carry a thousand.
    let mut by_type: Vec<(EventType, u64)> = Vec::with_capacity(4);
    if !routed.templates.is_empty() {
        counter!("WebhookEvents", "type" => EventType::Template.as_str()).increment(routed.templates.len() as u64);
    }
    for event in routed.statuses.iter().chain(&routed.inbound) {
        match by_type.iter_mut().find(|(kind, _)| *kind == event.kind) {
            Some((_, n)) => *n += 1,
            None => by_type.push((event.kind, 1)),
        }
    }
    for (kind, n) in by_type {
        counter!("WebhookEvents", "type" => kind.as_str()).increment(n);
    }
    for change in &routed.ignored {
        counter!("WebhookIgnored", "reason" => change.reason.as_str()).increment(1);
        if change.reason == IgnoreReason::AccountSignal {
            // Limits, restrictions and quality: labels are Meta's field and event names.
            let event = change.event.as_deref().unwrap_or_default();
            counter!("WebhookAccountSignals", "field" => change.field.to_string(), "event" => event.to_owned())
                .increment(1);
            tracing::warn!(field = %change.field, event, "account signal from Meta: see the README's pacing section");
        } else {
            tracing::info!(field = %change.field, reason = change.reason.as_str(), "webhook change ignored by name");
        }
    }
    for item in &routed.parked {
        counter!("WebhookParked", "reason" => item.reason.as_str()).increment(1);
        tracing::warn!(reason = %item.reason, field = item.field.as_deref(), "webhook content parked");
    }
    #[allow(clippy::cast_precision_loss, reason = "a count of at most a few thousand")]
    histogram!("WebhookEventsPerPost").record(routed.event_count() as f64);
    tracing::info!(
        statuses = routed.statuses.len(),
        inbound = routed.inbound.len(),
        templates = routed.templates.len(),
        ignored = routed.ignored.len(),
        parked = routed.parked.len(),
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "webhook queued"
    );
}

fn error(status: StatusCode, code: &'static str, message: String) -> ApiError {
    ApiError { status, code, message }
}

/// Logs and counts a refused request, passing the answer through.
fn reject(reason: &'static str, answer: ApiError) -> ApiError {
    counter!("WebhookRejected", "reason" => reason).increment(1);
    tracing::warn!(reason, status = answer.status.as_u16(), "webhook request refused");
    answer
}
