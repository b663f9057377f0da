//! contacts-api: the `/v1/contacts/…` routes of the HTTP contract (`openapi.yaml`).
//!
//! | route | answer |
//! |---|---|
//! | `PUT /v1/contacts/{contact}/consent` | business-side capture → 200 contact |
//! | `GET /v1/contacts/{contact}` | 200 contact; 404 unknown |
//! | `PATCH /v1/contacts/{contact}` | timezone, quiet hours, locale → 200 contact (creates it) |
//! | `GET /v1/contacts/{contact}/consent-history` | 200 `{"events": [...]}` oldest first; 404 unknown |
//! | `DELETE /v1/contacts/{contact}` | 204: erasure of the person and every identity of theirs |
//!
//! `{contact}` is a phone number (E.164, with or without `+`) or a business-scoped user id;
//! either finds the same person once WhatsApp has shown them together.

use jiff::{SignedDuration, Timestamp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use polite_adapters::http::{self, ApiError, json_response, parse_json};
use polite_app::contacts;
use polite_domain::consent::{
    CategoryConsent, ConsentCategory, ConsentError, ConsentEvent, ConsentSource, ConsentStatus,
};
use polite_domain::contact::{ContactRecord, ContactSettings};
use polite_domain::hours::QuietHours;
use polite_domain::ports::{ContactEraser, ContactReader, ContactWriter, MessageEraser};
use polite_domain::{ContactRef, IanaZone};
use serde::{Deserialize, Serialize};

pub mod config;

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "contacts-api";

/// How far in the future a business may date a consent capture (clock skew), no more.
const FUTURE_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// The contacts table as this API uses it: the narrow ports its routes call, no more.
pub trait Contacts: ContactReader + ContactWriter + ContactEraser + Sync {}

impl<T: ContactReader + ContactWriter + ContactEraser + Sync> Contacts for T {}

/// What the HTTP handler needs.
#[derive(Debug)]
pub struct ContactsApi<S, M> {
    pub store: S,
    /// The messages table: erasure forgets the person's messages too.
    pub messages: M,
}

/// Handles one API Gateway request. Every outcome is a response.
pub async fn handle<S: Contacts, M: MessageEraser + Sync>(api: &ContactsApi<S, M>, req: Request) -> Response<Body> {
    let now = Timestamp::now();
    match route(api, &req, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    req: &Request,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let (route, params) = http::route(req, ROUTES)?;
    let contact = contact(http::param(&params, "contact"))?;
    match route {
        Route::Get => get(api, &contact, now).await,
        Route::Patch => patch(api, &contact, req.body(), now).await,
        Route::Erase => erase(api, &contact).await,
        Route::PutConsent => put_consent(api, &contact, req.body(), now).await,
        Route::History => history(api, &contact).await,
    }
}

/// What the API does on each of its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Get,
    Patch,
    Erase,
    PutConsent,
    History,
}

/// The routes, as `template.yaml` gives them to this function (a test holds the two equal).
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/v1/contacts/{contact}", Route::Get),
    ("PATCH", "/v1/contacts/{contact}", Route::Patch),
    ("DELETE", "/v1/contacts/{contact}", Route::Erase),
    ("PUT", "/v1/contacts/{contact}/consent", Route::PutConsent),
    ("GET", "/v1/contacts/{contact}/consent-history", Route::History),
];

/// The path's contact reference (decoded: `%2B` is `+`): a phone number in E.164 with or
/// without `+`, or a business-scoped user id.
fn contact(raw: &str) -> Result<ContactRef, ApiError> {
    ContactRef::parse(raw).map_err(|e| ApiError::invalid_field("contact", e))
}

fn internal(e: &(dyn std::error::Error + 'static)) -> ApiError {
    ApiError::internal(e)
}

/// The contact as the API shows it.
#[derive(Debug, Serialize)]
pub struct ContactView {
    /// The identity the person is stored under.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// The WhatsApp username their latest message showed (display only: never an address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub consent: ConsentView,
    pub timezone: Option<String>,
    pub quiet_hours: Option<QuietHours>,
    pub locale: Option<String>,
    pub last_inbound_at: Option<Timestamp>,
    /// When the 24 h customer-service window closes, while it is open.
    pub window_open_until: Option<Timestamp>,
    /// Erased and not opted in again since: sends are suppressed.
    pub erased: bool,
}

#[derive(Debug, Serialize)]
pub struct ConsentView {
    pub marketing: Option<CategoryView>,
    pub utility: Option<CategoryView>,
}

#[derive(Debug, Serialize)]
pub struct CategoryView {
    pub status: ConsentStatus,
    pub changed_at: Timestamp,
    pub source: ConsentSource,
}

impl ContactView {
    fn of(c: ContactRecord, now: Timestamp) -> Self {
        let category = |v: Option<CategoryConsent>| {
            v.map(|v| CategoryView { status: v.status, changed_at: v.changed_at, source: v.source })
        };
        let window_open_until = c.window_open_until().filter(|until| *until > now);
        ContactView {
            id: c.id.to_string(),
            wa_id: c.identities.phone().map(ToString::to_string),
            user_id: c.identities.user_id().map(ToString::to_string),
            parent_user_id: c.identities.parent_user_id().map(ToString::to_string),
            username: c.username,
            consent: ConsentView { marketing: category(c.consent.marketing), utility: category(c.consent.utility) },
            timezone: c.timezone.map(|z| z.name().to_owned()),
            quiet_hours: c.quiet_hours,
            locale: c.locale,
            last_inbound_at: c.last_inbound_at,
            window_open_until,
            erased: c.erased,
        }
    }
}

/// A contact the API can show: not unknown, and not an erased number with nothing since.
async fn known<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
) -> Result<Option<ContactRecord>, ApiError> {
    contacts::known(&api.store, contact).await.map_err(|e| internal(&e))
}

