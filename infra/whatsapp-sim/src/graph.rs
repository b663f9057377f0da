//! The Graph API send endpoint: `POST /{version}/{phone_number_id}/messages`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::webhooks::{self, Plan};
use crate::{FailureReport, Shared, SimMessage, SimUser};
use polite_domain::whatsapp::{Endpoint, MARKETING_API_NOT_AVAILABLE, MARKETING_OFF_ON_CLOUD_API};

/// What Meta does with a message to a number, by the number's last four digits, so tests and
/// the demo pick an outcome by choosing a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request itself is refused (throughput, pair rate, server error): always in the
    /// answer to the send.
    Refused(MetaError),
    /// Meta accepts the message but cannot deliver it: in the answer or as a `failed` status
    /// webhook, as [`FailureReport`] says.
    Undelivered(MetaError),
}

/// The ending of recipients whose accepted message is answered 504 (see [`outcome_for`]).
pub(crate) const ANSWER_LOST_ENDING: &str = "0504";

/// The outcome for a recipient (digits only); `None`: accepted, then sent, delivered, read.
///
/// | ending | code |
/// |---|---|
/// | `0050` | 131050 user stopped marketing messages |
/// | `0026` | 131026 undeliverable |
/// | `0049` | 131049 per-user marketing limit |
/// | `0047` | 131047 more than 24 h since the user's last message |
/// | `0056` | 131056 pair rate limit (refused) |
/// | `0429` | 130429 throughput limit, HTTP 429 (refused) |
/// | `0500` | 131000 something went wrong, HTTP 500 (refused) |
///
/// And a recipient ending `0504` is accepted (statuses follow) but answered with a gateway's
/// 504 page: the caller cannot tell that Meta took it (an unknown outcome).
pub fn outcome_for(to: &str) -> Option<Outcome> {
    let suffix = to.get(to.len().saturating_sub(4)..).unwrap_or_default();
    let outcome = match suffix {
        "0050" => Outcome::Undelivered(MetaError::new(
            131_050,
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        )),
        "0026" => Outcome::Undelivered(MetaError::new(131_026, "Message Undeliverable.")),
        "0049" => Outcome::Undelivered(MetaError::new(
            131_049,
            "This message was not delivered to maintain healthy ecosystem engagement.",
        )),
        "0047" => Outcome::Undelivered(MetaError::new(
            131_047,
            "Re-engagement message: more than 24 hours have passed since the recipient last replied.",
        )),
        "0056" => Outcome::Refused(MetaError::new(131_056, "(Business Account, Consumer Account) pair rate limit hit")),
        "0429" => Outcome::Refused(throttled()),
        "0500" => Outcome::Refused(server_error()),
        _ => return None,
    };
    Some(outcome)
}

fn throttled() -> MetaError {
    MetaError::new(130_429, "(#130429) Rate limit hit").status(StatusCode::TOO_MANY_REQUESTS)
}

