//! The WhatsApp Cloud API client: [`WhatsAppApi`] over `reqwest` (rustls).
//!
//! `POST {base_url}/{version}/{phone_number_id}/messages` with the access token as a bearer
//! token. The base URL and version are configuration (the simulator in `infra/` stands in for
//! Meta locally); the token is a secret (SSM in AWS, environment locally) and never logged —
//! `reqwest` marks the `Authorization` header sensitive. Answers are read by Meta's *error
//! code*, not the HTTP status (docs/whatsapp.md, "Sending": HTTP statuses are not reliable).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use polite_domain::ContactRef;
use polite_domain::ports::WhatsAppApi;
use polite_domain::whatsapp::{Accepted, Content, Endpoint, ErrorAction, GraphError, Outbound, SendFailure};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Env;

/// Configuration keys of the Graph API client.
pub mod keys {
    /// Default `https://graph.facebook.com`; the simulator's URL locally.
    pub const GRAPH_API_BASE_URL: &str = "GRAPH_API_BASE_URL";
    /// Default [`super::DEFAULT_VERSION`].
    pub const GRAPH_API_VERSION: &str = "GRAPH_API_VERSION";
    /// The business phone number's id (sender).
    pub const WHATSAPP_PHONE_NUMBER_ID: &str = "WHATSAPP_PHONE_NUMBER_ID";
    /// Whole-request timeout in milliseconds (default 10 000).
    pub const GRAPH_API_TIMEOUT_MS: &str = "GRAPH_API_TIMEOUT_MS";
    // The access token is a secret: `crate::secrets::keys::WHATSAPP_ACCESS_TOKEN`.
}

/// Meta's production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless configured (Meta's 2026 examples use v25.0).
pub const DEFAULT_VERSION: &str = "v25.0";
/// Whole-request timeout unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting must be quick; a slow connect is retried rather than waited on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub base_url: String,
    pub version: String,
    pub phone_number_id: String,
    pub token: SecretString,
    pub timeout: Duration,
}

impl GraphConfig {
    /// `base_url` (Meta's, or the simulator's) with the default version and timeout.
    pub fn new(base_url: impl Into<String>, phone_number_id: impl Into<String>, token: SecretString) -> Self {
        GraphConfig {
            base_url: base_url.into(),
            version: DEFAULT_VERSION.to_owned(),
            phone_number_id: phone_number_id.into(),
            token,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Reads the non-secret settings from `env` (recording what is missing there) and takes
    /// the token loaded by [`crate::secrets::load`].
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &mut Env<F>, token: SecretString) -> Self {
        let phone_number_id = env.required(keys::WHATSAPP_PHONE_NUMBER_ID);
        GraphConfig { phone_number_id, ..Self::from_env_without_number(env, token) }
    }

    /// As [`GraphConfig::from_env`], for a client that sends nothing (it reads the account's
    /// template list): no business phone number.
    pub fn from_env_without_number<F: Fn(&str) -> Option<String>>(env: &mut Env<F>, token: SecretString) -> Self {
        GraphConfig {
            base_url: env.optional(keys::GRAPH_API_BASE_URL).unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            version: env.optional(keys::GRAPH_API_VERSION).unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            phone_number_id: String::new(),
            token,
            timeout: Duration::from_millis(
                env.parsed(keys::GRAPH_API_TIMEOUT_MS, u64::try_from(DEFAULT_TIMEOUT.as_millis()).unwrap_or(10_000)),
            ),
        }
    }
}

/// The shortest time between two reads of the token from SSM by one instance: an auth error
/// storm (every message of a batch refused with 190) reads it once.
pub const TOKEN_REFRESH_INTERVAL: Duration = Duration::from_mins(1);

/// The Graph API client. Cheap to clone (one connection pool, one token shared by clones).
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// `{base_url}/{version}`.
    api_url: String,
    phone_number_id: String,
    token: Arc<Token>,
}

/// The access token in use, and where a fresh one is read when Meta refuses it (a business
/// rotates its system-user token; Meta answers 190 or 0 until polite reads the new one).
#[derive(Debug)]
struct Token {
    /// The token and its generation (bumped by each refresh that changed it).
    current: RwLock<(SecretString, u64)>,
    /// The SSM parameter holding it (`None` locally: the environment cannot change).
    source: Option<(aws_sdk_ssm::Client, String)>,
    /// When this instance last read it from SSM (one read at a time).
    last_read: tokio::sync::Mutex<Option<Instant>>,
}

