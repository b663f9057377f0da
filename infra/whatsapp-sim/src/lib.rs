//! A WhatsApp Cloud API simulator (docs/architecture.md, "The WhatsApp simulator"): a real HTTP server that answers polite's
//! Graph API calls the way Meta does and posts Meta's webhooks back, so the functions, the
//! tests and the local stack run with no Meta account.
//!
//! - `POST /{version}/{phone_number_id}/messages`: bearer-token check (190), the phone number
//!   id checked (100/33), request validation (100 naming the parameter), templates checked
//!   against an approved list when one is configured (132001), Meta-shaped success bodies and
//!   deterministic per-recipient outcomes ([`outcome_for`]: a number ending `0050` fails with
//!   131050, `0026` with 131026, `0049` with 131049, …);
//! - after accepting, **signed status webhooks** (`sent`, `delivered`, `read`, or `failed`
//!   with Meta's error) posted to the configured webhook URL with `biz_opaque_callback_data`,
//!   at configurable delays; pricing on `delivered`;
//! - knobs, drawn from a seeded generator so a run repeats: throughput errors (130429), server
//!   errors (131000), timeouts (accepted, answered too late), ambiguous answers (accepted,
//!   answered 200 without a body or 504 with a gateway's page), duplicate and out-of-order
//!   status delivery, the share of messages read;
//! - `POST /_sim/inbound`: a user sends a text, taps a quick-reply button, or stops/resumes
//!   marketing in WhatsApp — posted to the webhook, signed;
//! - `GET /{version}/{waba_id}/message_templates`: the business's templates, paginated;
//!   `POST /_sim/templates`: Meta pauses, disables or approves one, or re-categorises it —
//!   posted as the template webhook; a paused template's sends fail with 132015, a disabled
//!   one's with 132016;
//! - `GET /_sim/messages` (what it accepted), `GET /_sim/webhooks` (what it posted and the
//!   answers), `POST /_sim/reset`.

mod graph;
mod templates;
mod users;
mod webhooks;

pub use templates::SimTemplate;
pub use users::{SimUser, USERNAME_ENDING};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

pub use graph::{MetaError, Outcome, outcome_for};
pub use webhooks::WebhookLog;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The business phone number id it serves (`/{version}/{this}/messages`).
    pub phone_number_id: String,
    /// The business number as webhooks show it (`metadata.display_phone_number`).
    pub display_phone_number: String,
    /// The WhatsApp Business Account id webhooks carry (`entry[].id`).
    pub waba_id: String,
    /// The access token callers must present as `Authorization: Bearer …`.
    pub access_token: String,
    /// When set, only these template names are accepted (others fail with 132001).
    pub approved_templates: Option<Vec<String>>,
    /// Meta's pricing category of a template (`marketing` when not listed).
    pub template_categories: BTreeMap<String, String>,
    /// The business's templates (`GET /{version}/{waba_id}/message_templates`, changed by
    /// `POST /_sim/templates`); a template listed here sends under its category and fails
    /// while PAUSED (132015) or DISABLED (132016).
    pub templates: Vec<SimTemplate>,
    /// Whether the business accepted the Marketing Messages API's terms (else every send to
    /// `/marketing_messages` fails with 131055).
    pub marketing_terms_accepted: bool,
    /// Marketing templates turned off on `/messages` for this account (they fail with 131063).
    pub marketing_off_on_messages: bool,
    /// Added before every Graph API answer.
    pub latency: Duration,
    /// Where webhooks go; `None`: nothing is posted.
    pub webhook: Option<WebhookTarget>,
    /// How long after acceptance each status happens.
    pub status_delays: StatusDelays,
    /// How an undeliverable recipient (`0050`, `0026`, `0049`, `0047`) is reported.
    pub failures: FailureReport,
    pub knobs: Knobs,
    /// Retries of a webhook the business did not take (Meta retries for days; here seconds).
    pub webhook_retries: usize,
    /// What time it is for the simulator (its log's `accepted_at`, the webhooks' `timestamp`).
    pub clock: Clock,
}

