//! messages-api: the `/v1/messages` and `/v1/campaigns` routes of the HTTP contract
//! (`openapi.yaml`), over the scheduler's use cases ([`polite_app::scheduler`]).
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/messages` | 202 `{"id","state","category","requested_category"?}`; 409 idempotency key reused with another body; 422 naming the field |
//! | `GET /v1/messages/{id}` | 200 the message with its state, reason, `not_before` and history; 404 unknown |
//! | `DELETE /v1/messages/{id}` | 200 the cancelled message; 409 once the sender has it; 404 unknown |
//! | `POST /v1/campaigns` | 202 `{"id","accepted","rejected":[{"to","reason","detail"}]}`; 409 idempotency key reused with another body; 422 naming the field |
//! | `GET /v1/campaigns/{id}` | 200 `{"id","name","status","counts",…}` with delivery rates and pricing ([`CampaignReport`]); 404 unknown |
//! | `GET /v1/campaigns/{id}/messages` | 200 `{"messages":[…],"next_cursor"}` a page of the per-recipient report; 404 unknown |
//! | `POST /v1/campaigns/{id}/pause`, `/resume`, `/cancel` | 200 the campaign as `GET` shows it; 409 `campaign_cancelled` (a cancelled campaign is not paused or resumed); 404 unknown |
//! | `POST /v1/campaigns/{id}/exports` | 202 the export (`{"id","format","state"?,"files","rows","done","location"}`), written by the tick; 404 unknown campaign; 422 a bad `format`/`state`; 409 `exports_unavailable` without a bucket |
//! | `GET /v1/campaigns/{id}/exports/{export_id}` | 200 the export as far as it has come (`manifest` once done); 404 unknown |
//!
//! The `GET` routes live here rather than in status-processor (the original design
//! listed them there): one function serves every `/v1/messages` and `/v1/campaigns` path (one route
//! prefix, one IAM policy on the table), while status-processor stays a pure queue consumer
//! that writes the counters these routes read.
//!
//! [`CampaignReport`]: polite_domain::campaign::CampaignReport

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use polite_adapters::http::{self, ApiError, from_json_value, json_response, parse_json};
use polite_domain::campaign::{AudienceView, CampaignRequest, Control, Rejection};
use polite_domain::message::{HistoryEntry, MessageState, SendError};
use polite_domain::ports::{
    AudienceFiles, CampaignCompletion, CampaignStore, ContactReader, CreateError, EventQueue, ExportStore,
    MessageIntake, MessageMoves, MessageReader, ReportFiles, TemplateReader,
};
use polite_domain::record::MessageRecord;
use polite_domain::request::{SendRequest, body_hash, replay_key};
use serde::Serialize;

use polite_app::scheduler::campaigns::Controlled;
use polite_app::scheduler::export::ExportError;
use polite_app::scheduler::{Cancel, Scheduler, SubmitError};
use polite_domain::export::ExportFormat;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "messages-api";

/// The messages table as this API uses it: the narrow ports its routes call, no more.
pub trait Messages:
    MessageIntake + MessageReader + MessageMoves + CampaignStore + CampaignCompletion + ExportStore + Sync
{
}

impl<T: MessageIntake + MessageReader + MessageMoves + CampaignStore + CampaignCompletion + ExportStore + Sync> Messages
    for T
{
}

/// Campaigns' files as this API uses them: audience files read, reports exported.
pub trait Files: AudienceFiles + ReportFiles + Sync {}

impl<T: AudienceFiles + ReportFiles + Sync> Files for T {}

/// Handles one API Gateway request. Every outcome is a response.
pub async fn handle<M, C, Q, T, A>(scheduler: &Scheduler<M, C, Q, T, A>, req: Request) -> Response<Body>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    handle_at(scheduler, &req, polite_adapters::clock::now()).await
}

/// [`handle`] at a given time (tests).
pub async fn handle_at<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    req: &Request,
    now: Timestamp,
) -> Response<Body>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    match route(scheduler, req, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    req: &Request,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    let (route, params) = http::route(req, ROUTES)?;
    let id = http::param(&params, "id");
    match route {
        Route::Send => create(scheduler, req.body(), now).await,
        Route::Message => {
            let record = scheduler.messages.get(id).await.map_err(|e| ApiError::internal(&e))?;
            let record = record.ok_or_else(|| not_found(id))?;
            Ok(json_response(StatusCode::OK, &MessageView::of(&record)))
        }
        Route::Cancel => match scheduler.cancel(id, now).await.map_err(|e| ApiError::internal(&e))? {
            Cancel::Cancelled(record) => Ok(json_response(StatusCode::OK, &MessageView::of(&record))),
            Cancel::TooLate(state) => Err(ApiError::conflict(
                "not_cancellable",
                format!(
                    "The message is already {}; only scheduled, queued or deferred messages can be cancelled.",
                    state.as_str()
                ),
            )),
            Cancel::Unknown => Err(not_found(id)),
        },
        Route::Campaign => create_campaign(scheduler, req.body(), now).await,
        Route::CampaignReport => {
            let report = scheduler.report(id).await.map_err(|e| ApiError::internal(&e))?;
            let report = report.ok_or_else(|| ApiError::not_found(format!("No campaign {id}.")))?;
            Ok(json_response(StatusCode::OK, &report))
        }
        Route::CampaignMessages => campaign_messages(scheduler, id, &http::query(req)).await,
        Route::Export => start_export(scheduler, id, req.body(), now).await,
        Route::ExportStatus => {
            let export_id = http::param(&params, "export_id");
            let view = scheduler.export_view(id, export_id).await.map_err(|e| ApiError::internal(&e))?;
            let view = view.ok_or_else(|| ApiError::not_found(format!("No export {export_id} of campaign {id}.")))?;
            Ok(json_response(StatusCode::OK, &view))
        }
        Route::Control(control) => {
            let budget = scheduler.campaigns.inline_budget;
            match scheduler.control(id, *control, budget, now).await.map_err(|e| ApiError::internal(&e))? {
                Controlled::Done { report, .. } => Ok(json_response(StatusCode::OK, &report)),
                Controlled::Refused(status) => Err(ApiError::conflict(
                    "campaign_cancelled",
                    format!("The campaign is {}: a cancelled campaign stays cancelled.", status.as_str()),
                )),
                Controlled::Unknown => Err(ApiError::not_found(format!("No campaign {id}."))),
            }
        }
    }
}

/// The most messages one page of a campaign's report holds.
pub const MAX_PAGE: usize = 500;

/// `GET /v1/campaigns/{id}/messages?state=&cursor=&limit=`: the campaign's messages, one per
/// recipient, in the order they were created, a page at a time.
async fn campaign_messages<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    id: &str,
    query: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ApiError>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    let state = match query.get("state") {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<MessageState>(serde_json::Value::String(s.clone()))
                .map_err(|_| ApiError::invalid_field("state", format!("{s} is not a message state")))?,
        ),
    };
    let limit =
        match query.get("limit") {
            None => 100,
            Some(n) => n.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                ApiError::invalid_field("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))
            })?,
        };
    let cursor = query.get("cursor").map(String::as_str).filter(|c| !c.is_empty());
    let (record, page) = tokio::try_join!(
        scheduler.messages.campaign(id),
        scheduler.messages.campaign_messages(id, state, cursor, limit)
    )
    .map_err(|e| ApiError::internal(&e))?;
    if record.is_none() && page.messages.is_empty() && cursor.is_none() {
        return Err(ApiError::not_found(format!("No campaign {id}.")));
    }
    let messages: Vec<MessageView<'_>> = page.messages.iter().map(MessageView::of).collect();
    Ok(json_response(StatusCode::OK, &serde_json::json!({"messages": messages, "next_cursor": page.next})))
}

/// What the API does on each of its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Send,
    Message,
    Cancel,
    Campaign,
    CampaignReport,
    CampaignMessages,
    /// Pause, resume or cancel a campaign.
    Control(Control),
    /// Start an export of the campaign's report to S3.
    Export,
    ExportStatus,
}

/// The routes, as `template.yaml` gives them to this function (a test holds the two equal).
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("POST", "/v1/messages", Route::Send),
    ("GET", "/v1/messages/{id}", Route::Message),
    ("DELETE", "/v1/messages/{id}", Route::Cancel),
    ("POST", "/v1/campaigns", Route::Campaign),
    ("GET", "/v1/campaigns/{id}", Route::CampaignReport),
    ("GET", "/v1/campaigns/{id}/messages", Route::CampaignMessages),
    ("POST", "/v1/campaigns/{id}/pause", Route::Control(Control::Pause)),
    ("POST", "/v1/campaigns/{id}/resume", Route::Control(Control::Resume)),
    ("POST", "/v1/campaigns/{id}/cancel", Route::Control(Control::Cancel)),
    ("POST", "/v1/campaigns/{id}/exports", Route::Export),
    ("GET", "/v1/campaigns/{id}/exports/{export_id}", Route::ExportStatus),
];

/// `POST /v1/campaigns/{id}/exports`'s body (none: every message, as CSV).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    #[serde(default)]
    format: Option<ExportFormat>,
    #[serde(default)]
    state: Option<MessageState>,
}

/// `POST /v1/campaigns/{id}/exports`: the export is stored and the tick writes it.
async fn start_export<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    let request: ExportRequest =
        if body.iter().all(u8::is_ascii_whitespace) { ExportRequest::default() } else { parse_json(body)? };
    let format = request.format.unwrap_or(ExportFormat::Csv);
    match scheduler.start_export(id, format, request.state, now).await {
        Ok(view) => Ok(json_response(StatusCode::ACCEPTED, &view)),
        Err(ExportError::UnknownCampaign) => Err(ApiError::not_found(format!("No campaign {id}."))),
        Err(ExportError::NoBucket(why)) => Err(ApiError::conflict("exports_unavailable", why)),
        Err(ExportError::Store(e)) => Err(ApiError::internal(&e)),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("No message {id}."))
}

/// `POST /v1/campaigns`: the campaign is stored whole, then fanned out for at most the
/// inline budget; the tick fans out the rest.
async fn create_campaign<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    let raw: serde_json::Value = parse_json(body.as_ref())?;
    let request: CampaignRequest = from_json_value(&raw)?;
    let hash = body_hash(&raw);
    // A retry of an accepted campaign gets the original answer, judged as it was then (its
    // `send_at` may have passed since): the rejections follow from the same body.
    if let Some(key) = replay_key(request.idempotency_key.as_deref()) {
        match scheduler.messages.campaign_replay(key, &hash).await {
            Ok(Some(record)) => {
                let original = scheduler.personalise(&request.validate(record.created_at)?).await?;
                let answer = CampaignAccepted {
                    id: &record.id,
                    accepted: record.accepted,
                    rejected: &original.rejected,
                    audience: record.audience_view(),
                };
                return Ok(json_response(StatusCode::ACCEPTED, &answer));
            }
            Ok(None) => {}
            Err(CreateError::IdempotencyConflict) => return Err(idempotency_conflict()),
            Err(CreateError::Store(e)) => return Err(ApiError::internal(&e)),
        }
    }
    let campaign = request.validate(now)?;
    let ready = scheduler.personalise(&campaign).await?;
    let settings = scheduler.campaigns;
    let record = match scheduler.create_campaign(&campaign, &ready, hash, now).await {
        Ok(record) => record,
        Err(CreateError::IdempotencyConflict) => return Err(idempotency_conflict()),
        Err(CreateError::Store(e)) => return Err(ApiError::internal(&e)),
    };
    scheduler.fan_out_within(&record, settings.inline_budget, now).await;
    if record.audience.is_some() {
        // A file is read by the tick, not within the request: the answer shows how far that
        // got (nothing yet; a replay, so far).
        let answer = CampaignAccepted {
            id: &record.id,
            accepted: record.accepted,
            rejected: &[],
            audience: record.audience_view(),
        };
        return Ok(json_response(StatusCode::ACCEPTED, &answer));
    }
    // A replay answers the same: the rejections follow from the (same) body.
    let answer =
        CampaignAccepted { id: &record.id, accepted: record.accepted, rejected: &ready.rejected, audience: None };
    Ok(json_response(StatusCode::ACCEPTED, &answer))
}

#[derive(Debug, Serialize)]
struct CampaignAccepted<'a> {
    id: &'a str,
    /// Recipients accepted (of a file: so far — the tick reads it after the answer).
    accepted: usize,
    rejected: &'a [Rejection],
    /// A file's progress: lines read, accepted, rejected, done.
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<AudienceView>,
}

fn idempotency_conflict() -> ApiError {
    ApiError::conflict(
        "idempotency_conflict",
        "This idempotency_key was already used with a different request body; use a new key for a new request.",
    )
}

/// `POST /v1/messages`.
async fn create<M, C, Q, T, A>(
    scheduler: &Scheduler<M, C, Q, T, A>,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    M: Messages,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
    T: TemplateReader + Sync,
    A: Files,
{
    let raw: serde_json::Value = parse_json(body.as_ref())?;
    let request: SendRequest = from_json_value(&raw)?;
    let hash = body_hash(&raw);
    // A retry of an accepted request gets the original answer, not a second judgement (its
    // `send_at` may have passed, the window closed): else a caller resubmits under a new key.
    if let Some(key) = replay_key(request.idempotency_key.as_deref()) {
        match scheduler.messages.replay(key, &hash).await {
            Ok(Some(record)) => {
                tracing::info!(message_id = %record.id, "idempotent replay: the key's message is returned");
                let accepted = Accepted::of(&record, record.created_state());
                return Ok(json_response(StatusCode::ACCEPTED, &accepted));
            }
            Ok(None) => {}
            Err(CreateError::IdempotencyConflict) => return Err(idempotency_conflict()),
            Err(CreateError::Store(e)) => return Err(ApiError::internal(&e)),
        }
    }
    let send = request.validate(now)?;
    match scheduler.submit(send, hash, now).await {
        Ok(record) => Ok(json_response(StatusCode::ACCEPTED, &Accepted::of(&record, record.state))),
        Err(SubmitError::WindowClosed { open_until, reply }) => {
            let when = open_until
                .map_or_else(|| "the recipient has never written to you".to_owned(), |t| format!("it closed at {t}"));
            Err(ApiError::invalid_field(
                if reply { "reply_to" } else { "text" },
                format!(
                    "free-form messages (text, media, interactive, reactions, replies) need the recipient's 24 h customer-service window open when the message goes, and {when}; send an approved template instead"
                ),
            ))
        }
        Err(SubmitError::IdempotencyConflict) => Err(idempotency_conflict()),
        Err(SubmitError::Store(e)) => Err(ApiError::internal(&e)),
    }
}

/// `POST /v1/messages`'s answer: the message, its state, and the category that governs it —
/// Meta's for the template when the registry's differs from the caller's, which is then
/// answered as `requested_category`.
#[derive(Debug, Serialize)]
struct Accepted<'a> {
    id: &'a str,
    state: MessageState,
    category: polite_domain::message::Category,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_category: Option<polite_domain::message::Category>,
}

impl<'a> Accepted<'a> {
    fn of(record: &'a MessageRecord, state: MessageState) -> Self {
        Accepted { id: &record.id, state, category: record.category, requested_category: record.requested_category }
    }
}

/// A message as `GET /v1/messages/{id}` shows it (`openapi.yaml`).
#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    pub id: &'a str,
    pub to: String,
    /// The category that governs it: Meta's for the template when the registry's disagreed with
    /// the caller's (then `requested_category` is the caller's).
    pub category: polite_domain::message::Category,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_category: Option<polite_domain::message::Category>,
    pub state: MessageState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a SendError>,
    /// Meta's `pricing` object, as Meta sent it, once a delivered/read status brought it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<&'a polite_domain::pricing::PricingRecord>,
    /// polite's estimate of what that pricing costs (rate card), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<&'a polite_domain::pricing::CostEstimate>,
    pub history: &'a [HistoryEntry],
    pub created_at: Timestamp,
}

impl<'a> MessageView<'a> {
    /// The view of a stored message.
    pub fn of(record: &'a MessageRecord) -> Self {
        MessageView {
            id: &record.id,
            to: record.to.to_string(),
            category: record.category,
            requested_category: record.requested_category,
            state: record.state,
            reason: record.reason.as_deref(),
            not_before: record.not_before,
            expires_at: record.expires_at,
            campaign_id: record.campaign_id.as_deref(),
            wamid: record.wamid.as_deref(),
            error: record.error.as_ref(),
            pricing: record.pricing.as_ref(),
            estimated_cost: record.estimated_cost.as_ref(),
            history: &record.history,
            created_at: record.created_at,
        }
    }
}