impl Token {
    fn get(&self) -> (SecretString, u64) {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// After an auth error with the token of generation `used`: whether a different token is
    /// now in place — refreshed by another send meanwhile, or read from SSM now (at most once
    /// per [`TOKEN_REFRESH_INTERVAL`]).
    async fn refreshed_since(&self, used: u64) -> bool {
        let Some((ssm, name)) = &self.source else { return false };
        let mut last_read = self.last_read.lock().await;
        if self.get().1 != used {
            return true;
        }
        if last_read.is_some_and(|at| at.elapsed() < TOKEN_REFRESH_INTERVAL) {
            return false;
        }
        *last_read = Some(Instant::now());
        // GetParameters (not GetParameter): the call the function's role already grants.
        let read = ssm.get_parameters().names(name).with_decryption(true).send().await;
        let fresh = match read.map(|out| out.parameters.unwrap_or_default().into_iter().find_map(|p| p.value)) {
            Ok(Some(value)) => SecretString::from(value),
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(parameter = %name, error = %aws_sdk_ssm::error::DisplayErrorContext(&e), "access token could not be re-read");
                return false;
            }
        };
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.0.expose_secret() == fresh.expose_secret() {
            tracing::warn!(parameter = %name, "Meta refused the access token and SSM holds the same one");
            return false;
        }
        *current = (fresh, current.1 + 1);
        tracing::info!(parameter = %name, "access token re-read from SSM after an auth error");
        true
    }
}

impl GraphClient {
    /// Builds the client (at init: TLS set up once, connections pooled across invocations).
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(config: GraphConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout)
            .user_agent(concat!("polite/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let api_url = format!("{}/{}", config.base_url.trim_end_matches('/'), config.version.trim_matches('/'));
        let token =
            Token { current: RwLock::new((config.token, 0)), source: None, last_read: tokio::sync::Mutex::new(None) };
        Ok(GraphClient { http, api_url, phone_number_id: config.phone_number_id, token: Arc::new(token) })
    }

    /// Re-reads the token from the SSM parameter `name` when Meta refuses it (errors 190 and
    /// 0), then retries the send once with the new one.
    #[must_use]
    pub fn with_token_from_ssm(self, ssm: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        let (current, generation) = self.token.get();
        let token = Token {
            current: RwLock::new((current, generation)),
            source: Some((ssm, name.into())),
            last_read: tokio::sync::Mutex::new(None),
        };
        GraphClient { token: Arc::new(token), ..self }
    }

    async fn post(&self, message: &Outbound, token: &SecretString) -> Result<Accepted, SendFailure> {
        let response = self
            .http
            .post(self.endpoint_url(message.from.as_deref(), message.endpoint))
            .bearer_auth(token.expose_secret())
            .json(&SendBody::of(message))
            .send()
            .await
            .map_err(transport_failure)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_failure)?;
        read_answer(status.as_u16(), &body)
    }

    /// The URL messages from `from` (default: the configured number) are posted to.
    pub fn messages_url(&self, from: Option<&str>) -> String {
        self.endpoint_url(from, Endpoint::Messages)
    }

    /// The URL of `endpoint` for messages from `from` (default: the configured number).
    pub fn endpoint_url(&self, from: Option<&str>, endpoint: Endpoint) -> String {
        format!("{}/{}/{}", self.api_url, from.unwrap_or(&self.phone_number_id), endpoint.path())
    }
}

impl WhatsAppApi for GraphClient {
    async fn send(&self, message: &Outbound) -> Result<Accepted, SendFailure> {
        let (token, generation) = self.token.get();
        let result = self.post(message, &token).await;
        // An auth error proves Meta refused the message: with a fresh token it may go now.
        let auth_error = matches!(&result, Err(f) if f.action() == Some(ErrorAction::Reauthenticate));
        if auth_error && self.token.refreshed_since(generation).await {
            let (token, _) = self.token.get();
            return self.post(message, &token).await;
        }
        result
    }
}

/// Meta's template list of one WhatsApp Business Account (`GET /<WABA_ID>/message_templates`),
/// through the same client (token, base URL and version) as the sends.
#[derive(Debug, Clone)]
pub struct GraphCatalog {
    client: GraphClient,
    waba_id: String,
}

/// Templates per page asked of Meta.
const TEMPLATE_PAGE_SIZE: u32 = 100;

