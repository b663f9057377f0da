//! The local API Gateway: serves the template's HttpApi routes on `127.0.0.1:3000` by turning
//! each request into the payload-format-2.0 event API Gateway would send, invoking the route's
//! function and turning its answer back into HTTP. Routes come from `template.yaml`'s events
//! ([`FunctionSpec::routes`]), so they cannot drift from what is deployed.
//!
//! Differences from AWS, on purpose: no IAM authorizer on `/v1/*` (docs/architecture.md, "HTTP contract"), and a known
//! path asked with a method no route has answers 405 with `Allow` (`openapi.yaml`) where API
//! Gateway answers 404.

use std::collections::HashMap;
use std::net::SocketAddr;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use polite_adapters::http::{Matched, RouteKey, find};
use polite_adapters::provision::FunctionSpec;
use serde_json::json;

use crate::lambda::Lambda;

/// The dev stack's own route: the events polite put on its bus (README, "Integrating").
pub const DEV_EVENTS: &str = "/_dev/events";

/// API Gateway's largest request payload.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// One route: `METHOD /path/{param}` → function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

impl Route {
    /// `POST /v1/messages`: API Gateway's route key.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl RouteKey for Route {
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
}

/// Every route of the template's functions.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// The HttpApi routes of `functions`.
    pub fn new(functions: &[FunctionSpec]) -> RouteTable {
        let routes = functions
            .iter()
            .flat_map(|f| {
                f.routes.iter().map(|(method, path)| Route {
                    method: method.clone(),
                    path: path.clone(),
                    function: f.binary.clone(),
                })
            })
            .collect();
        RouteTable { routes }
    }

    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for `method path` ([`polite_adapters::http::find`], the functions' own matcher).
    pub fn find(&self, method: &str, path: &str) -> Matched<'_, Route> {
        find(&self.routes, method, path)
    }
}

#[derive(Debug, Clone)]
struct Shared {
    table: RouteTable,
    lambda: Lambda,
    host: String,
    events: crate::streams::DevEvents,
}

/// Serves `table` on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    table: RouteTable,
    lambda: Lambda,
    events: crate::streams::DevEvents,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let host = listener.local_addr()?.to_string();
    let app = axum::Router::new().fallback(handle).layer(DefaultBodyLimit::max(MAX_BODY)).with_state(Shared {
        table,
        lambda,
        host,
        events,
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn handle(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == DEV_EVENTS && method == Method::GET {
        let detail_type = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "detail-type")
            .map(|(_, v)| v.into_owned());
        return axum::Json(json!({"events": shared.events.list(detail_type.as_deref())})).into_response();
    }
    let (route, params) = match shared.table.find(method.as_str(), uri.path()) {
        Matched::Route(route, params) => (route.clone(), params),
        Matched::MethodNotAllowed(allowed) => {
            let allow = allowed.join(", ");
            let message = format!("{} does not take {method}; it takes {allow}", uri.path());
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &message);
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        Matched::NotFound => {
            return error(StatusCode::NOT_FOUND, "not_found", &format!("no route for {}", uri.path()));
        }
    };
    let request = Incoming { uri: &uri, headers: &headers, body: &body, peer, host: &shared.host };
    let event = event(&route, params, &request);
    match shared.lambda.invoke::<_, ApiGatewayV2httpResponse>(&route.function, &event).await {
        Ok(answer) => response(answer),
        Err(e) => {
            tracing::error!(route = %route.key(), error = format!("{e:#}"), "the function failed");
            // What API Gateway answers when the integration fails.
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "Internal Server Error"}))).into_response()
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// An HTTP request as the router received it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer: SocketAddr,
    /// The router's own `host:port` (API Gateway's `domainName`).
    pub host: &'a str,
}