/// The simulator's clock: the system's, or one its caller keeps (the dev stack's test clock,
/// so Meta's timestamps agree with the time polite's functions are told).
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>>);

impl Clock {
    /// A clock that asks `now` what time it is.
    pub fn from_fn(now: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.0.as_ref().map_or_else(jiff::Timestamp::now, |now| now())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Clock(given)" } else { "Clock(system)" })
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            phone_number_id: "106540352242922".into(),
            display_phone_number: "15550001111".into(),
            waba_id: "900100200300".into(),
            access_token: "polite-local-access-token".into(),
            approved_templates: None,
            template_categories: BTreeMap::new(),
            templates: Vec::new(),
            marketing_terms_accepted: true,
            marketing_off_on_messages: false,
            latency: Duration::ZERO,
            webhook: None,
            status_delays: StatusDelays::default(),
            failures: FailureReport::Response,
            knobs: Knobs::default(),
            webhook_retries: 4,
            clock: Clock::default(),
        }
    }
}

impl SimConfig {
    /// Meta's pricing category of template `name`.
    pub fn template_category(&self, name: &str) -> &str {
        self.template_categories.get(name).map_or("marketing", String::as_str)
    }
}

impl SimConfig {
    /// The configuration from `SIM_*` variables (`var` looks one up; unset and empty are the
    /// same), every other field at its default. See the binary's docs for the table.
    ///
    /// # Errors
    /// Naming the variable whose value cannot be read.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<SimConfig> {
        let var = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let d = SimConfig::default();
        let millis = |key: &str, default: Duration| -> anyhow::Result<Duration> {
            var(key).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .map(Duration::from_millis)
                    .map_err(|_| anyhow::anyhow!("{key}={v} is not a number of milliseconds"))
            })
        };
        let rate = |key: &str, default: f64| -> anyhow::Result<f64> {
            var(key).map_or(Ok(default), |v| match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(anyhow::anyhow!("{key}={v} is not a probability between 0 and 1")),
            })
        };
        let flag = |key: &str, default: bool| -> anyhow::Result<bool> {
            var(key).map_or(Ok(default), |v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(anyhow::anyhow!("{key}={other} is not true or false")),
            })
        };
        let list = |key: &str| -> Vec<String> {
            var(key)
                .map(|v| v.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect())
                .unwrap_or_default()
        };
        let webhook = match (var("SIM_WEBHOOK_URL"), var("SIM_APP_SECRET")) {
            (Some(url), Some(app_secret)) => Some(WebhookTarget { url, app_secret }),
            (None, None) => None,
            _ => {
                anyhow::bail!("SIM_WEBHOOK_URL and SIM_APP_SECRET go together: webhooks are signed with the app secret")
            }
        };
        let status_delays = match var("SIM_STATUS_DELAYS_MS") {
            None => d.status_delays,
            Some(v) => {
                let parsed: Vec<u64> =
                    v.split(',').map(|p| p.trim().parse()).collect::<Result<_, _>>().unwrap_or_default();
                let [sent, delivered, read] = parsed[..] else {
                    anyhow::bail!(
                        "SIM_STATUS_DELAYS_MS={v} is not three milliseconds (sent,delivered,read), e.g. 100,500,1500"
                    );
                };
                StatusDelays {
                    sent: Duration::from_millis(sent),
                    delivered: Duration::from_millis(delivered),
                    read: Duration::from_millis(read),
                }
            }
        };
        let failures = match var("SIM_FAILURES").as_deref().map(str::trim) {
            None | Some("response") => FailureReport::Response,
            Some("webhook") => FailureReport::Webhook,
            Some(other) => anyhow::bail!("SIM_FAILURES={other}: use response or webhook"),
        };
        let mut template_categories = BTreeMap::new();
        for entry in list("SIM_TEMPLATE_CATEGORIES") {
            let Some((name, category)) = entry.split_once('=') else {
                anyhow::bail!("SIM_TEMPLATE_CATEGORIES: {entry} is not name=category (e.g. order_update=utility)");
            };
            template_categories.insert(name.trim().to_owned(), category.trim().to_owned());
        }
        let seed = match var("SIM_SEED") {
            None => d.knobs.seed,
            Some(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("SIM_SEED={v} is not a whole number"))?,
        };
        Ok(SimConfig {
            phone_number_id: var("SIM_PHONE_NUMBER_ID").unwrap_or(d.phone_number_id),
            display_phone_number: var("SIM_DISPLAY_PHONE_NUMBER").unwrap_or(d.display_phone_number),
            waba_id: var("SIM_WABA_ID").unwrap_or(d.waba_id),
            access_token: var("SIM_ACCESS_TOKEN").unwrap_or(d.access_token),
            approved_templates: var("SIM_APPROVED_TEMPLATES").map(|_| list("SIM_APPROVED_TEMPLATES")),
            template_categories,
            templates: var("SIM_TEMPLATES").map(|v| templates::parse_list(&v)).transpose()?.unwrap_or_default(),
            marketing_terms_accepted: flag("SIM_MARKETING_TERMS_ACCEPTED", d.marketing_terms_accepted)?,
            marketing_off_on_messages: flag("SIM_MARKETING_OFF_ON_MESSAGES", d.marketing_off_on_messages)?,
            latency: millis("SIM_LATENCY_MS", d.latency)?,
            webhook,
            status_delays,
            failures,
            knobs: Knobs {
                throttle_rate: rate("SIM_THROTTLE_RATE", d.knobs.throttle_rate)?,
                server_error_rate: rate("SIM_SERVER_ERROR_RATE", d.knobs.server_error_rate)?,
                timeout_rate: rate("SIM_TIMEOUT_RATE", d.knobs.timeout_rate)?,
                timeout: millis("SIM_TIMEOUT_MS", d.knobs.timeout)?,
                empty_answer_rate: rate("SIM_EMPTY_ANSWER_RATE", d.knobs.empty_answer_rate)?,
                gateway_timeout_rate: rate("SIM_GATEWAY_TIMEOUT_RATE", d.knobs.gateway_timeout_rate)?,
                duplicate_rate: rate("SIM_DUPLICATE_RATE", d.knobs.duplicate_rate)?,
                reorder_rate: rate("SIM_REORDER_RATE", d.knobs.reorder_rate)?,
                read_rate: rate("SIM_READ_RATE", d.knobs.read_rate)?,
                seed,
            },
            webhook_retries: d.webhook_retries,
            clock: d.clock,
        })
    }
}

