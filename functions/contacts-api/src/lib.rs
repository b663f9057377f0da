//! contacts-api: the `/v1/contacts/…` routes of the HTTP contract (`openapi.yaml`).
//!
//! | route | answer |
//! |---|---|
//! | `PUT /v1/contacts/{contact}/consent` | business-side capture → 200 contact |
//! | `GET /v1/contacts/{contact}` | 200 contact; 404 unknown |
//! | `PATCH /v1/contacts/{contact}` | timezone, quiet hours, locale → 200 contact (creates it) |
//! | `GET /v1/contacts/{contact}/consent-history` | 200 `{"events": [...]}` oldest first; 404 unknown |
//! | `GET /v1/contacts/{contact}/consent-evidence` | 200 the person's consent as one document an auditor can read; 404 unknown |
//! | `POST /v1/consents:import` | ≤ 1 000 business-side captures at once → 200 `{"accepted","recorded","current","already_recorded","rejected"}`; or `{"s3"}`, a file of any size → 202 the import, read by consent-updater |
//! | `GET /v1/consents/imports/{id}` | 200 an import from a file as far as it has come (`result` once done); 404 unknown |
//! | `DELETE /v1/contacts/{contact}` | 204: erasure of the person and every identity of theirs |
//!
//! `{contact}` is a phone number (E.164, with or without `+`) or a business-scoped user id;
//! either finds the same person once WhatsApp has shown them together.

use std::collections::BTreeMap;

use jiff::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use polite_adapters::http::{self, ApiError, json_response, parse_json};
use polite_app::contacts;
use polite_app::contacts::Importer;
use polite_domain::audience_file::{AudienceRequest, FileFormat};
use polite_domain::capture::{Capture, ImportRejection, ImportRequest};
use polite_domain::consent::EventId;
use polite_domain::consent::{CategoryConsent, ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::consent_import::ImportJob;
use polite_domain::contact::{ContactRecord, ContactSettings};
use polite_domain::hours::QuietHours;
use polite_domain::ports::{
    AudienceFiles, ContactEraser, ContactReader, ContactWriter, EventQueue, ImportStore, MessageEraser,
};
use polite_domain::{ContactRef, IanaZone};
use serde::{Deserialize, Serialize};

pub mod config;

pub use config::Config;

/// The function's name (bin, SAM function, metric dimension).
pub const FUNCTION: &str = "contacts-api";

/// The contacts table as this API uses it: the narrow ports its routes call, no more.
pub trait Contacts: ContactReader + ContactWriter + ContactEraser + ImportStore + Sync {}

impl<T: ContactReader + ContactWriter + ContactEraser + ImportStore + Sync> Contacts for T {}

/// What the HTTP handler needs.
#[derive(Debug)]
pub struct ContactsApi<S, M, A, Q> {
    pub store: S,
    /// The messages table: erasure forgets the person's messages too.
    pub messages: M,
    /// Imports from files: the bucket they may be in, and inbound-events, where the first
    /// part's message goes.
    pub imports: Importer<A, Q>,
}

/// Handles one API Gateway request. Every outcome is a response.
pub async fn handle<S, M, A, Q>(api: &ContactsApi<S, M, A, Q>, req: Request) -> Response<Body>
where
    S: Contacts,
    M: MessageEraser + Sync,
    A: AudienceFiles + Sync,
    Q: EventQueue + Sync,
{
    let now = polite_adapters::clock::now();
    match route(api, &req, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route<S, M, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    req: &Request,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    S: Contacts,
    M: MessageEraser + Sync,
    A: AudienceFiles + Sync,
    Q: EventQueue + Sync,
{
    let (route, params) = http::route(req, ROUTES)?;
    // The `/v1/contacts/{contact}` routes' contact, checked before anything is read.
    let contact = || contact(http::param(&params, "contact"));
    match route {
        Route::Get => get(api, &contact()?, now).await,
        Route::Patch => patch(api, &contact()?, req.body(), now).await,
        Route::Erase => erase(api, &contact()?).await,
        Route::PutConsent => put_consent(api, &contact()?, req.body(), now).await,
        Route::History => history(api, &contact()?).await,
        Route::Evidence => evidence(api, &contact()?, now).await,
        Route::Import => import(api, req.body(), now).await,
        Route::ImportStatus => import_status(api, http::param(&params, "id")).await,
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
    Evidence,
    Import,
    ImportStatus,
}

/// The routes, as `template.yaml` gives them to this function (a test holds the two equal).
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/v1/contacts/{contact}", Route::Get),
    ("PATCH", "/v1/contacts/{contact}", Route::Patch),
    ("DELETE", "/v1/contacts/{contact}", Route::Erase),
    ("PUT", "/v1/contacts/{contact}/consent", Route::PutConsent),
    ("GET", "/v1/contacts/{contact}/consent-history", Route::History),
    ("GET", "/v1/contacts/{contact}/consent-evidence", Route::Evidence),
    ("POST", "/v1/consents:import", Route::Import),
    ("GET", "/v1/consents/imports/{id}", Route::ImportStatus),
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
async fn known<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
) -> Result<Option<ContactRecord>, ApiError> {
    contacts::known(&api.store, contact).await.map_err(|e| internal(&e))
}

fn not_found(contact: &ContactRef) -> ApiError {
    ApiError::not_found(format_args!("contact {contact}"))
}

async fn get<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let contact = known(api, contact).await?.ok_or_else(|| not_found(contact))?;
    Ok(json_response(StatusCode::OK, &ContactView::of(contact, now)))
}

/// `PUT …/consent`: one business-side capture ([`Capture::check`]).
async fn put_consent<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let capture: Capture = parse_json(body.as_ref())?;
    let event = capture.check(contact, now)?;
    let person = contacts::capture(&api.store, contact, &event).await.map_err(|e| internal(&e))?;
    let person = person.ok_or_else(|| not_found(contact))?;
    Ok(json_response(StatusCode::OK, &ContactView::of(person, now)))
}

/// `POST /v1/consents:import`: what was recorded, and each record rejected with its reason.
#[derive(Debug, Serialize)]
struct ImportAnswer {
    /// Records that were valid (recorded now, or already).
    accepted: usize,
    #[serde(flatten)]
    imported: contacts::Imported,
    rejected: Vec<ImportRejection>,
}

async fn import<S, M, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    body: &Body,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    S: Contacts,
    M: MessageEraser + Sync,
    A: AudienceFiles + Sync,
    Q: EventQueue + Sync,
{
    let raw: serde_json::Value = parse_json(body.as_ref())?;
    if raw.get("s3").is_some() {
        return import_file(api, &raw, now).await;
    }
    let request: ImportRequest = http::from_json_value(&raw)?;
    let checked = request.check(now)?;
    let valid = checked.records.len();
    let mut imported = contacts::import(&api.store, checked.records).await;
    let mut rejected = checked.rejected;
    rejected.append(&mut imported.failed);
    rejected.sort_by_key(|r| r.index);
    tracing::info!(
        accepted = valid,
        recorded = imported.recorded,
        already_recorded = imported.already_recorded,
        rejected = rejected.len(),
        "consent import"
    );
    let accepted = valid - rejected.iter().filter(|r| r.reason == "not_recorded").count();
    Ok(json_response(StatusCode::OK, &ImportAnswer { accepted, imported, rejected }))
}

/// `POST /v1/consents:import` with a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileImport {
    s3: String,
    #[serde(default)]
    format: Option<FileFormat>,
}

