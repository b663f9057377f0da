//! What one send job may wait must fit in the function's timeout (template.yaml): the longest
//! pacing wait, then the Graph API's whole-request timeout, with room for the stores' calls.
//! Otherwise Lambda would kill an invocation mid-send and SQS would redeliver the job.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::path::PathBuf;
use std::time::Duration;

#[test]
fn the_longest_pacing_wait_plus_the_graph_timeout_fit_inside_the_function_timeout() {
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let resources = polite_adapters::provision::read_template(&template).unwrap();
    let sender = resources.functions.iter().find(|f| f.binary == message_sender::FUNCTION).unwrap();
    let budget = Duration::from_secs(u64::from(sender.timeout));
    let worst = polite_app::sending::MAX_PACING_WAIT + polite_adapters::graph::DEFAULT_TIMEOUT;
    let stores = Duration::from_secs(5);
    assert!(worst + stores <= budget, "{worst:?} + {stores:?} for the stores > the function's {budget:?}");
}
