//! A small HTTP client of a running stack: polite's public API and the simulator's controls,
//! used by the demo and the end-to-end tests exactly as a user's scripts would call them.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::Value;

use crate::Endpoints;

/// An answer: status and JSON body (`Value::Null` when empty or not JSON, text as a string).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body when the status is `expected`.
    ///
    /// # Errors
    /// Naming the call, the status and the body otherwise.
    pub fn expect(self, expected: u16, call: &str) -> anyhow::Result<Value> {
        if self.status != expected {
            bail!("{call} answered {} (expected {expected}): {}", self.status, self.body);
        }
        Ok(self.body)
    }
}

/// The stack's public surfaces.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    pub endpoints: Endpoints,
}

impl Client {
    /// A client of the stack at `endpoints`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(endpoints: Endpoints) -> anyhow::Result<Client> {
        Ok(Client { http: reqwest::Client::builder().timeout(Duration::from_mins(1)).build()?, endpoints })
    }

    /// `method path` on the API router, with an optional JSON body.
    ///
    /// # Errors
    /// When the router cannot be reached.
    pub async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        self.call(method, &format!("{}{path}", self.endpoints.api), body).await
    }

    /// `method path` on the simulator (`/_sim/inbound`, `/_sim/messages`, `/_sim/webhooks`).
    ///
    /// # Errors
    /// When the simulator cannot be reached.
    pub async fn sim(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        self.call(method, &format!("{}{path}", self.endpoints.simulator), body).await
    }

    async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await.with_context(|| format!("{method} {url}"))?;
        let status = answer.status().as_u16();
        let text = answer.text().await.with_context(|| format!("reading {method} {url}"))?;
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok(Answer { status, body })
    }

    /// Uploads `bytes` as `key` to the stack's audience bucket, as a business does with
    /// `aws s3 cp`; answers the file's `s3://` address for `POST /v1/campaigns`.
    ///
    /// # Errors
    /// When the upload is refused.
    pub async fn upload(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
        let bucket = &self.endpoints.audience_bucket;
        let url = format!("{}/{bucket}/{key}", self.endpoints.aws);
        let answer = self.http.put(&url).body(bytes).send().await.with_context(|| format!("PUT {url}"))?;
        if !answer.status().is_success() {
            bail!("uploading {key} answered {}: {}", answer.status(), answer.text().await.unwrap_or_default());
        }
        Ok(format!("s3://{bucket}/{key}"))
    }

    /// The object `s3://<bucket>/<key>` from the stack's S3, read as the business reads it
    /// (`GetObject` with credentials: the bucket is private), e.g. a report export's file.
    ///
    /// # Errors
    /// When the address is not an `s3://` one, or the object cannot be read.
    pub async fn download(&self, address: &str) -> anyhow::Result<Vec<u8>> {
        let (bucket, key) = address
            .strip_prefix("s3://")
            .and_then(|p| p.split_once('/'))
            .with_context(|| format!("{address} is not s3://bucket/key"))?;
        let sdk = crate::aws::sdk_config(&self.endpoints.aws).await;
        let object = polite_adapters::audiences::S3Audiences::client(&sdk)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading {address}"))?;
        Ok(object.body.collect().await.with_context(|| format!("reading {address}"))?.into_bytes().to_vec())
    }

    /// `GET path` on the API, expecting 200.
    ///
    /// # Errors
    /// Any other answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.api(Method::GET, path, None).await?.expect(200, &format!("GET {path}"))
    }

    /// The events polite put on its bus of `detail_type`, newest first (the dev stack's
    /// `GET /_dev/events`).
    ///
    /// # Errors
    /// Any answer but 200.
    pub async fn events(&self, detail_type: &str) -> anyhow::Result<Vec<Value>> {
        let all = self.get(&format!("/_dev/events?detail-type={detail_type}")).await?;
        Ok(all["events"].as_array().cloned().unwrap_or_default())
    }
}

/// Polls `probe` every 250 ms until it yields a value.
///
/// # Errors
/// `probe`'s error, or a timeout naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {} s waiting for {what}", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
