//! The HTTP contract's routing, error bodies and JSON responses, in one place.
//!
//! Routing: a route is a method and a path template as `template.yaml`'s HttpApi events write
//! it (`GET /v1/contacts/{contact}`); [`find`] is the one matcher — the HTTP functions route
//! with it ([`route`]) and the dev stack's API Gateway with it, and a test holds each
//! function's route list equal to the template's.
//!
//! Every expected outcome is an `Ok(Response)`: 4xx bodies say what to fix
//! (`{"error": {"code": "<snake_case>", "message": "<sentence>"}}`); a 500 body is generic and
//! the cause chain goes to the log only.

use std::collections::HashMap;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

/// A route: its method and its path template (`/v1/messages/{id}`).
pub trait RouteKey {
    fn method(&self) -> &str;
    fn path(&self) -> &str;
}

/// A function's route: method, path template and what the function does on it.
impl<T> RouteKey for (&'static str, &'static str, T) {
    fn method(&self) -> &str {
        self.0
    }
    fn path(&self) -> &str {
        self.1
    }
}

/// A route's path parameters, by name, decoded.
pub type PathParams = HashMap<String, String>;

/// What a request matches among routes.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'r, R> {
    Route(&'r R, PathParams),
    /// The path exists, not with this method; the methods it has.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

/// The route of `routes` that `method path` takes. Literal segments win over parameters, as in
/// API Gateway; a parameter matches one non-empty segment and reaches the route decoded
/// (`%2B` → `+`), as API Gateway passes path parameters.
pub fn find<'r, R: RouteKey>(routes: &'r [R], method: &str, path: &str) -> Matched<'r, R> {
    let mut candidates: Vec<(&R, PathParams)> =
        routes.iter().filter_map(|r| bind(r.path(), path).map(|p| (r, p))).collect();
    let Some(fewest) = candidates.iter().map(|(_, params)| params.len()).min() else { return Matched::NotFound };
    candidates.retain(|(_, params)| params.len() == fewest);
    match candidates.iter().position(|(r, _)| r.method() == method) {
        Some(i) => {
            let (route, params) = candidates.swap_remove(i);
            Matched::Route(route, params)
        }
        None => Matched::MethodNotAllowed(candidates.iter().map(|(r, _)| r.method().to_owned()).collect()),
    }
}

/// The path parameters when `path` matches `template`.
fn bind(template: &str, path: &str) -> Option<PathParams> {
    let template: Vec<&str> = template.trim_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    if template.len() != actual.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, a) in template.iter().zip(&actual) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !a.is_empty() => {
                params
                    .insert(name.to_owned(), percent_encoding::percent_decode_str(a).decode_utf8_lossy().into_owned());
            }
            None if t == a => {}
            _ => return None,
        }
    }
    Some(params)
}

/// `req`'s route among a function's `routes` and its path parameters; an unknown path is a
/// 404, a known one with another method a 405.
///
/// # Errors
/// The 404 or 405 [`ApiError`].
pub fn route<'r, T>(
    req: &Request,
    routes: &'r [(&'static str, &'static str, T)],
) -> Result<(&'r T, PathParams), ApiError> {
    let path = req.uri().path();
    match find(routes, req.method().as_str(), path) {
        Matched::Route((_, _, what), params) => Ok((what, params)),
        Matched::MethodNotAllowed(_) => Err(ApiError::method_not_allowed(req.method().as_str(), path)),
        Matched::NotFound => Err(ApiError::not_found(format_args!("{path}"))),
    }
}

/// The request's query parameters, decoded (`+` is a space); the last of a repeated name wins.
pub fn query(req: &Request) -> HashMap<String, String> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Path parameter `name` of a matched route (its template names it, so it is there).
pub fn param<'p>(params: &'p PathParams, name: &str) -> &'p str {
    params.get(name).map_or("", String::as_str)
}

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// 400: the body is not JSON.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_json",
            message: format!("The request body is not valid JSON: {detail}"),
        }
    }

    /// 422: well-formed JSON with a missing or invalid field; the message names the field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid_field", message: format!("{field}: {problem}") }
    }

    /// 404: an unknown resource.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", message: format!("{what} was not found") }
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("{method} is not supported on {path}"),
        }
    }

    /// 409: the request conflicts with the resource's state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::CONFLICT, code, message: message.into() }
    }

    /// 500: logs the full cause chain, answers a generic body.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            message: "Something went wrong on our side; the request can be retried.".into(),
        }
    }

    /// The response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        json_response(self.status, &body)
    }
}

/// A request the domain refused (`polite_domain::request::Invalid`) is a 422 naming its field.
impl From<polite_domain::request::Invalid> for ApiError {
    fn from(invalid: polite_domain::request::Invalid) -> Self {
        ApiError::invalid_field(invalid.field, invalid.problem)
    }
}

/// A JSON response with `status`.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    // Serialising our own response types cannot fail (no maps with non-string keys).
    let text = serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"));
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// Parses a JSON request body: 400 when it is not JSON, 422 naming the field when it is JSON
/// of the wrong shape.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(shape_error)
}

