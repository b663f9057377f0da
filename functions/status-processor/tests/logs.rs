//! What status-processor logs never names the person: a wamid encodes the recipient's phone
//! number, so it is never logged; message ids are. (Its own test binary: it installs a
//! log subscriber.)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use common::{Harness, failed, status};
use polite_app::statuses::Outcome;
use polite_tests::logs::CapturedLogs;

#[tokio::test]
async fn no_wamid_or_number_reaches_the_logs() {
    let (logs, _guard) = CapturedLogs::start();
    let h = Harness::new().await;
    h.sent(1).await;
    h.sent(2).await;
    let mut odd_pricing = status(1, "read", 3);
    odd_pricing["pricing"] = serde_json::json!("regular");
    let mut stranger = status(9, "delivered", 2);
    stranger.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    let mut outcomes = Vec::new();
    for record in h.intake(&[odd_pricing, failed(2, 131_026, 1), stranger]).await {
        outcomes.push(h.processor.process(&record).await.unwrap());
    }
    assert!(outcomes.contains(&Outcome::UnknownMessage));

    let text = logs.text();
    assert!(text.contains("msg_1") && text.contains("msg_2"), "message ids are what the logs name: {text}");
    for secret in ["wamid.", "5511987650"] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
    }
}