fn not_found(contact: &ContactRef) -> ApiError {
    ApiError::not_found(format_args!("contact {contact}"))
}

async fn get<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let contact = known(api, contact).await?.ok_or_else(|| not_found(contact))?;
    Ok(json_response(StatusCode::OK, &ContactView::of(contact, now)))
}

/// `PUT …/consent`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    category: ConsentCategory,
    status: ConsentStatus,
    source: String,
    #[serde(default)]
    evidence: Option<String>,
    #[serde(default)]
    occurred_at: Option<Timestamp>,
}

async fn put_consent<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let request: ConsentRequest = parse_json(body.as_ref())?;
    let source = ConsentSource::business(&request.source)
        .map_err(|e| ApiError::invalid_field("source", format!("{e} (e.g. \"web_checkout\")")))?;
    // Consent is ordered by when it happened: dated "now", a CRM's re-sync of an old opt-in
    // would outrank a STOP the person sent in between. The caller must say when.
    let occurred_at = request.occurred_at.ok_or_else(|| {
        ApiError::invalid_field(
            "occurred_at",
            "is required: when the customer gave or withdrew consent (RFC 3339, e.g. \"2026-11-20T10:00:00Z\")",
        )
    })?;
    if occurred_at > now + FUTURE_SKEW {
        return Err(ApiError::invalid_field(
            "occurred_at",
            "is in the future; send when the customer gave or withdrew consent",
        ));
    }
    let event = ConsentEvent::from_business(
        contact,
        request.category,
        request.status,
        source,
        request.evidence,
        occurred_at,
        now,
    )
    .map_err(|e| match e {
        ConsentError::EvidenceTooLong => ApiError::invalid_field("evidence", e),
        ConsentError::InvalidSource => ApiError::invalid_field("source", e),
    })?;
    let person = contacts::capture(&api.store, contact, &event).await.map_err(|e| internal(&e))?;
    let person = person.ok_or_else(|| not_found(contact))?;
    Ok(json_response(StatusCode::OK, &ContactView::of(person, now)))
}

/// `PATCH /v1/contacts/{contact}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsRequest {
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    #[serde(default)]
    locale: Option<String>,
}

async fn patch<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let request: SettingsRequest = parse_json(body.as_ref())?;
    let timezone = request.timezone.as_deref().map(IanaZone::parse).transpose().map_err(|e| {
        ApiError::invalid_field("timezone", format!("'{}' is not an IANA time zone (e.g. Europe/Lisbon)", e.0))
    })?;
    if let Some(locale) = request.locale.as_deref().filter(|l| !valid_locale(l)) {
        return Err(ApiError::invalid_field("locale", format!("'{locale}' is not a locale like pt_BR or en")));
    }
    let settings = ContactSettings { timezone, quiet_hours: request.quiet_hours, locale: request.locale };
    let person = api.store.update_settings(contact, &settings).await.map_err(|e| internal(&e))?;
    Ok(json_response(StatusCode::OK, &ContactView::of(person, now)))
}

/// A language tag as WhatsApp templates use them: `en`, `pt_BR`, `zh-Hant-TW`.
fn valid_locale(locale: &str) -> bool {
    let mut parts = locale.split(['_', '-']);
    let language = parts.next().unwrap_or("");
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `GET …/consent-history`.
#[derive(Debug, Serialize)]
struct History {
    events: Vec<HistoryEvent>,
}

#[derive(Debug, Serialize)]
struct HistoryEvent {
    id: String,
    category: ConsentCategory,
    status: ConsentStatus,
    source: ConsentSource,
    evidence: Option<String>,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
}

async fn history<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
) -> Result<Response<Body>, ApiError> {
    known(api, contact).await?.ok_or_else(|| not_found(contact))?;
    let events = api.store.consent_history(contact).await.map_err(|e| internal(&e))?;
    let events = events
        .into_iter()
        .map(|e| HistoryEvent {
            id: e.id.as_str().to_owned(),
            category: e.category,
            status: e.status,
            source: e.source,
            evidence: e.evidence,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &History { events }))
}

/// `DELETE`: erasure of the person and every identity of theirs. Idempotent, and for an
/// unknown contact too — the tombstone is what the caller asked for ("never message them").
async fn erase<S: Contacts, M: MessageEraser + Sync>(
    api: &ContactsApi<S, M>,
    contact: &ContactRef,
) -> Result<Response<Body>, ApiError> {
    let erased = contacts::erase(&api.store, &api.messages, contact, Timestamp::now()).await;
    let contacts::Erased { identities, in_flight } = erased.map_err(|e| internal(&e))?;
    if in_flight > 0 {
        // Being sent this instant: statuses settle them; erasing again forgets them.
        tracing::warn!(contact = %contact.masked(), in_flight, "contact erased; messages in flight remain until erased again");
    } else {
        tracing::info!(contact = %contact.masked(), identities = identities.len(), "contact and their messages erased");
    }
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