fn server_error() -> MetaError {
    MetaError::new(131_000, "Something went wrong").status(StatusCode::INTERNAL_SERVER_ERROR)
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
    pub(crate) fn new(code: i64, message: &str) -> Self {
        MetaError { code, subcode: None, message: message.to_owned(), http_status: StatusCode::BAD_REQUEST }
    }

    pub(crate) fn status(mut self, http_status: StatusCode) -> Self {
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

/// What the random knobs drew for one send (in request order, from the seeded generator).
#[derive(Debug, Clone, Copy, Default)]
struct Draw {
    throttled: bool,
    server_error: bool,
    /// How an accepted send is answered.
    answer: Answer,
}

/// How the simulator answers a send it accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Answer {
    /// At once, with the wamid.
    #[default]
    OnTime,
    /// Only after the timeout knob (the caller's outcome is unknown).
    Late,
    /// 200 with an empty body.
    Empty,
    /// 504 with a gateway's HTML page.
    GatewayTimeout,
}

pub(crate) async fn send_message(
    State(shared): State<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_on(shared, Endpoint::Messages, &phone_number_id, &headers, &body).await
}

/// `POST /{version}/{phone_number_id}/marketing_messages`: the Marketing Messages API — the
/// same body as `/messages`, MARKETING templates only.
pub(crate) async fn send_marketing_message(
    State(shared): State<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_on(shared, Endpoint::MarketingMessages, &phone_number_id, &headers, &body).await
}

async fn send_on(
    shared: Shared,
    endpoint: Endpoint,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    tokio::time::sleep(shared.config.latency).await;
    let draw = {
        let knobs = &shared.config.knobs;
        let mut inner = shared.lock();
        let throttled = inner.rng.f64() < knobs.throttle_rate;
        let server_error = inner.rng.f64() < knobs.server_error_rate;
        let late = inner.rng.f64() < knobs.timeout_rate;
        // Drawn only when asked for, so seeds chosen before these knobs existed keep their
        // sequences.
        let empty = knobs.empty_answer_rate > 0.0 && inner.rng.f64() < knobs.empty_answer_rate;
        let gateway = knobs.gateway_timeout_rate > 0.0 && inner.rng.f64() < knobs.gateway_timeout_rate;
        let answer = match (late, empty, gateway) {
            (true, _, _) => Answer::Late,
            (_, true, _) => Answer::Empty,
            (_, _, true) => Answer::GatewayTimeout,
            _ => Answer::OnTime,
        };
        Draw { throttled, server_error, answer }
    };
    match accept(&shared, (endpoint, phone_number_id), headers, body, draw) {
        Ok((message, plan)) => {
            let contact = match &message.recipient {
                Some(recipient) => json!({"input": recipient, "user_id": message.user.user_id}),
                None => json!({"input": message.request["to"], "wa_id": message.to, "user_id": message.user.user_id}),
            };
            let answer = json!({
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": message.wamid}],
            });
            tracing::info!(wamid = %message.wamid, kind = %message.kind, "accepted");
            let answer_lost = message.to.ends_with(ANSWER_LOST_ENDING);
            webhooks::deliver_statuses(&shared, &message, plan);
            shared.lock().accepted.push(message);
            match if answer_lost { Answer::GatewayTimeout } else { draw.answer } {
                Answer::OnTime => {}
                // Accepted, but the answer comes too late for the caller: an unknown outcome.
                Answer::Late => tokio::time::sleep(shared.config.knobs.timeout).await,
                // Accepted, but the body was lost on the way: an unknown outcome.
                Answer::Empty => return StatusCode::OK.into_response(),
                Answer::GatewayTimeout => {
                    let page = "<html><body><h1>504 Gateway Time-out</h1></body></html>";
                    return (StatusCode::GATEWAY_TIMEOUT, [(header::CONTENT_TYPE, "text/html")], page).into_response();
                }
            }
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(error) => {
            tracing::info!(code = error.code, "refused");
            error.into_response()
        }
    }
}

/// What each endpoint takes: the Marketing Messages API only MARKETING templates; `/messages`
/// no marketing template when the account turned them off there (131063).
fn check_endpoint(config: &crate::SimConfig, endpoint: Endpoint, category: Option<&str>) -> Result<(), MetaError> {
    match (endpoint, category) {
        (Endpoint::MarketingMessages, None) => {
            Err(MetaError::new(100, "(#100) Invalid parameter: Message must be a template message."))
        }
        (Endpoint::MarketingMessages, Some(c)) if c != "marketing" => {
            Err(MetaError::new(MARKETING_API_NOT_AVAILABLE, "(#131055) Method not allowed"))
        }
        (Endpoint::Messages, Some("marketing")) if config.marketing_off_on_messages => Err(MetaError::new(
            MARKETING_OFF_ON_CLOUD_API,
            "(#131063) Marketing template messages are not available on Cloud API for this account; use the Marketing Messages API.",
        )),
        _ => Ok(()),
    }
}

/// A template send's checks, in Meta's order: a name and a language code, an approved name
/// (when a list is configured), a template that is not paused or disabled, and no
/// authentication template to a business-scoped user id. Returns the name.
fn check_template(shared: &Shared, request: &Value, to_user_id: bool) -> Result<String, MetaError> {
    let name = request.pointer("/template/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(MetaError::invalid("template['name']", "is required"));
    }
    let language = request.pointer("/template/language/code").and_then(Value::as_str).unwrap_or_default();
    if language.is_empty() {
        return Err(MetaError::invalid("template['language']['code']", "is required"));
    }
    if let Some(approved) = &shared.config.approved_templates
        && !approved.iter().any(|a| a == name)
    {
        return Err(MetaError::new(132_001, "Template name does not exist in the translation"));
    }
    if let Some(refusal) = crate::templates::refusal(shared, name, language, request) {
        return Err(refusal);
    }
    if to_user_id && shared.template_category(name, language) == "authentication" {
        return Err(MetaError::new(
            131_062,
            "(#131062) Authentication templates cannot be sent to a business-scoped user id.",
        ));
    }
    Ok(name.to_owned())
}

/// Checks a send request the way the Graph API does, in its order: token, sender, body,
/// throughput, recipient. Returns the accepted message and the statuses it will get.
fn accept(
    shared: &Shared,
    (endpoint, phone_number_id): (Endpoint, &str),
    headers: &HeaderMap,
    body: &[u8],
    draw: Draw,
) -> Result<(SimMessage, Plan), MetaError> {
    let config = &shared.config;
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let expected = shared.lock().access_token.clone();
    if token != Some(expected.as_str()) {
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
    if endpoint == Endpoint::MarketingMessages && !config.marketing_terms_accepted {
        return Err(MetaError::new(
            MARKETING_API_NOT_AVAILABLE,
            "(#200) You must accept the Marketing Messages API terms to use the API.",
        ));
    }
    let request: Value =
        serde_json::from_slice(body).map_err(|_| MetaError::new(100, "(#100) The request body is not valid JSON."))?;
    if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err(MetaError::invalid("messaging_product", "is required and must be \"whatsapp\""));
    }
    let (user, recipient) = recipient_of(shared, &request)?;
    let to = user.phone.clone();
    let kind = request.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
    let (text, template) = check_content(shared, &request, &kind, recipient.is_some())?;
    let category = template.as_ref().map(|name| {
        let language = request.pointer("/template/language/code").and_then(Value::as_str).unwrap_or_default();
        shared.template_category(name, language)
    });
    check_endpoint(config, endpoint, category.as_deref())?;
    if draw.throttled {
        return Err(throttled());
    }
    if draw.server_error {
        return Err(server_error());
    }
    let failure = match outcome_for(&to) {
        Some(Outcome::Refused(error)) => return Err(error),
        Some(Outcome::Undelivered(error)) if config.failures == FailureReport::Response => return Err(error),
        Some(Outcome::Undelivered(error)) => Some(error),
        None => None,
    };
    let (wamid, plan) = {
        let mut inner = shared.lock();
        let wamid = inner.next_wamid("SIM");
        let plan = Plan::draw(&mut inner.rng, config, failure);
        (wamid, plan)
    };
    let message = SimMessage {
        wamid,
        to,
        recipient,
        user,
        kind,
        text,
        category,
        endpoint: endpoint.path(),
        template,
        biz_opaque_callback_data: request.get("biz_opaque_callback_data").and_then(Value::as_str).map(str::to_owned),
        reply_to: request.pointer("/context/message_id").and_then(Value::as_str).map(str::to_owned),
        accepted_at: shared.config.clock.now(),
        request,
    };
    Ok((message, plan))
}

/// The message's content checked as the Cloud API checks it: the text body or the template
/// name it carries (`(None, None)` for media, interactive and reactions).
fn check_content(
    shared: &Shared,
    request: &Value,
    kind: &str,
    by_recipient: bool,
) -> Result<(Option<String>, Option<String>), MetaError> {
    Ok(match kind {
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
        "template" => (None, Some(check_template(shared, request, by_recipient)?)),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let media = request.get(kind).filter(|m| m.is_object());
            let has = |k: &str| media.and_then(|m| m.get(k)).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
            if has("link") == has("id") {
                return Err(MetaError::invalid(kind, "must have exactly one of link and id"));
            }
            (None, None)
        }
        "interactive" => {
            let body = request.pointer("/interactive/body/text").and_then(Value::as_str).unwrap_or_default();
            let known = matches!(request.pointer("/interactive/type").and_then(Value::as_str), Some("button" | "list"));
            if body.trim().is_empty() || !known {
                return Err(MetaError::invalid("interactive", "needs a type (button, list) and body.text"));
            }
            (None, None)
        }
        "reaction" => {
            let on = request.pointer("/reaction/message_id").and_then(Value::as_str).unwrap_or_default();
            if !on.starts_with("wamid.") || request.pointer("/reaction/emoji").and_then(Value::as_str).is_none() {
                return Err(MetaError::invalid("reaction", "needs message_id (a wamid) and emoji"));
            }
            (None, None)
        }
        other => {
            return Err(MetaError::new(
                100,
                &format!(
                    "(#100) Param type must be one of {{text, template, image, video, audio, document, sticker, interactive, reaction}}; got '{other}'."
                ),
            ));
        }
    })
}

/// Who a send goes to: `to` (a phone) wins over `recipient` (a business-scoped user id, which
/// reaches only a user the business has been shown); the user id the send named, if any.
fn recipient_of(shared: &Shared, request: &Value) -> Result<(SimUser, Option<String>), MetaError> {
    let to = request.get("to").and_then(Value::as_str);
    match (to, request.get("recipient").and_then(Value::as_str)) {
        (Some(to_input), _) => {
            let Ok(phone) = polite_domain::WaId::parse(to_input) else {
                return Err(MetaError::new(
                    131_009,
                    "(#131009) Parameter value is not valid: to is not a valid phone number",
                ));
            };
            Ok((shared.lock().user(&phone), None))
        }
        (None, Some(recipient)) => {
            if polite_domain::BusinessScopedUserId::parse(recipient).is_err() {
                return Err(MetaError::invalid("recipient", "is not a business-scoped user id"));
            }
            let user = shared.lock().users.get(recipient).cloned();
            let user = user.ok_or_else(|| MetaError::invalid("recipient", "is not a user of this business"))?;
            Ok((user, Some(recipient.to_owned())))
        }
        (None, None) => Err(MetaError::invalid("to", "is required (or recipient)")),
    }
}