/// The business's webhook: URL and the app secret webhooks are signed with.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub app_secret: String,
}

/// When each status happens after the send was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDelays {
    pub sent: Duration,
    pub delivered: Duration,
    pub read: Duration,
}

impl Default for StatusDelays {
    fn default() -> Self {
        StatusDelays {
            sent: Duration::from_millis(100),
            delivered: Duration::from_millis(500),
            read: Duration::from_millis(1_500),
        }
    }
}

/// How Meta reports a message it accepted but cannot deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReport {
    /// As an error answering the send (what the sender's error handling is tested with).
    Response,
    /// As Meta documents it for 131050 and friends: the send is accepted (a wamid), then a
    /// `failed` status webhook carries the error.
    Webhook,
}

/// Random behaviour, as probabilities in 0..=1, drawn from a generator seeded with `seed` (the
/// same requests in the same order meet the same fate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// Sends answered 130429 (HTTP 429).
    pub throttle_rate: f64,
    /// Sends answered 131000 (HTTP 500).
    pub server_error_rate: f64,
    /// Sends accepted but answered only after `timeout` (the caller's outcome is unknown).
    pub timeout_rate: f64,
    pub timeout: Duration,
    /// Sends accepted but answered 200 with no body (an ambiguous answer).
    pub empty_answer_rate: f64,
    /// Sends accepted but answered 504 with a gateway's HTML page (an ambiguous answer).
    pub gateway_timeout_rate: f64,
    /// Status webhooks posted twice.
    pub duplicate_rate: f64,
    /// Messages whose statuses are posted in reverse order (`read` first, `sent` last).
    pub reorder_rate: f64,
    /// Delivered messages that are read.
    pub read_rate: f64,
    pub seed: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            throttle_rate: 0.0,
            server_error_rate: 0.0,
            timeout_rate: 0.0,
            timeout: Duration::from_secs(30),
            empty_answer_rate: 0.0,
            gateway_timeout_rate: 0.0,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            read_rate: 1.0,
            seed: 1,
        }
    }
}

