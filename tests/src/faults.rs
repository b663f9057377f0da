//! Faults on the wire: an SDK interceptor that answers a share of chosen DynamoDB and SQS
//! calls with the errors AWS sends under load (throttling, a transaction conflicting with
//! another) instead of moto's answer, so tests prove polite's behaviour when AWS misbehaves.
//! Seeded: the same calls in the same order meet the same faults.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// An error AWS answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `ThrottlingException` (HTTP 400): the SDK retries it with backoff, then gives up.
    Throttle,
    /// DynamoDB's `TransactionCanceledException` with a `TransactionConflict` reason: another
    /// transaction was changing one of the items. Never retried by the SDK.
    TransactionConflict,
}

/// One rule: calls to `operation` (`DynamoDB.TransactWriteItems`, `SQS.SendMessageBatch`…;
/// `*` for every call) meet `fault` with probability `rate`, at most `limit` times.
#[derive(Debug, Clone)]
pub struct Rule {
    pub operation: String,
    pub fault: Fault,
    pub rate: f64,
    pub limit: Option<u64>,
}

#[derive(Debug)]
struct State {
    rules: Vec<Rule>,
    rng: fastrand::Rng,
    injected: u64,
    /// SQS `DelaySeconds` dropped from every message sent (see [`Faults::without_delays`]).
    strip_delays: bool,
}

/// The interceptor; clones share their rules and counts.
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// No rules yet; randomness from `seed`.
    pub fn new(seed: u64) -> Self {
        let state = State { rules: Vec::new(), rng: fastrand::Rng::with_seed(seed), injected: 0, strip_delays: false };
        Faults { state: Arc::new(Mutex::new(state)) }
    }

    /// Adds a rule.
    #[must_use]
    pub fn with(self, operation: &str, fault: Fault, rate: f64, limit: Option<u64>) -> Self {
        self.lock().rules.push(Rule { operation: operation.to_owned(), fault, rate, limit });
        self
    }

    /// Messages go on the queue visible at once, whatever delay the code asked for: a test
    /// that runs polite on a virtual clock (the sender and the tick take `now`) sees every
    /// job at once and lets the code's own `not_before` checks and the tick's leases decide.
    #[must_use]
    pub fn without_delays(self) -> Self {
        self.lock().strip_delays = true;
        self
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// A DynamoDB client on `sdk` whose calls meet these faults.
    pub fn dynamodb(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        crate::dynamodb_with(sdk, self.clone())
    }

    /// An SQS client on `sdk` whose calls meet these faults.
    pub fn sqs(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        crate::sqs_with(sdk, self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault for one call of `operation`, if one is drawn.
    fn draw(&self, operation: &str) -> Option<Fault> {
        let mut state = self.lock();
        let State { rules, rng, injected, .. } = &mut *state;
        for rule in rules.iter_mut() {
            let applies = rule.operation == "*" || rule.operation == operation;
            if applies && rule.limit != Some(0) && rng.f64() < rule.rate {
                if let Some(left) = rule.limit.as_mut() {
                    *left -= 1;
                }
                *injected += 1;
                return Some(rule.fault);
            }
        }
        None
    }
}

/// The fault drawn for the current attempt of a call (kept in its config bag between
/// transmitting and reading the answer).
#[derive(Debug, Clone)]
struct Drawn {
    fault: Option<Fault>,
    dynamodb: bool,
}

impl Storable for Drawn {
    type Storer = StoreReplace<Self>;
}

/// The answer AWS gives for `fault` (both services speak AWS JSON: `__type` names the error).
fn answer(fault: Fault, dynamodb: bool) -> Result<Response, BoxError> {
    let (kind, body) = match fault {
        Fault::Throttle => {
            ("ThrottlingException", r#"{"message":"Rate of requests exceeds the allowed throughput."}"#.to_owned())
        }
        Fault::TransactionConflict => (
            "TransactionCanceledException",
            r#"{"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#.to_owned(),
        ),
    };
    let namespace = if dynamodb { "com.amazonaws.dynamodb.v20120810" } else { "com.amazonaws.sqs" };
    let body = body.replacen('{', &format!(r#"{{"__type":"{namespace}#{kind}","#), 1);
    let mut response = Response::new(StatusCode::try_from(400)?, SdkBody::from(body));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    response.headers_mut().insert("x-amzn-errortype", kind);
    Ok(response)
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "Faults"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.lock().strip_delays {
            return Ok(());
        }
        if let Some(batch) = context.input_mut().downcast_mut::<SendMessageBatchInput>()
            && let Some(entries) = batch.entries.as_mut()
        {
            for entry in entries {
                entry.delay_seconds = None;
            }
        }
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The operation as the service names it, from the metadata the SDK keeps per call.
        let Some(metadata) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() else {
            return Ok(());
        };
        let service = if metadata.service().starts_with("DynamoDB") { "DynamoDB" } else { "SQS" };
        let drawn = self.draw(&format!("{service}.{}", metadata.name()));
        if drawn.is_some() {
            // AWS refuses a throttled or conflicting call without applying it: send moto an
            // operation it does not know, so nothing happens there, and answer for AWS below.
            context.request_mut().headers_mut().insert("x-amz-target", "Polite.InjectedFault");
        }
        cfg.interceptor_state().store_put(Drawn { fault: drawn, dynamodb: service == "DynamoDB" });
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Drawn { fault: Some(fault), dynamodb }) = cfg.load::<Drawn>() {
            *context.response_mut() = answer(*fault, *dynamodb)?;
        }
        Ok(())
    }
}
