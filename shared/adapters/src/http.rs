//! The HTTP contract's error bodies and JSON responses, in one place.
//!
//! Every expected outcome is an `Ok(Response)`: 4xx bodies say what to fix
//! (`{"error": {"code": "<snake_case>", "message": "<sentence>"}}`); a 500 body is generic and
//! the cause chain goes to the log only.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

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
