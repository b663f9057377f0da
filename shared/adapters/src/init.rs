//! What every function's `main.rs` does once, before the first event.

/// Tracing as the Lambda runtime sets it up, honouring `AWS_LAMBDA_LOG_LEVEL` and
/// `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub fn tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The AWS SDK configuration from the standard chain (region, credentials, and
/// `AWS_ENDPOINT_URL`, which points every client at moto locally). Built once; clients made
/// from it share one connection pool.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A function that has started: its EMF recorder and AWS configuration, and when init began.
pub struct Started {
    pub metrics: &'static crate::telemetry::Collector,
    pub sdk: aws_config::SdkConfig,
    function: &'static str,
    at: std::time::Instant,
}

/// What every `main.rs` starts with, in this order: [`tracing`], the EMF recorder for
/// `function`, the [`aws`] configuration.
///
/// # Errors
/// When a metrics recorder is already installed in this process.
pub async fn start(function: &'static str) -> anyhow::Result<Started> {
    let at = std::time::Instant::now();
    tracing();
    let metrics = crate::telemetry::init_metrics(function)?;
    Ok(Started { metrics, sdk: aws().await, function, at })
}

impl std::fmt::Debug for Started {
    // The recorder has no Debug of its own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").field("function", &self.function).field("sdk", &self.sdk).finish_non_exhaustive()
    }
}

impl Started {
    /// Logs that init is done and how long it took (the cold-start cost before the first
    /// event).
    pub fn ready(&self) {
        ::tracing::info!(init_ms = self.at.elapsed().as_millis(), "{} ready", self.function);
    }
}