/// An import from a file as the API shows it.
#[derive(Debug, Serialize)]
struct ImportView {
    id: String,
    file: String,
    /// Lines read so far (the header included).
    lines: u64,
    parts: u32,
    accepted: u64,
    rejected: u64,
    recorded: u64,
    already_recorded: u64,
    done: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// `s3://…/imports/<id>/`: a result file per part (`result-00000.jsonl`: each line
    /// accepted, or rejected with its reason) and, once done, `result.json`.
    results: String,
    /// The summary, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
}

impl ImportView {
    fn of(job: &ImportJob) -> Self {
        let bucket = &job.file.bucket;
        ImportView {
            id: job.id.clone(),
            file: job.file.to_string(),
            lines: job.cursor.lines,
            parts: job.parts,
            accepted: job.accepted,
            rejected: job.rejected,
            recorded: job.recorded,
            already_recorded: job.already_recorded,
            done: job.done,
            created_at: job.created_at,
            updated_at: job.updated_at,
            results: format!("s3://{bucket}/imports/{}/", job.id),
            result: job.done.then(|| format!("s3://{bucket}/{}", job.summary_key())),
        }
    }
}

async fn import_file<S, M, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    raw: &serde_json::Value,
    now: Timestamp,
) -> Result<Response<Body>, ApiError>
where
    S: Contacts,
    M: MessageEraser + Sync,
    A: AudienceFiles + Sync,
    Q: EventQueue + Sync,
{
    let request: FileImport = http::from_json_value(raw)?;
    let file = AudienceRequest { s3: request.s3, format: request.format }.check().map_err(|e| {
        let field = if e.field.ends_with("format") { "format" } else { "s3" };
        ApiError::invalid_field(field, e.problem)
    })?;
    api.imports.files.reads_from(&file.bucket).map_err(|why| ApiError::invalid_field("s3", why))?;
    let job = contacts::start_import(&api.store, &api.imports.queue, file, now).await.map_err(|e| internal(&e))?;
    Ok(json_response(StatusCode::ACCEPTED, &ImportView::of(&job)))
}

