//! The webhooks the simulator posts to the business, signed like Meta's
//! (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body with the app secret>`): the statuses
//! of every accepted message, and what a user "sends" through `POST /_sim/inbound`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use backon::{ExponentialBuilder, Retryable as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::graph::MetaError;
use crate::{Knobs, Shared, SimConfig, SimMessage};

/// The statuses one accepted message will get, and when each is posted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    status: &'static str,
    /// When it happened, after acceptance (the status's `timestamp`).
    happened: Duration,
    /// When it is posted, after acceptance (later than `happened` when reordered).
    posted: Duration,
    /// Posted this many times (2: a duplicate delivery).
    copies: u8,
    error: Option<MetaError>,
}

impl Plan {
    /// Draws the statuses of a message from the knobs: `failed` alone for an undeliverable
    /// recipient; else `sent`, `delivered` and — for `read_rate` of them — `read`; each
    /// posted twice with `duplicate_rate`, the whole sequence posted in reverse order with
    /// `reorder_rate`.
    pub(crate) fn draw(rng: &mut fastrand::Rng, config: &SimConfig, failure: Option<MetaError>) -> Plan {
        let knobs: &Knobs = &config.knobs;
        let delays = &config.status_delays;
        let mut steps = if let Some(error) = failure {
            vec![Step::new("failed", delays.sent, Some(error))]
        } else {
            let mut steps = vec![Step::new("sent", delays.sent, None), Step::new("delivered", delays.delivered, None)];
            if rng.f64() < knobs.read_rate {
                steps.push(Step::new("read", delays.read, None));
            }
            steps
        };
        if rng.f64() < knobs.reorder_rate {
            let times: Vec<Duration> = steps.iter().rev().map(|s| s.happened).collect();
            for (step, posted) in steps.iter_mut().zip(times) {
                step.posted = posted;
            }
        }
        for step in &mut steps {
            if rng.f64() < knobs.duplicate_rate {
                step.copies = 2;
            }
        }
        steps.sort_by_key(|s| s.posted);
        Plan { steps }
    }
}

impl Step {
    fn new(status: &'static str, at: Duration, error: Option<MetaError>) -> Step {
        Step { status, happened: at, posted: at, copies: 1, error }
    }
}

/// One webhook the simulator posted (`GET /_sim/webhooks`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookLog {
    /// `status`, `message` or `user_preferences`.
    pub kind: &'static str,
    /// The wamid it is about (the outbound message's, or the inbound message's).
    pub wamid: String,
    /// The status value, for statuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// The business's answer to the last attempt (`None`: no answer at all).
    pub http_status: Option<u16>,
    pub attempts: u32,
}

/// Posts the planned statuses of `message` in the background (when a webhook is configured).
pub(crate) fn deliver_statuses(shared: &Shared, message: &SimMessage, plan: Plan) {
    if shared.config.webhook.is_none() {
        return;
    }
    let shared = shared.clone();
    let message = message.clone();
    let started = tokio::time::Instant::now();
    tokio::spawn(async move {
        for step in plan.steps {
            tokio::time::sleep_until(started + step.posted).await;
            let body = status_notification(&shared.config, &message, &step);
            for _ in 0..step.copies {
                post(&shared, &body, "status", &message.wamid, Some(step.status)).await;
            }
        }
    });
}

/// `{"object":"whatsapp_business_account","entry":[{"id","changes":[{"field","value"}]}]}`
/// around one change value.
fn envelope(config: &SimConfig, field: &str, mut value: Value) -> Vec<u8> {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": config.display_phone_number, "phone_number_id": config.phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": config.waba_id, "changes": [{"field": field, "value": value}]}]})
    .to_string()
    .into_bytes()
}

fn unix_seconds(t: jiff::Timestamp) -> String {
    t.as_second().to_string()
}

