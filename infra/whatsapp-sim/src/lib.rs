//! A WhatsApp Cloud API simulator (DESIGN.md §10): a real HTTP server that answers polite's
//! Graph API calls the way Meta does, so the functions, the tests and the local stack run with
//! no Meta account.
//!
//! What it does today:
//! - `POST /{version}/{phone_number_id}/messages`: bearer-token check (190), the phone number
//!   id checked (100/33), request validation (100 naming the parameter), templates checked
//!   against an approved list when one is configured (132001), Meta-shaped success bodies and
//!   deterministic per-recipient outcomes ([`outcome_for`]: a number ending `0050` fails with
//!   131050, `0026` with 131026, `0049` with 131049, …);
//! - `GET /_sim/messages`: every message it accepted, oldest first; `POST /_sim/reset` forgets
//!   them;
//! - a configurable answer latency.
//!
//! Status webhooks, inbound messages and error-rate knobs arrive with the dev stack (issue 8).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The business phone number id it serves (`/{version}/{this}/messages`).
    pub phone_number_id: String,
    /// The access token callers must present as `Authorization: Bearer …`.
    pub access_token: String,
    /// When set, only these template names are accepted (others fail with 132001).
    pub approved_templates: Option<Vec<String>>,
    /// Added before every Graph API answer.
    pub latency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            phone_number_id: "106540352242922".into(),
            access_token: "polite-local-access-token".into(),
            approved_templates: None,
            latency: Duration::ZERO,
        }
    }
}

/// A message the simulator accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimMessage {
    pub wamid: String,
    /// The recipient, digits only.
    pub to: String,
    /// `text`, `template`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `text.body`, for text messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `template.name`, for templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// `context.message_id`: the message this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub accepted_at: jiff::Timestamp,
    /// The whole request body as received.
    pub request: Value,
}

/// The simulator's state, shared by its handlers and by tests.
#[derive(Debug, Default)]
struct Inner {
    accepted: Vec<SimMessage>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct Shared {
    config: Arc<SimConfig>,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A handler that panicked mid-update cannot leave the list half-written (each update
        // is one push), so the data is still good.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free one) and serves in the background.
    ///
    /// # Errors
    /// When the address cannot be bound (e.g. the port is taken).
    pub async fn start(config: SimConfig, addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another simulator running?)"))?;
        let addr = listener.local_addr()?;
        let shared = Shared { config: Arc::new(config), inner: Arc::default() };
        let app = router(shared.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(Simulator { addr, shared, shutdown: Some(shutdown), task })
    }

    /// `http://127.0.0.1:PORT` — the Graph API base URL to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far, oldest first.
    pub fn accepted(&self) -> Vec<SimMessage> {
        self.shared.lock().accepted.clone()
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send_message))
        .route("/_sim/messages", get(list_messages))
        .route("/_sim/reset", post(reset))
        .with_state(shared)
}

/// What Meta would do with a message to `to` (digits only), decided by its last four digits
/// so tests and the demo can pick an outcome by choosing a number.
pub fn outcome_for(to: &str) -> Option<MetaError> {
    let suffix = to.get(to.len().saturating_sub(4)..).unwrap_or_default();
    let error = match suffix {
        "0050" => MetaError::new(
            131_050,
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        ),
        "0026" => MetaError::new(131_026, "Message Undeliverable."),
        "0049" => MetaError::new(131_049, "This message was not delivered to maintain healthy ecosystem engagement."),
        "0047" => MetaError::new(
            131_047,
            "Re-engagement message: more than 24 hours have passed since the recipient last replied.",
        ),
        "0056" => MetaError::new(131_056, "(Business Account, Consumer Account) pair rate limit hit"),
        "0429" => MetaError::new(130_429, "Rate limit hit").status(StatusCode::TOO_MANY_REQUESTS),
        "0500" => MetaError::new(131_000, "Something went wrong").status(StatusCode::INTERNAL_SERVER_ERROR),
        _ => return None,
    };
    Some(error)
}

/// An error answered in Meta's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub http_status: StatusCode,
}

impl MetaError {
    fn new(code: i64, message: &str) -> Self {
        MetaError { code, subcode: None, message: message.to_owned(), http_status: StatusCode::BAD_REQUEST }
    }

    fn status(mut self, http_status: StatusCode) -> Self {
        self.http_status = http_status;
        self
    }

