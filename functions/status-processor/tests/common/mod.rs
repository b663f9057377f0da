//! status-processor on moto, fed by webhook-intake's real output, as the test files share it.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_app::intake::Queues;
use polite_app::statuses::Processor;
use polite_domain::ContactRef;
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState as S};
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use polite_domain::record::{Moved, NewMessage};
use polite_tests::{Stack, drain};
use serde_json::{Value, json};

pub(crate) const APP_SECRET: &str = "polite-local-app-secret";

pub(crate) struct Harness {
    pub(crate) stack: Stack,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) intake: Queues<SqsQueue>,
    pub(crate) processor: Processor<DynamoMessages, DynamoContacts, SqsQueue>,
}

pub(crate) fn sent_at() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let stack = Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let intake = Queues::open(|id: &str| SqsQueue::new(sqs.clone(), stack.queue(id)));
        let processor = polite_tests::status_processor(&stack);
        Harness { stack, sqs, intake, processor }
    }

    /// A campaign message polite sent: `msg_<n>` to `+551198765000<n>`, claimed and then
    /// accepted by Meta as `wamid.<n>` (as message-sender records it).
    pub(crate) async fn sent(&self, n: u32) {
        self.sent_expiring(n, None).await;
    }

    /// [`Harness::sent`] for a message that expires at `expires_at`.
    pub(crate) async fn sent_expiring(&self, n: u32, expires_at: Option<Timestamp>) {
        let to = ContactRef::parse(&format!("+55119876500{n:02}")).unwrap();
        let payload =
            polite_domain::request::Payload::Template(json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
        let record = MessageRecord {
            campaign_id: Some("cmp_1".into()),
            expires_at,
            ..MessageRecord::new(format!("msg_{n}"), to, Category::Marketing, payload, S::Sending, sent_at())
        };
        let messages = &self.processor.messages;
        let claimed = messages.create(&NewMessage { record, idempotency_key: None, body_hash: String::new() }).await;
        let accepted = TransitionDetails { wamid: Some(format!("wamid.{n}")), ..TransitionDetails::default() };
        assert!(matches!(
            messages.transition_from(&claimed.unwrap(), S::Sent, sent_at(), accepted).await,
            Ok(Moved::Yes(_))
        ));
    }

    /// Hands `statuses` to the intake as one webhook and returns what it queued.
    pub(crate) async fn intake(&self, statuses: &[Value]) -> Vec<String> {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700800900"},
                "statuses": statuses}}]}]})
        .to_string()
        .into_bytes();
        polite_tests::intake(&self.intake, &body).await;
        drain(&self.sqs, self.stack.queue("StatusEventsQueue")).await.unwrap()
    }

    pub(crate) async fn state(&self, n: u32) -> MessageRecord {
        self.processor.messages.get(&format!("msg_{n}")).await.unwrap().unwrap()
    }
}

/// A status element for message `n` (callback data set unless `n` is 0).
pub(crate) fn status(n: u32, value: &str, minutes: i64) -> Value {
    let at = sent_at() + SignedDuration::from_mins(minutes);
    let mut s = json!({"id": format!("wamid.{n}"), "status": value, "timestamp": at.as_second().to_string(),
        "recipient_id": format!("55119876500{n:02}"), "biz_opaque_callback_data": format!("msg_{n}")});
    if value == "delivered" {
        s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"});
    }
    s
}

pub(crate) fn failed(n: u32, code: i64, minutes: i64) -> Value {
    let mut s = status(n, "failed", minutes);
    s["errors"] = json!([{"code": code, "title": format!("error {code}"), "message": "…"}]);
    s
}
