//! Metrics as CloudWatch Embedded Metric Format lines on stdout — no CloudWatch API calls,
//! no extra latency — through the `metrics` facade.
//!
//! A function's `main.rs` calls [`init_metrics`] once and runs its handler with
//! `metrics_cloudwatch_embedded::lambda::handler::run` (or `run_http`), which flushes one EMF
//! document after every invocation with the request id attached. Metric dimensions must be
//! low-cardinality and must never carry a phone number; use `WaId::keyed_hash` when a
//! recipient must be told apart, and prefer a log line for that.

pub use metrics::{counter, histogram};
pub use metrics_cloudwatch_embedded::Collector;
/// Runs a Lambda handler (`run`) or an HTTP handler (`run_http`) with tracing and an EMF flush
/// after every invocation.
pub use metrics_cloudwatch_embedded::lambda::handler::{run, run_http};

/// The CloudWatch namespace of every polite metric.
pub const NAMESPACE: &str = "polite";

/// Installs the process-wide EMF recorder for `function` (dimension `Function`), with a
/// `ColdStart` count and the invocation's request id on each document.
///
/// # Errors
/// When a recorder is already installed in this process.
pub fn init_metrics(function: &'static str) -> anyhow::Result<&'static Collector> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("Function", function)
        .lambda_cold_start_metric("ColdStart")
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|e| anyhow::anyhow!("installing the EMF metrics recorder: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_flushed_as_an_emf_document_in_the_polite_namespace() {
        let collector = init_metrics("webhook-intake").unwrap();
        counter!("WebhookEvents", "kind" => "status").increment(3);
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();

        let line = String::from_utf8(out).unwrap();
        let doc: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        let aws = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(aws["Namespace"], NAMESPACE);
        assert_eq!(aws["Metrics"][0]["Name"], "WebhookEvents");
        assert_eq!(doc["WebhookEvents"], 3);
        assert_eq!(doc["Function"], "webhook-intake");
        assert_eq!(doc["kind"], "status");
        assert!(doc["_aws"]["Timestamp"].is_u64());
        assert!(init_metrics("again").is_err(), "one recorder per process");
    }
}
