//! Counts the AWS requests a piece of code makes, by operation, as they go on the wire
//! (retries included): an SDK interceptor on the DynamoDB, SQS and S3 clients, so "requests
//! per message" in the benchmarks is measured, not estimated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Requests seen, by operation (`DynamoDB.GetItem`, `SQS.SendMessageBatch`, …).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    /// The counts so far, and resets them.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A DynamoDB client on `sdk` whose requests are counted.
    pub fn dynamodb(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        crate::dynamodb_with(sdk, self.clone())
    }

    /// An SQS client on `sdk` whose requests are counted.
    pub fn sqs(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        crate::sqs_with(sdk, self.clone())
    }

    /// An S3 client on `sdk` (path-style, as moto needs) whose requests are counted.
    pub fn s3(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).interceptor(self.clone());
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every operation stores its service and name (`DynamoDB` `GetItem`, `SQS`
        // `SendMessageBatch`, `S3` `GetObject`) for its whole orchestration.
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown.unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()));
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(operation).or_default() += 1;
        Ok(())
    }
}
