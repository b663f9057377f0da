//! Invoking a function served by `cargo lambda watch` through Lambda's invoke API
//! (`POST /2015-03-31/functions/<name>/invocations`), as API Gateway, the SQS event source
//! mapping and EventBridge do in AWS.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The header Lambda sets when the function returned an error instead of a result.
const FUNCTION_ERROR: &str = "x-amz-function-error";

/// A client of the local invoke API.
#[derive(Debug, Clone)]
pub struct Lambda {
    http: reqwest::Client,
    base: String,
}

impl Lambda {
    /// The invoke API at `base` (`http://127.0.0.1:9000`). `timeout` bounds one invocation,
    /// a first one included (it may compile the function).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Lambda> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Lambda { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// Invokes `function` with `event` and reads its result.
    ///
    /// # Errors
    /// When the invoke API is unreachable, the function failed (its error type and message),
    /// or the result is not an `R`.
    pub async fn invoke<E: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        function: &str,
        event: &E,
    ) -> anyhow::Result<R> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let answer = self.http.post(&url).json(event).send().await.with_context(|| format!("invoking {function}"))?;
        let status = answer.status();
        let failed = answer.headers().contains_key(FUNCTION_ERROR);
        let body = answer.bytes().await.with_context(|| format!("reading {function}'s result"))?;
        if failed || !status.is_success() {
            bail!("{function} failed ({status}): {}", error_text(&body));
        }
        serde_json::from_slice(&body).with_context(|| format!("{function} returned {}", String::from_utf8_lossy(&body)))
    }
}

/// `errorType: errorMessage` of Lambda's error document, else the raw text.
fn error_text(body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match (doc["errorType"].as_str(), doc["errorMessage"].as_str()) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_read_as_type_and_message() {
        assert_eq!(
            error_text(br#"{"errorType":"ConfigError","errorMessage":"MESSAGES_TABLE is not set"}"#),
            "ConfigError: MESSAGES_TABLE is not set"
        );
        assert_eq!(error_text(b"upstream connect error"), "upstream connect error");
    }
}