    fn invalid(parameter: &str, what: &str) -> Self {
        MetaError::new(100, &format!("(#100) The parameter {parameter} {what}."))
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        // Meta labels Cloud API errors "OAuthException" whatever their cause.
        let mut error = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.message},
            "fbtrace_id": "AsimPoliteTrace",
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        (self.http_status, axum::Json(json!({ "error": error }))).into_response()
    }
}

async fn send_message(
    State(shared): State<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tokio::time::sleep(shared.config.latency).await;
    match accept(&shared, &phone_number_id, &headers, &body) {
        Ok(message) => {
            let answer = json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": message.request["to"], "wa_id": message.to}],
                "messages": [{"id": message.wamid}],
            });
            tracing::info!(wamid = %message.wamid, kind = %message.kind, "accepted");
            shared.lock().accepted.push(message);
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(error) => {
            tracing::info!(code = error.code, "refused");
            error.into_response()
        }
    }
}

/// Checks a send request the way the Graph API does, in its order: token, sender, body,
/// recipient.
fn accept(shared: &Shared, phone_number_id: &str, headers: &HeaderMap, body: &[u8]) -> Result<SimMessage, MetaError> {
    let config = &shared.config;
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(config.access_token.as_str()) {
        return Err(MetaError::new(190, "Invalid OAuth access token - Cannot parse access token")
            .status(StatusCode::UNAUTHORIZED));
    }
    if phone_number_id != config.phone_number_id {
        let mut error = MetaError::new(
            100,
            &format!(
                "Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
        );
        error.subcode = Some(33);
        return Err(error);
    }
    let request: Value =
        serde_json::from_slice(body).map_err(|_| MetaError::new(100, "(#100) The request body is not valid JSON."))?;
    if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err(MetaError::invalid("messaging_product", "is required and must be \"whatsapp\""));
    }
    let to_input = request.get("to").and_then(Value::as_str).ok_or_else(|| MetaError::invalid("to", "is required"))?;
    let to: String = to_input.chars().filter(char::is_ascii_digit).collect();
    if polite_domain::WaId::parse(to_input).is_err() {
        return Err(MetaError::new(131_009, "(#131009) Parameter value is not valid: to is not a valid phone number"));
    }
    let kind = request.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
    let (text, template) = match kind.as_str() {
        "text" => {
            let body = request.pointer("/text/body").and_then(Value::as_str).unwrap_or_default();
            if body.trim().is_empty() {
                return Err(MetaError::invalid("text['body']", "is required"));
            }
            if body.chars().count() > 4096 {
                return Err(MetaError::new(100, "(#100) Param text['body'] must be at most 4096 characters long."));
            }
            (Some(body.to_owned()), None)
        }
        "template" => {
            let name = request.pointer("/template/name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                return Err(MetaError::invalid("template['name']", "is required"));
            }
            if request.pointer("/template/language/code").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(MetaError::invalid("template['language']['code']", "is required"));
            }
            if let Some(approved) = &config.approved_templates
                && !approved.iter().any(|a| a == name)
            {
                return Err(MetaError::new(132_001, "Template name does not exist in the translation"));
            }
            (None, Some(name.to_owned()))
        }
        other => {
            return Err(MetaError::new(
                100,
                &format!("(#100) Param type must be one of {{text, template}} in this simulator; got '{other}'."),
            ));
        }
    };
    if let Some(error) = outcome_for(&to) {
        return Err(error);
    }
    let wamid = {
        let mut inner = shared.lock();
        inner.next_id += 1;
        format!("wamid.SIM{:016X}", inner.next_id)
    };
    Ok(SimMessage {
        wamid,
        to,
        kind,
        text,
        template,
        biz_opaque_callback_data: request.get("biz_opaque_callback_data").and_then(Value::as_str).map(str::to_owned),
        reply_to: request.pointer("/context/message_id").and_then(Value::as_str).map(str::to_owned),
        accepted_at: jiff::Timestamp::now(),
        request,
    })
}

async fn list_messages(State(shared): State<Shared>) -> Response {
    let messages = shared.lock().accepted.clone();
    axum::Json(json!({ "messages": messages })).into_response()
}

async fn reset(State(shared): State<Shared>) -> StatusCode {
    shared.lock().accepted.clear();
    StatusCode::NO_CONTENT
}
