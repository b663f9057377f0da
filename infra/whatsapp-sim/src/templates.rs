//! The business's message templates, as Meta keeps them: listed by
//! `GET /{version}/{waba_id}/message_templates` (paginated, Graph-style cursors), changed on
//! demand by `POST /_sim/templates` — which posts the template webhook Meta would
//! (`message_template_status_update` for a status, `template_category_update` for a completed
//! re-categorisation) — and checked on send: a PAUSED template fails with 132015, a DISABLED
//! one with 132016, a send whose body parameters are not as many as the body's placeholders
//! with 132000.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::graph::MetaError;
use crate::webhooks::{bad_request, delivered};
use crate::{Shared, SimConfig};

/// One template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTemplate {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    /// Meta's `components` (header, body, footer, buttons) with their placeholders; listed
    /// only when the template has some.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
    /// `NAMED` (`{{first_name}}`) or `POSITIONAL` (`{{1}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_format: Option<String>,
}

impl SimTemplate {
    /// An approved template.
    pub fn approved(name: &str, language: &str, category: &str) -> Self {
        SimTemplate {
            name: name.into(),
            language: language.into(),
            category: category.to_ascii_uppercase(),
            status: "APPROVED".into(),
            components: Vec::new(),
            parameter_format: None,
        }
    }

    /// The template with this body text; its placeholders named (`{{first_name}}`) when
    /// `named`, else positions (`{{1}}`).
    #[must_use]
    pub fn with_body(mut self, text: &str, named: bool) -> Self {
        self.components = vec![json!({"type": "BODY", "text": text})];
        self.parameter_format = Some(if named { "NAMED" } else { "POSITIONAL" }.into());
        self
    }

    /// How many distinct placeholders the body has.
    fn body_placeholders(&self) -> usize {
        let body = self.components.iter().find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")));
        let text = body.and_then(|b| b["text"].as_str()).unwrap_or_default();
        let mut seen: Vec<&str> = Vec::new();
        for part in text.split("{{").skip(1) {
            if let Some((name, _)) = part.split_once("}}")
                && !seen.contains(&name.trim())
            {
                seen.push(name.trim());
            }
        }
        seen.len()
    }

    /// Meta's id of the template (stable: derived from name and language).
    pub fn id(&self) -> String {
        (polite_domain::ids::stable_hash(&format!("{}/{}", self.name, self.language)) % 10u64.pow(15)).to_string()
    }
}

/// `SIM_TEMPLATES`: `name/language=CATEGORY[/STATUS]`, comma-separated.
///
/// # Errors
/// Naming the entry that does not read.
pub(crate) fn parse_list(text: &str) -> anyhow::Result<Vec<SimTemplate>> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(key, rest)| {
            let (name, language) = key.split_once('/')?;
            let (category, status) = rest.split_once('/').unwrap_or((rest, "APPROVED"));
            Some(SimTemplate {
                name: name.trim().into(),
                language: language.trim().into(),
                category: category.trim().to_ascii_uppercase(),
                status: status.trim().to_ascii_uppercase(),
                components: Vec::new(),
                parameter_format: None,
            })
        });
        let Some(template) = parsed else {
            anyhow::bail!(
                "SIM_TEMPLATES: {entry} is not name/language=CATEGORY[/STATUS] (e.g. order_update/en_US=UTILITY)"
            );
        };
        out.push(template);
    }
    Ok(out)
}

/// Templates per page when the caller does not say.
const DEFAULT_LIMIT: usize = 25;

