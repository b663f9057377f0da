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