impl GraphCatalog {
    pub fn new(client: GraphClient, waba_id: impl Into<String>) -> Self {
        GraphCatalog { client, waba_id: waba_id.into() }
    }
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    data: Vec<polite_domain::template::ListedTemplate>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    /// Present only when there is a next page.
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl polite_domain::ports::TemplateCatalog for GraphCatalog {
    async fn page(
        &self,
        after: Option<&str>,
    ) -> Result<polite_domain::template::TemplatePage, polite_domain::template::CatalogError> {
        use polite_domain::template::{CatalogError, TemplatePage};
        let url = format!("{}/{}/message_templates", self.client.api_url, self.waba_id);
        let mut query = vec![
            ("fields", "id,name,language,status,category,quality_score".to_owned()),
            ("limit", TEMPLATE_PAGE_SIZE.to_string()),
        ];
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let (token, _) = self.client.token.get();
        let url = reqwest::Url::parse_with_params(&url, &query).map_err(|e| CatalogError::Unreachable(Box::new(e)))?;
        let response = self
            .client
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| CatalogError::Unreachable(Box::new(e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| CatalogError::Unreachable(Box::new(e)))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) => CatalogError::Refused { code: e.error.code, message: e.error.message },
                Err(_) => CatalogError::Refused { code: i64::from(status.as_u16()), message: "no error body".into() },
            });
        }
        let list: ListBody = serde_json::from_slice(&body).map_err(|e| CatalogError::Unreachable(Box::new(e)))?;
        let after = list.paging.filter(|p| p.next.is_some()).and_then(|p| p.cursors?.after);
        Ok(TemplatePage { templates: list.data, after })
    }
}

/// A request that failed without an answer: before the connection existed it is safe to
/// retry; after, Meta may have accepted it.
fn transport_failure(error: reqwest::Error) -> SendFailure {
    if error.is_connect() || error.is_builder() {
        SendFailure::Unreachable(Box::new(error))
    } else {
        SendFailure::OutcomeUnknown
    }
}

/// Reads Meta's answer: the accepted message, Meta's error, or neither.
///
/// # Errors
/// [`SendFailure::Rejected`] for an error body; [`SendFailure::BadResponse`] for anything else
/// that is not a success.
pub fn read_answer(http_status: u16, body: &[u8]) -> Result<Accepted, SendFailure> {
    if (200..300).contains(&http_status)
        && let Ok(success) = serde_json::from_slice::<SuccessBody>(body)
        && let Some(message) = success.messages.into_iter().next()
    {
        let contact = success.contacts.into_iter().next().unwrap_or_default();
        return Ok(Accepted {
            wamid: message.id,
            message_status: message.message_status,
            wa_id: polite_domain::people::phone_in(contact.wa_id.as_deref()),
            user_id: polite_domain::people::user_in(contact.user_id.as_deref()),
        });
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => Err(SendFailure::Rejected {
            http_status,
            error: GraphError {
                code: error.code,
                error_subcode: error.error_subcode,
                message: error.message,
                details: error.error_data.and_then(|d| d.details),
                fbtrace_id: error.fbtrace_id,
            },
        }),
        Err(_) => Err(SendFailure::BadResponse { http_status }),
    }
}

/// The request body (docs/whatsapp.md, "Sending").
#[derive(Debug, Serialize)]
struct SendBody<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    /// A phone number (E.164)…
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// …or, for a person known only by it, their business-scoped user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a serde_json::Value>,
    /// Other free-form content: its `type`'s object under the type's name.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    content: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<ReplyContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_opaque_callback_data: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct TextBody<'a> {
    body: &'a str,
    preview_url: bool,
}

#[derive(Debug, Serialize)]
struct ReplyContext<'a> {
    message_id: &'a str,
}