async fn import_status<S, M, A, Q>(api: &ContactsApi<S, M, A, Q>, id: &str) -> Result<Response<Body>, ApiError>
where
    S: Contacts,
    M: MessageEraser + Sync,
{
    let job = api.store.import_job(id).await.map_err(|e| internal(&e))?;
    let job = job.ok_or_else(|| ApiError::not_found(format!("No import {id}.")))?;
    Ok(json_response(StatusCode::OK, &ImportView::of(&job)))
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

async fn patch<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
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

impl HistoryEvent {
    fn of(e: ConsentEvent) -> Self {
        HistoryEvent {
            id: e.id.as_str().to_owned(),
            category: e.category,
            status: e.status,
            source: e.source,
            evidence: e.evidence,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
        }
    }
}

async fn history<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
) -> Result<Response<Body>, ApiError> {
    known(api, contact).await?.ok_or_else(|| not_found(contact))?;
    let events = api.store.consent_history(contact).await.map_err(|e| internal(&e))?;
    let events = events.into_iter().map(HistoryEvent::of).collect();
    Ok(json_response(StatusCode::OK, &History { events }))
}

/// `GET …/consent-evidence`: the person's consent as one document an auditor can read — who
/// they are, what they consent to now and which event decided it, and every event with its
/// evidence, oldest first.
#[derive(Debug, Serialize)]
struct Evidence {
    /// The reference asked about.
    contact: String,
    /// The person it finds: the identity they are stored under and every identity of theirs.
    person: Identities,
    generated_at: Timestamp,
    /// How the current consent follows from the events.
    rule: &'static str,
    current: BTreeMap<ConsentCategory, Option<Decided>>,
    events: Vec<EvidenceEvent>,
}

/// The rule every consent decision follows (in each evidence document).
const CONSENT_RULE: &str = "Per category, the event that happened last (occurred_at) decides; on a tie an opt-out wins. Every event polite recorded is listed, none is ever edited, and the order events arrived in does not matter.";

#[derive(Debug, Serialize)]
struct Identities {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_user_id: Option<String>,
}

/// A category's consent now and the event that decided it.
#[derive(Debug, Serialize)]
struct Decided {
    status: ConsentStatus,
    since: Timestamp,
    source: ConsentSource,
    event_id: EventId,
    evidence: Option<String>,
}

#[derive(Debug, Serialize)]
struct EvidenceEvent {
    #[serde(flatten)]
    event: HistoryEvent,
    /// Whether this event decides its category's consent now.
    decides: bool,
}

async fn evidence<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
    now: Timestamp,
) -> Result<Response<Body>, ApiError> {
    let person = known(api, contact).await?.ok_or_else(|| not_found(contact))?;
    let ledger = api.store.consent_history(contact).await.map_err(|e| internal(&e))?;
    let deciding: Vec<&EventId> =
        [&person.consent.marketing, &person.consent.utility].into_iter().flatten().map(|c| &c.event_id).collect();
    let decided = |slot: &Option<CategoryConsent>| {
        slot.as_ref().map(|c| Decided {
            status: c.status,
            since: c.changed_at,
            source: c.source.clone(),
            event_id: c.event_id.clone(),
            evidence: ledger.iter().find(|e| e.id == c.event_id).and_then(|e| e.evidence.clone()),
        })
    };
    let current = BTreeMap::from([
        (ConsentCategory::Marketing, decided(&person.consent.marketing)),
        (ConsentCategory::Utility, decided(&person.consent.utility)),
    ]);
    let events = ledger
        .iter()
        .map(|e| EvidenceEvent { decides: deciding.contains(&&e.id), event: HistoryEvent::of(e.clone()) })
        .collect();
    let document = Evidence {
        contact: contact.to_string(),
        person: Identities {
            id: person.id.to_string(),
            wa_id: person.identities.phone().map(ToString::to_string),
            user_id: person.identities.user_id().map(ToString::to_string),
            parent_user_id: person.identities.parent_user_id().map(ToString::to_string),
        },
        generated_at: now,
        rule: CONSENT_RULE,
        current,
        events,
    };
    Ok(json_response(StatusCode::OK, &document))
}

/// `DELETE`: erasure of the person and every identity of theirs. Idempotent, and for an
/// unknown contact too — the tombstone is what the caller asked for ("never message them").
async fn erase<S: Contacts, M: MessageEraser + Sync, A, Q>(
    api: &ContactsApi<S, M, A, Q>,
    contact: &ContactRef,
) -> Result<Response<Body>, ApiError> {
    let erased = contacts::erase(&api.store, &api.messages, contact, polite_adapters::clock::now()).await;
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