/// A message the simulator accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimMessage {
    pub wamid: String,
    /// The recipient, digits only.
    pub to: String,
    /// The business-scoped user id the send was addressed to (`recipient`), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The recipient as webhooks show them (user id, username, a withheld phone).
    #[serde(skip)]
    pub user: SimUser,
    /// `text`, `template`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `text.body`, for text messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `template.name`, for templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Meta's pricing category of a template at the time of the send (`marketing`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The endpoint it came to: `messages` or `marketing_messages`.
    pub endpoint: &'static str,
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
#[derive(Debug)]
struct Inner {
    /// The access token sends must carry (the configured one until [`Simulator::rotate_token`]).
    access_token: String,
    accepted: Vec<SimMessage>,
    webhooks: Vec<WebhookLog>,
    next_id: u64,
    rng: fastrand::Rng,
    /// The users the business has been shown (in an answer or a webhook), by user id. A send
    /// by `recipient` reaches only these.
    users: BTreeMap<String, SimUser>,
    /// Users whose business-scoped user id WhatsApp regenerated (`/_sim/inbound` with
    /// `"change": "user_id"`): phone digits → their id now.
    renamed: BTreeMap<String, String>,
    /// The business's templates now (their status and category change on demand).
    templates: Vec<SimTemplate>,
}

impl Inner {
    /// A new wamid, unique in this simulator: `wamid.<prefix><counter>`.
    fn next_wamid(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("wamid.{prefix}{:016X}", self.next_id)
    }

    /// The user behind `phone`, now known to the business.
    fn user(&mut self, phone: &polite_domain::WaId) -> SimUser {
        let mut user = SimUser::of(phone);
        if let Some(id) = self.renamed.get(&user.phone) {
            user.user_id.clone_from(id);
        }
        self.users.insert(user.user_id.clone(), user.clone());
        user
    }
}

#[derive(Debug, Clone)]
struct Shared {
    config: Arc<SimConfig>,
    inner: Arc<Mutex<Inner>>,
    client: reqwest::Client,
}