impl<'a> SendBody<'a> {
    fn of(message: &'a Outbound) -> Self {
        let (kind, text, template, content) = match &message.content {
            Content::Text { body } => ("text", Some(TextBody { body, preview_url: false }), None, None),
            Content::Template(template) => ("template", None, Some(template), None),
            Content::Message(m) => {
                let kind = m["type"].as_str().unwrap_or_default();
                let object = [(kind.to_owned(), m[kind].clone())].into_iter().collect();
                (kind, None, None, Some(object))
            }
        };
        let (to, recipient) = match &message.to {
            ContactRef::Phone(phone) => (Some(phone.e164()), None),
            ContactRef::User(user) => (None, Some(user.as_str())),
        };
        SendBody {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            recipient,
            kind,
            text,
            template,
            content,
            context: message.reply_to.as_deref().map(|message_id| ReplyContext { message_id }),
            biz_opaque_callback_data: message.callback_data.as_deref(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct SuccessBody {
    messages: Vec<SuccessMessage>,
    #[serde(default)]
    contacts: Vec<SuccessContact>,
}

/// The answer's `contacts[]` entry: `input` as sent, `wa_id` and/or `user_id`.
#[derive(Debug, Default, Deserialize)]
struct SuccessContact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SuccessMessage {
    id: String,
    #[serde(default)]
    message_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: MetaError,
}

#[derive(Debug, Deserialize)]
struct MetaError {
    message: String,
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_data: Option<ErrorData>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

#[cfg(test)]
mod tests {
    use polite_domain::WaId;

    use super::*;

    #[test]
    fn a_success_answer_gives_the_wamid_and_the_pacing_status() {
        let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],
            "messages":[{"id":"wamid.HBgL","message_status":"held_for_quality_assessment"}]}"#;
        let accepted = read_answer(200, body).unwrap();
        assert_eq!(accepted.wamid, "wamid.HBgL");
        assert_eq!(accepted.message_status.as_deref(), Some("held_for_quality_assessment"));
    }

    #[test]
    fn an_error_body_is_read_by_its_code_whatever_the_http_status() {
        let body = br#"{"error":{"message":"(#131050) Unable to deliver message","type":"OAuthException","code":131050,
            "error_data":{"messaging_product":"whatsapp","details":"User stopped marketing"},"fbtrace_id":"AxYz"}}"#;
        for status in [400, 200, 500] {
            let Err(SendFailure::Rejected { http_status, error }) = read_answer(status, body) else {
                panic!("not read as a rejection at http {status}");
            };
            assert_eq!(http_status, status);
            assert_eq!(error.code, 131_050);
            assert_eq!(error.action(), ErrorAction::OptOut);
            assert_eq!(error.details.as_deref(), Some("User stopped marketing"));
            assert_eq!(error.fbtrace_id.as_deref(), Some("AxYz"));
        }
    }

    #[test]
    fn the_answers_contact_shows_the_persons_identities_together() {
        let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+5511987654321","wa_id":"5511987654321","user_id":"BR.13491208655302741918"}],"messages":[{"id":"wamid.A"}]}"#;
        let accepted = read_answer(200, body).unwrap();
        assert_eq!(accepted.wa_id.as_ref().map(WaId::as_str), Some("5511987654321"));
        let at = jiff::Timestamp::UNIX_EPOCH;
        let linked = accepted.linked(at).unwrap();
        assert_eq!(linked.identities().len(), 2);
        // A send by `recipient` is answered with the user id only: nothing to link.
        let by_user = br#"{"contacts":[{"input":"BR.13491208655302741918","user_id":"BR.13491208655302741918"}],"messages":[{"id":"wamid.B"}]}"#;
        assert!(read_answer(200, by_user).unwrap().linked(at).is_none());
    }

    #[test]
    fn an_answer_of_another_shape_is_a_bad_response() {
        for (status, body) in [(502, &b"<html>Bad Gateway</html>"[..]), (200, br#"{"messages":[]}"#), (200, b"")] {
            assert!(
                matches!(read_answer(status, body), Err(SendFailure::BadResponse { http_status }) if http_status == status),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_text_reply_is_sent_in_metas_shape() {
        let message = Outbound {
            from: None,
            to: WaId::parse("+16505551234").unwrap().into(),
            content: Content::Text { body: "You will get no more promotions.".into() },
            callback_data: Some("polite-confirmation:wamid.A".into()),
            reply_to: Some("wamid.A".into()),
            endpoint: Endpoint::Messages,
        };
        let body = serde_json::to_value(SendBody::of(&message)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234",
                "type": "text", "text": {"body": "You will get no more promotions.", "preview_url": false},
                "context": {"message_id": "wamid.A"}, "biz_opaque_callback_data": "polite-confirmation:wamid.A"
            })
        );
    }

    #[test]
    fn a_template_is_passed_through_and_the_url_joins_its_parts() {
        let template = serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}});
        let message = Outbound {
            from: None,
            to: polite_domain::BusinessScopedUserId::parse("BR.13491208655302741918").unwrap().into(),
            content: Content::Template(template.clone()),
            callback_data: None,
            reply_to: None,
            endpoint: Endpoint::Messages,
        };
        let body = serde_json::to_value(SendBody::of(&message)).unwrap();
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"], template);
        // A person known only by their business-scoped user id is sent to by `recipient`.
        assert_eq!(body["recipient"], "BR.13491208655302741918");
        assert!(body.get("to").is_none());
        assert!(body.get("text").is_none() && body.get("biz_opaque_callback_data").is_none());
        let client = GraphClient::new(GraphConfig {
            base_url: "http://127.0.0.1:4590/".into(),
            version: "v25.0".into(),
            phone_number_id: "106540352242922".into(),
            token: SecretString::from("t"),
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert_eq!(client.messages_url(None), "http://127.0.0.1:4590/v25.0/106540352242922/messages");
        assert_eq!(client.messages_url(Some("555")), "http://127.0.0.1:4590/v25.0/555/messages");
        assert_eq!(
            client.endpoint_url(None, Endpoint::MarketingMessages),
            "http://127.0.0.1:4590/v25.0/106540352242922/marketing_messages"
        );
    }
}