/// `limit` and `after` of a list request.
#[derive(Debug, Default)]
struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Self {
        let mut out = ListQuery::default();
        for pair in query.unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some(("limit", n)) => out.limit = n.parse().ok(),
                Some(("after", cursor)) => out.after = Some(cursor.to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// `GET /{version}/{waba_id}/message_templates`.
pub(crate) async fn list(
    State(shared): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = ListQuery::parse(query.as_deref());
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(shared.lock().access_token.as_str()) {
        return MetaError::new(190, "Invalid OAuth access token - Cannot parse access token")
            .status(StatusCode::UNAUTHORIZED)
            .into_response();
    }
    if waba_id != shared.config.waba_id {
        return MetaError::new(100, &format!("Unsupported get request. Object with ID '{waba_id}' does not exist."))
            .into_response();
    }
    let start = match query.after.as_deref().map(|c| c.strip_prefix("cursor").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => {
            return MetaError::new(100, "(#100) Invalid parameter: after is not a valid cursor.").into_response();
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000);
    let templates = shared.lock().templates.clone();
    let page: Vec<Value> = templates
        .iter()
        .skip(start)
        .take(limit)
        .map(|t| {
            let mut listed = json!({"id": t.id(), "name": t.name, "language": t.language, "status": t.status,
                   "category": t.category, "quality_score": {"score": "GREEN"}});
            if !t.components.is_empty() {
                listed["components"] = json!(t.components);
                listed["parameter_format"] = json!(t.parameter_format);
            }
            listed
        })
        .collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": format!("cursor{start}"), "after": format!("cursor{end}")}});
    if end < templates.len() {
        paging["next"] = json!(format!("/{version}/{waba_id}/message_templates?limit={limit}&after=cursor{end}"));
    }
    axum::Json(json!({"data": page, "paging": paging})).into_response()
}

/// `POST /_sim/templates`: Meta changes a template's status or (a completed re-categorisation)
/// its category, and tells the business by webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    name: String,
    language: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    category: Option<String>,
    /// Meta's reason for a status (`LOW_QUALITY`, …); `NONE` when unset.
    #[serde(default)]
    reason: Option<String>,
}

pub(crate) async fn change(State(shared): State<Shared>, body: axum::body::Bytes) -> Response {
    let change: Change = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(&format!("not a template change: {e}")),
    };
    let category = change.category.as_deref().map(str::to_ascii_uppercase);
    if category.as_deref().is_some_and(|c| !matches!(c, "MARKETING" | "UTILITY" | "AUTHENTICATION")) {
        return bad_request("category: must be MARKETING, UTILITY or AUTHENTICATION");
    }
    let status = change.status.as_deref().map(str::to_ascii_uppercase);
    if status.is_none() == category.is_none() {
        return bad_request("send exactly one of status or category");
    }
    if shared.config.webhook.is_none() {
        let message = "no webhook configured: start the simulator with SIM_WEBHOOK_URL and SIM_APP_SECRET";
        return (StatusCode::CONFLICT, axum::Json(json!({"error": {"message": message}}))).into_response();
    }
    let (template, previous) = {
        let mut inner = shared.lock();
        let index = inner.templates.iter().position(|t| t.name == change.name && t.language == change.language);
        let Some(index) = index else {
            return bad_request(
                "no such template (name and language): list them with GET /{version}/{waba_id}/message_templates",
            );
        };
        let template = &mut inner.templates[index];
        let previous = template.clone();
        if let Some(status) = &status {
            template.status.clone_from(status);
        }
        if let Some(category) = &category {
            template.category.clone_from(category);
        }
        (template.clone(), previous)
    };
    let now = shared.config.clock.now().as_second();
    let (field, value) = match (&status, &category) {
        (Some(status), _) => (
            "message_template_status_update",
            json!({"event": status, "message_template_id": template.id().parse::<u64>().unwrap_or_default(),
                   "message_template_name": template.name, "message_template_language": template.language,
                   "reason": change.reason.as_deref().unwrap_or("NONE"),
                   "message_template_category": template.category}),
        ),
        _ => (
            "template_category_update",
            json!({"message_template_id": template.id().parse::<u64>().unwrap_or_default(),
                   "message_template_name": template.name, "message_template_language": template.language,
                   "previous_category": previous.category, "new_category": template.category,
                   "category_update_timestamp": now}),
        ),
    };
    let body = envelope(&shared.config, field, &value, now);
    delivered(&shared, &body, "template", &template.id(), json!({"template": template})).await
}

/// A template webhook: no `metadata` (it is about the account, not a number), the entry's
/// `time`.
fn envelope(config: &SimConfig, field: &str, value: &Value, now: i64) -> Vec<u8> {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": config.waba_id, "time": now, "changes": [{"field": field, "value": value}]}]})
    .to_string()
    .into_bytes()
}

/// Meta's refusal of a send with a template it holds: paused (132015) or disabled (132016).
pub(crate) fn refusal(shared: &Shared, name: &str, language: &str, request: &Value) -> Option<MetaError> {
    let inner = shared.lock();
    let template = inner.templates.iter().find(|t| t.name == name && t.language == language)?;
    match template.status.as_str() {
        "PAUSED" => return Some(MetaError::new(132_015, "Template is paused due to low quality")),
        "DISABLED" => {
            return Some(MetaError::new(132_016, "Template has been paused too many times and is now disabled"));
        }
        _ => {}
    }
    let components = request.pointer("/template/components").and_then(Value::as_array);
    let given = components
        .into_iter()
        .flatten()
        .filter(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
        .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    (!template.components.is_empty() && given != template.body_placeholders())
        .then(|| MetaError::new(132_000, "(#132000) Number of parameters does not match the expected number of params"))
}