/// A `statuses[]` notification as Meta sends it in 2026: the recipient's phone (`""` when
/// they withhold it) and user id, their `contacts[]` entry (not on `failed`), pricing on
/// `delivered` only (one of delivered/read carries it), errors on `failed`.
fn status_notification(config: &SimConfig, message: &SimMessage, step: &Step) -> Vec<u8> {
    let happened = jiff::SignedDuration::try_from(step.happened).unwrap_or_default();
    let mut status = json!({
        "id": message.wamid,
        "status": step.status,
        "timestamp": unix_seconds(message.accepted_at + happened),
        "recipient_id": message.user.shown_phone(),
        "recipient_user_id": message.user.user_id,
    });
    if let Some(data) = &message.biz_opaque_callback_data {
        status["biz_opaque_callback_data"] = json!(data);
    }
    if step.status == "delivered" {
        status["pricing"] = match &message.template {
            Some(name) => {
                let category = message.category.as_deref().unwrap_or_else(|| config.template_category(name));
                json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": category})
            }
            None => {
                json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
            }
        };
    }
    if let Some(error) = &step.error {
        status["errors"] = json!([{
            "code": error.code,
            "title": error.message,
            "message": error.message,
            "error_data": {"details": error.message},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]);
    }
    if step.error.is_some() {
        return envelope(config, "messages", json!({ "statuses": [status] }));
    }
    let contacts = [message.user.contact("Sim User")];
    envelope(config, "messages", json!({ "contacts": contacts, "statuses": [status] }))
}

/// Posts one signed webhook about `wamid` (a `status` value for statuses), retrying (as Meta
/// does, compressed into seconds) until the business answers 2xx; records the outcome in
/// the log and returns the last answer's HTTP status.
pub(crate) async fn post(
    shared: &Shared,
    body: &[u8],
    kind: &'static str,
    wamid: &str,
    status: Option<&'static str>,
) -> Option<u16> {
    let Some(target) = &shared.config.webhook else { return None };
    let signature = polite_domain::webhook::sign(target.app_secret.as_bytes(), body);
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let attempt = || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = shared
            .client
            .post(&target.url)
            .header("content-type", "application/json")
            .header(polite_domain::webhook::SIGNATURE_HEADER, &signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| (None, e.to_string()))?;
        let status = response.status().as_u16();
        if response.status().is_success() { Ok(status) } else { Err((Some(status), format!("HTTP {status}"))) }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(shared.config.webhook_retries);
    let http_status = match attempt.retry(backoff).await {
        Ok(answer) => Some(answer),
        Err((answer, error)) => {
            tracing::warn!(kind, wamid, error = %error, "webhook not taken");
            answer
        }
    };
    let log = WebhookLog { kind, wamid: wamid.to_owned(), status, http_status, attempts: attempts.into_inner() };
    shared.lock().webhooks.push(log);
    http_status
}

/// `POST /_sim/inbound`: a user "sends" the business a text, taps a quick-reply button, uses
/// WhatsApp's own stop/resume-marketing control, or gets a new business-scoped user id
/// (`"change": "user_id"`: a `user_id_update` webhook), or calls (`"call": true`: a `calls`
/// webhook); or the business writes to the user from the WhatsApp Business app (`"echo":
/// "<text>"`: an `smb_message_echoes` webhook). A text or a tap comes on field
/// `messages`, or on `standby` with `"field": "standby"` (as while Meta's AI agent holds the
/// conversation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inbound {
    /// The user's number, E.164 with or without `+`.
    from: String,
    /// The profile name shown in `contacts[]` (default "Sim User").
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    button: Option<ButtonTap>,
    /// `stop` or `resume`: a `user_preferences` change for marketing messages.
    #[serde(default)]
    preference: Option<String>,
    /// The wamid replied to; for a button, defaults to the last message sent to `from`.
    #[serde(default)]
    context: Option<String>,
    /// `user_id`: WhatsApp regenerates the user's business-scoped user id.
    #[serde(default)]
    change: Option<String>,
    /// The webhook field of a text or a tap: `messages` (default) or `standby`.
    #[serde(default)]
    field: Option<String>,
    /// The user calls the business: a `calls` webhook (`connect`, `USER_INITIATED`).
    #[serde(default)]
    call: bool,
    /// The business writes this text to the user from the WhatsApp Business app (a number
    /// shared with the Cloud API): an `smb_message_echoes` webhook.
    #[serde(default)]
    echo: Option<String>,
}

