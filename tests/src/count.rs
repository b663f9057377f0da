//! Counts the AWS requests a piece of code makes, by operation, as they go on the wire
//! (retries included): an SDK interceptor on the DynamoDB and SQS clients, so "requests per
//! message" in the benchmarks is measured, not estimated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

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
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Both services speak JSON over HTTP: the operation is the X-Amz-Target header
        // (`DynamoDB_20120810.GetItem`, `AmazonSQS.SendMessageBatch`).
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown.unknown");
        let (service, operation) = target.split_once('.').unwrap_or(("unknown", target));
        let service = if service.starts_with("DynamoDB") { "DynamoDB" } else { service.trim_start_matches("Amazon") };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(format!("{service}.{operation}")).or_default() += 1;
        Ok(())
    }
}