/// The payload-format-2.0 event for one request.
pub fn event(
    route: &Route,
    path_parameters: impl IntoIterator<Item = (String, String)>,
    request: &Incoming<'_>,
) -> ApiGatewayV2httpRequest {
    let Incoming { uri, headers, body, peer, host } = *request;
    let method: Method = route.method.parse().unwrap_or(Method::GET);
    let raw_query = uri.query().unwrap_or("").to_owned();
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    let now = jiff::Timestamp::now();

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = method;
    http.path = Some(uri.path().to_owned());
    http.protocol = Some("HTTP/1.1".to_owned());
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.key());
    context.account_id = Some("123456789012".to_owned());
    context.stage = Some("$default".to_owned());
    context.request_id = Some(format!("local-{}", now.as_nanosecond()));
    context.apiid = Some("local".to_owned());
    context.domain_name = Some(host.to_owned());
    context.domain_prefix = Some("local".to_owned());
    context.time = Some(now.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string());
    context.time_epoch = now.as_millisecond();
    context.http = http;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route.key());
    event.raw_path = Some(uri.path().to_owned());
    event.raw_query_string = Some(raw_query);
    event.headers = headers.clone();
    event.query_string_parameters = query.into();
    event.path_parameters = path_parameters.into_iter().collect();
    event.request_context = context;
    if !body.is_empty() {
        if let Ok(text) = std::str::from_utf8(body) {
            event.body = Some(text.to_owned());
        } else {
            event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
            event.is_base64_encoded = true;
        }
    }
    event
}

/// The function's answer as HTTP.
fn response(answer: ApiGatewayV2httpResponse) -> Response {
    let status = u16::try_from(answer.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = match answer.body {
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => {
            base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).unwrap_or_default()
        }
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        _ => Vec::new(),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.multi_value_headers.iter().chain(answer.headers.iter()) {
        headers.insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let spec = |binary: &str, routes: &[(&str, &str)]| FunctionSpec {
            logical_id: binary.to_owned(),
            binary: binary.to_owned(),
            timeout: 30,
            routes: routes.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect(),
            queues: Vec::new(),
            schedules: Vec::new(),
            streams: Vec::new(),
        };
        RouteTable::new(&[
            spec("webhook-intake", &[("GET", "/webhook"), ("POST", "/webhook")]),
            spec("contacts-api", &[("GET", "/v1/contacts/{contact}"), ("PUT", "/v1/contacts/{contact}/consent")]),
            spec("messages-api", &[("POST", "/v1/messages"), ("GET", "/v1/messages/{id}")]),
        ])
    }

    #[test]
    fn a_route_binds_its_parameters_and_names_its_function() {
        let table = table();
        let Matched::Route(route, params) = table.find("PUT", "/v1/contacts/%2B5511987654321/consent") else {
            panic!("no match");
        };
        assert_eq!(route.function, "contacts-api");
        assert_eq!(route.key(), "PUT /v1/contacts/{contact}/consent");
        assert_eq!(params.get("contact").map(String::as_str), Some("+5511987654321"));
        assert!(matches!(table.find("GET", "/v1/messages/abc"), Matched::Route(r, _) if r.function == "messages-api"));
    }

    #[test]
    fn a_known_path_with_another_method_is_405_and_an_unknown_path_404() {
        let table = table();
        assert_eq!(table.find("DELETE", "/webhook"), Matched::MethodNotAllowed(vec!["GET".into(), "POST".into()]));
        assert_eq!(table.find("GET", "/v1/nothing"), Matched::NotFound);
        assert_eq!(table.find("GET", "/v1/contacts/"), Matched::NotFound, "an empty parameter matches nothing");
        assert_eq!(table.find("GET", "/v1/messages/a/b"), Matched::NotFound);
    }

    #[test]
    fn the_event_carries_what_api_gateway_sends() {
        let table = table();
        let Matched::Route(route, params) = table.find("GET", "/webhook") else { panic!("no match") };
        let uri: Uri = "/webhook?hub.mode=subscribe&hub.verify_token=a%20b&hub.challenge=42".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha256=00"));
        let peer = "127.0.0.1:5000".parse().unwrap();
        let request = Incoming { uri: &uri, headers: &headers, body: b"", peer, host: "127.0.0.1:3000" };
        let event = event(route, params, &request);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["version"], "2.0");
        assert_eq!(json["routeKey"], "GET /webhook");
        assert_eq!(json["rawQueryString"], "hub.mode=subscribe&hub.verify_token=a%20b&hub.challenge=42");
        assert_eq!(json["queryStringParameters"]["hub.verify_token"], "a b");
        assert_eq!(json["requestContext"]["http"]["method"], "GET");
        assert_eq!(json["requestContext"]["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(json["headers"]["x-hub-signature-256"], "sha256=00");
        assert!(json.get("body").is_none());
        let binary = super::event(route, [], &Incoming { body: &[0xff, 0x00], ..request });
        assert!(binary.is_base64_encoded);
        assert_eq!(binary.body.as_deref(), Some("/wA="));
    }
}