/// Reads an already parsed body into `T`: 422 naming the field when it has the wrong shape
/// (for handlers that also need the raw JSON, e.g. to hash it, without parsing twice).
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        ApiError::invalid_json(inner)
    } else {
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid_field(&field, strip_position(&inner.to_string()))
    }
}

/// serde_json appends " at line 1 column 42"; the field path says more to an API caller.
fn strip_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[(&str, &str, u8)] = &[
        ("GET", "/webhook", 0),
        ("POST", "/webhook", 1),
        ("GET", "/v1/contacts/{contact}", 2),
        ("PUT", "/v1/contacts/{contact}/consent", 3),
        ("GET", "/v1/messages/{id}", 4),
        ("GET", "/v1/messages/count", 5),
    ];

    #[test]
    fn a_route_binds_its_parameters_decoded() {
        let Matched::Route(route, params) = find(ROUTES, "PUT", "/v1/contacts/%2B5511987654321/consent") else {
            panic!("no match");
        };
        assert_eq!(route.2, 3);
        assert_eq!(param(&params, "contact"), "+5511987654321");
        assert!(matches!(find(ROUTES, "GET", "/v1/messages/abc"), Matched::Route((_, _, 4), _)));
        assert!(matches!(find(ROUTES, "GET", "/v1/messages/count"), Matched::Route((_, _, 5), _)), "literal wins");
    }

    #[test]
    fn a_known_path_with_another_method_is_405_and_an_unknown_path_404() {
        assert_eq!(find(ROUTES, "DELETE", "/webhook"), Matched::MethodNotAllowed(vec!["GET".into(), "POST".into()]));
        assert_eq!(find(ROUTES, "GET", "/v1/nothing"), Matched::NotFound);
        assert_eq!(find(ROUTES, "GET", "/v1/contacts/"), Matched::NotFound, "an empty parameter matches nothing");
        assert_eq!(find(ROUTES, "GET", "/v1/messages/a/b"), Matched::NotFound);
    }

    #[test]
    fn query_parameters_are_decoded() {
        let request = lambda_http::http::Request::builder()
            .uri("/v1/campaigns/c/messages?state=failed&cursor=msg%5F01&note=a+b&empty")
            .body(Body::Empty)
            .unwrap_or_default();
        let q = query(&request);
        assert_eq!(q.get("state").map(String::as_str), Some("failed"));
        assert_eq!(q.get("cursor").map(String::as_str), Some("msg_01"));
        assert_eq!(q.get("note").map(String::as_str), Some("a b"));
        assert_eq!(q.get("empty").map(String::as_str), Some(""));
    }

    #[test]
    fn a_function_answers_404_and_405_itself() {
        let request = |method: &str, uri: &str| {
            lambda_http::http::Request::builder().method(method).uri(uri).body(Body::Empty).unwrap_or_default()
        };
        assert_eq!(route(&request("GET", "/webhook"), ROUTES).map(|(w, _)| *w), Ok(0));
        assert_eq!(
            route(&request("PATCH", "/webhook"), ROUTES).map(|(w, _)| *w).map_err(|e| e.status.as_u16()),
            Err(405)
        );
        assert_eq!(route(&request("GET", "/nope"), ROUTES).map(|(w, _)| *w).map_err(|e| e.status.as_u16()), Err(404));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields exist to be validated")]
    struct Consent {
        category: String,
        quiet_hours: Option<Hours>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "fields exist to be validated")]
    struct Hours {
        start: u8,
    }

    fn body(r: Response<Body>) -> (StatusCode, serde_json::Value) {
        let status = r.status();
        let Body::Text(t) = r.into_body() else { panic!("not text") };
        (status, serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn a_body_that_is_not_json_is_400_invalid_json() {
        let err = parse_json::<Consent>(b"{not json").unwrap_err();
        let (status, json) = body(err.into_response());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"]["code"], "invalid_json");
    }

    #[test]
    fn json_of_the_wrong_shape_is_422_naming_the_field() {
        let err = parse_json::<Consent>(br#"{"category":"marketing","quiet_hours":{"start":"nine"}}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.message.starts_with("quiet_hours.start: invalid type"), "{}", err.message);
        let missing = parse_json::<Consent>(b"{}").unwrap_err();
        assert!(missing.message.contains("missing field `category`"), "{}", missing.message);
    }

    #[test]
    fn internal_errors_answer_a_generic_body() {
        let io = std::io::Error::other("dynamodb exploded at table secret-name");
        let (status, json) = body(ApiError::internal(&io).into_response());
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!json.to_string().contains("secret-name"));
    }

    #[test]
    fn responses_are_json() {
        let r = json_response(StatusCode::ACCEPTED, &serde_json::json!({"id": "m1"}));
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body(r), (StatusCode::ACCEPTED, serde_json::json!({"id": "m1"})));
    }
}