impl Inbound {
    /// Whether nothing but `from`, `name` and one of the standalone kinds is set.
    fn only_one_kind(&self) -> bool {
        let kinds = [
            self.text.is_some(),
            self.button.is_some(),
            self.preference.is_some(),
            self.change.is_some(),
            self.call,
            self.echo.is_some(),
        ];
        kinds.into_iter().filter(|k| *k).count() <= 1
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ButtonTap {
    /// What the business set on the button when sending (else Meta sends the label).
    #[serde(default)]
    payload: Option<String>,
    /// The button's label, e.g. "Stop promotions".
    text: String,
}

pub(crate) fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": message}}))).into_response()
}

pub(crate) async fn inbound(State(shared): State<Shared>, body: axum::body::Bytes) -> Response {
    let request: Inbound = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("not an inbound request: {e}")),
    };
    let Ok(sender) = polite_domain::WaId::parse(&request.from) else {
        return bad_request("from: not a phone number (send E.164, e.g. +5511987654321)");
    };
    let user = shared.lock().user(&sender);
    // A username user's phone is withheld: `from` is empty, `from_user_id` names them.
    let from = user.shown_phone().to_owned();
    if shared.config.webhook.is_none() {
        let message = "no webhook configured: start the simulator with SIM_WEBHOOK_URL and SIM_APP_SECRET";
        return (StatusCode::CONFLICT, axum::Json(json!({"error": {"message": message}}))).into_response();
    }
    let wamid = shared.lock().next_wamid("SIMIN");
    let now = unix_seconds(shared.config.clock.now());
    let contacts = json!([user.contact(request.name.as_deref().unwrap_or("Sim User"))]);
    let config = &shared.config;
    if let Some(change) = &request.change {
        if change != "user_id" || request.text.is_some() || request.button.is_some() || request.preference.is_some() {
            return bad_request("change: must be \"user_id\", alone");
        }
        let current = format!(
            "{}.{:020}",
            &user.user_id[..2],
            polite_domain::ids::stable_hash(&format!("renamed:{}", user.user_id))
        );
        shared.lock().renamed.insert(user.phone.clone(), current.clone());
        let update = json!({"wa_id": from, "detail": "User's business-scoped user id changed",
            "user_id": {"previous": user.user_id, "current": current}, "timestamp": now});
        let body = envelope(config, "user_id_update", json!({"user_id_update": [update]}));
        return delivered(&shared, &body, "user_id_update", &wamid, json!({"user_id": current})).await;
    }
    if request.call {
        if !request.only_one_kind() || request.field.is_some() {
            return bad_request("call: must be alone");
        }
        let call = json!({"id": wamid.replace("wamid.", "wacid."), "from": from, "from_user_id": user.user_id,
            "to": config.display_phone_number, "event": "connect", "direction": "USER_INITIATED", "timestamp": now,
            "session": {"sdp_type": "offer", "sdp": "v=0"}});
        let body = envelope(config, "calls", json!({"contacts": contacts, "calls": [call]}));
        return delivered(&shared, &body, "call", &wamid, json!({})).await;
    }
    if let Some(text) = &request.echo {
        if !request.only_one_kind() || request.field.is_some() {
            return bad_request("echo: must be alone");
        }
        let echo = json!({"from": config.display_phone_number, "to": from, "to_user_id": user.user_id,
            "id": wamid, "timestamp": now, "type": "text", "text": {"body": text}});
        let body = envelope(config, "smb_message_echoes", json!({"contacts": contacts, "message_echoes": [echo]}));
        return delivered(&shared, &body, "echo", &wamid, json!({})).await;
    }
    let field = match request.field.as_deref() {
        None | Some("messages") => "messages",
        Some("standby") if request.preference.is_none() => "standby",
        Some(_) => return bad_request("field: must be \"messages\" or \"standby\", with a text or a button"),
    };
    let (kind, body) = match (&request.text, &request.button, &request.preference) {
        (Some(text), None, None) => {
            let mut message = json!({"from": from, "from_user_id": user.user_id, "id": wamid, "timestamp": now,
                "type": "text", "text": {"body": text}});
            if let Some(id) = &request.context {
                message["context"] = json!({"from": config.display_phone_number, "id": id});
            }
            ("message", envelope(config, field, json!({"contacts": contacts, "messages": [message]})))
        }
        (None, Some(button), None) => {
            let replied_to = request
                .context
                .clone()
                .or_else(|| shared.lock().accepted.iter().rev().find(|m| m.to == user.phone).map(|m| m.wamid.clone()));
            let Some(replied_to) = replied_to else {
                return bad_request("button: nothing was sent to this number, so there is no button to tap");
            };
            let payload = button.payload.clone().unwrap_or_else(|| button.text.clone());
            let message = json!({"from": from, "from_user_id": user.user_id, "id": wamid, "timestamp": now, "type": "button",
                "button": {"payload": payload, "text": button.text},
                "context": {"from": config.display_phone_number, "id": replied_to}});
            ("message", envelope(config, field, json!({"contacts": contacts, "messages": [message]})))
        }
        (None, None, Some(value)) if value == "stop" || value == "resume" => {
            let detail = format!("User requested to {value} marketing messages");
            let preference = json!({"wa_id": from, "user_id": user.user_id, "detail": detail, "category": "marketing_messages",
                "value": value, "timestamp": config.clock.now().as_second()});
            let value = json!({"contacts": contacts, "user_preferences": [preference]});
            ("user_preferences", envelope(config, "user_preferences", value))
        }
        (None, None, Some(_)) => return bad_request("preference: must be \"stop\" or \"resume\""),
        _ => return bad_request("send exactly one of text, button or preference"),
    };
    delivered(&shared, &body, kind, &wamid, json!({})).await
}

/// Posts an inbound webhook and answers the `/_sim/inbound` call: its wamid and the webhook's
/// status (with `extra` fields), or 502 when the webhook did not take it.
pub(crate) async fn delivered(
    shared: &Shared,
    body: &[u8],
    kind: &'static str,
    wamid: &str,
    mut extra: Value,
) -> Response {
    match post(shared, body, kind, wamid, None).await {
        Some(status) if (200..300).contains(&status) => {
            extra["id"] = json!(wamid);
            extra["webhook_status"] = json!(status);
            (StatusCode::OK, axum::Json(extra)).into_response()
        }
        status => {
            let message = format!("the webhook did not take it (last answer: {status:?})");
            (StatusCode::BAD_GATEWAY, axum::Json(json!({"id": wamid, "error": {"message": message}}))).into_response()
        }
    }
}
