//! status-processor's metrics as the EMF lines CloudWatch reads: statuses by value and error
//! code, statuses of unknown messages, transitions ignored as stale. (Its own test binary: the
//! metrics recorder is process-wide.)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use std::collections::BTreeMap;

use common::{Harness, failed, status};
use polite_adapters::telemetry;
use polite_app::statuses::Outcome;
use serde_json::Value;

/// Every counter in the flushed EMF documents: (name, its dimensions) → value.
fn metrics(emf: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut found = BTreeMap::new();
    for line in emf.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], telemetry::NAMESPACE);
        let dimensions: BTreeMap<String, String> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .filter(|d| *d != "Function")
            .map(|d| (d.to_owned(), doc[d].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(doc["Function"], status_processor::FUNCTION);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap().to_owned();
            // Counters are numbers; histograms (webhook-intake's, here too) are lists.
            if let Some(value) = doc[&name].as_f64() {
                found.insert((name.clone(), dimensions.clone()), value);
            }
        }
    }
    found
}

fn key(name: &str, dimensions: &[(&str, &str)]) -> (String, BTreeMap<String, String>) {
    (name.to_owned(), dimensions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

#[tokio::test]
async fn statuses_are_counted_by_value_and_code_with_unknown_messages_and_stale_transitions() {
    let collector = telemetry::init_metrics(status_processor::FUNCTION).unwrap();
    let h = Harness::new().await;
    h.sent(1).await;
    h.sent(2).await;
    let mut stranger = status(9, "delivered", 2);
    stranger.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    // One webhook each, processed in this order: the `delivered` after `read` is stale.
    let mut outcomes = Vec::new();
    for one in [status(1, "read", 3), status(1, "delivered", 2), failed(2, 131_026, 1), stranger] {
        for record in h.intake(&[one]).await {
            outcomes.push(h.processor.process(&record).await.unwrap());
        }
    }
    assert_eq!(outcomes[3], Outcome::UnknownMessage);

    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    let found = metrics(&String::from_utf8(out).unwrap());
    let expected = [
        (key("Statuses", &[("status", "read"), ("code", "none")]), 1.0),
        (key("Statuses", &[("status", "delivered"), ("code", "none")]), 2.0),
        (key("Statuses", &[("status", "failed"), ("code", "131026")]), 1.0),
        (key("StatusesForUnknownMessages", &[]), 1.0),
        (key("StatusTransitionsStale", &[]), 1.0),
    ];
    for (metric, value) in expected {
        assert_eq!(found.get(&metric), Some(&value), "{metric:?} in {found:?}");
    }
    assert!(!found.keys().any(|(name, _)| name == "StatusesUnreadable"));
}