impl Shared {
    /// Meta's pricing category of template `name` in `language` now: the listed template's,
    /// else the configured one.
    fn template_category(&self, name: &str, language: &str) -> String {
        let listed = self
            .lock()
            .templates
            .iter()
            .find(|t| t.name == name && t.language == language)
            .map(|t| t.category.to_ascii_lowercase());
        listed.unwrap_or_else(|| self.config.template_category(name).to_owned())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A handler that panicked mid-update cannot leave the lists half-written (each update
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("building the webhook client: {e}"))?;
        let inner = Inner {
            access_token: config.access_token.clone(),
            accepted: Vec::new(),
            webhooks: Vec::new(),
            next_id: 0,
            rng: fastrand::Rng::with_seed(config.knobs.seed),
            users: BTreeMap::new(),
            renamed: BTreeMap::new(),
            templates: config.templates.clone(),
        };
        let shared = Shared { config: Arc::new(config), inner: Arc::new(Mutex::new(inner)), client };
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

    /// The business rotated its access token: from now on only `token` is accepted (the old
    /// one gets Meta's 190).
    pub fn rotate_token(&self, token: &str) {
        token.clone_into(&mut self.shared.lock().access_token);
    }

    /// Every message accepted so far, oldest first.
    pub fn accepted(&self) -> Vec<SimMessage> {
        self.shared.lock().accepted.clone()
    }

    /// Every webhook posted so far (each status, each inbound message), in order.
    pub fn webhooks(&self) -> Vec<WebhookLog> {
        self.shared.lock().webhooks.clone()
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
        .route("/{version}/{phone_number_id}/messages", post(graph::send_message))
        .route("/{version}/{phone_number_id}/marketing_messages", post(graph::send_marketing_message))
        // The same parameter name as the sends: the router wants one per position.
        .route("/{version}/{phone_number_id}/message_templates", get(templates::list))
        .route("/_sim/inbound", post(webhooks::inbound))
        .route("/_sim/templates", post(templates::change))
        .route("/_sim/messages", get(list_messages))
        .route("/_sim/webhooks", get(list_webhooks))
        .route("/_sim/reset", post(reset))
        .with_state(shared)
}

async fn list_messages(State(shared): State<Shared>) -> Response {
    let messages = shared.lock().accepted.clone();
    axum::Json(json!({ "messages": messages })).into_response()
}

async fn list_webhooks(State(shared): State<Shared>) -> Response {
    let webhooks = shared.lock().webhooks.clone();
    axum::Json(json!({ "webhooks": webhooks })).into_response()
}

async fn reset(State(shared): State<Shared>) -> StatusCode {
    let mut inner = shared.lock();
    inner.accepted.clear();
    inner.webhooks.clear();
    inner.renamed.clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn the_environment_sets_webhooks_delays_failures_and_knobs() {
        let config = SimConfig::from_env(env(&[
            ("SIM_WEBHOOK_URL", "http://127.0.0.1:3000/webhook"),
            ("SIM_APP_SECRET", "s3cret"),
            ("SIM_STATUS_DELAYS_MS", "10, 20,30"),
            ("SIM_FAILURES", "webhook"),
            ("SIM_DUPLICATE_RATE", "0.25"),
            ("SIM_READ_RATE", "0.5"),
            ("SIM_SEED", "42"),
            ("SIM_TEMPLATE_CATEGORIES", "order_update=utility, otp=authentication"),
            ("SIM_APPROVED_TEMPLATES", "order_update,otp"),
            ("SIM_LATENCY_MS", ""),
        ]))
        .unwrap();
        assert_eq!(config.webhook.as_ref().map(|w| w.url.as_str()), Some("http://127.0.0.1:3000/webhook"));
        assert_eq!(config.status_delays.delivered, Duration::from_millis(20));
        assert_eq!(config.failures, FailureReport::Webhook);
        assert_eq!((config.knobs.duplicate_rate, config.knobs.read_rate, config.knobs.seed), (0.25, 0.5, 42));
        assert_eq!(config.template_category("otp"), "authentication");
        assert_eq!(config.template_category("spring_sale"), "marketing");
        assert_eq!(config.approved_templates, Some(vec!["order_update".to_owned(), "otp".to_owned()]));
        assert_eq!(config.latency, Duration::ZERO, "empty is unset");
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_variable() {
        let cases = [
            (vec![("SIM_WEBHOOK_URL", "http://x")], "SIM_APP_SECRET"),
            (vec![("SIM_STATUS_DELAYS_MS", "10,20")], "SIM_STATUS_DELAYS_MS"),
            (vec![("SIM_THROTTLE_RATE", "1.5")], "SIM_THROTTLE_RATE"),
            (vec![("SIM_FAILURES", "sometimes")], "SIM_FAILURES"),
            (vec![("SIM_TEMPLATE_CATEGORIES", "otp")], "SIM_TEMPLATE_CATEGORIES"),
            (vec![("SIM_TIMEOUT_MS", "soon")], "SIM_TIMEOUT_MS"),
        ];
        for (pairs, variable) in cases {
            let error = SimConfig::from_env(env(&pairs)).unwrap_err().to_string();
            assert!(error.contains(variable), "{pairs:?}: {error}");
        }
    }
}
