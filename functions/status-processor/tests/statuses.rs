//! status-processor fed by webhook-intake's real output on moto: status webhooks are posted,
//! signed, to webhook-intake; what it queued on status-events is handed to the processor in
//! any order, duplicated; then messages and campaign counters are read back.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::envelope::{self, kinds};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_domain::WaId;
use polite_domain::consent::{ConsentCategory, ConsentStatus};
use polite_domain::inbound::ConsentChange;
use polite_domain::message::{Category, MessageRecord, MessageState as S};
use polite_domain::ports::{ContactStore as _, MessageStore as _, Moved, NewMessage, PricedCount, TransitionDetails};
use polite_tests::{Stack, drain};
use serde_json::{Value, json};
use status_processor::{Outcome, Processor, StatusError};
use webhook_intake::Intake;

const APP_SECRET: &str = "polite-local-app-secret";

struct Harness {
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    intake: Intake<SqsQueue>,
    processor: Processor<DynamoMessages, DynamoContacts, SqsQueue>,
}

fn sent_at() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

impl Harness {
    async fn new() -> Harness {
        let stack = Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let intake = Intake {
            app_secret: APP_SECRET.into(),
            verify_token: "unused".into(),
            inbound: queue("InboundEventsQueue"),
            statuses: queue("StatusEventsQueue"),
            parking: queue("WebhookParkingQueue"),
        };
        let processor = Processor {
            messages: DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable")),
            contacts: DynamoContacts::new(dynamo, stack.table("ContactsTable"), b"test-contact-hash-key"),
            inbound: queue("InboundEventsQueue"),
            undeliverable_for: SignedDuration::from_hours(24 * 30),
        };
        Harness { stack, sqs, intake, processor }
    }

    /// A campaign message polite sent: `msg_<n>` to `+551198765000<n>`, claimed and then
    /// accepted by Meta as `wamid.<n>` (as message-sender records it).
    async fn sent(&self, n: u32) {
        let to = WaId::parse(&format!("+55119876500{n:02}")).unwrap();
        let payload = json!({"template": {"name": "spring_sale", "language": {"code": "pt_BR"}}});
        let record = MessageRecord {
            campaign_id: Some("cmp_1".into()),
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

    /// Posts `statuses` to webhook-intake as one signed webhook and returns what it queued.
    async fn intake(&self, statuses: &[Value]) -> Vec<String> {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700800900"},
                "statuses": statuses}}]}]})
        .to_string()
        .into_bytes();
        let req = webhook_intake::signed_request(APP_SECRET, body).unwrap();
        assert_eq!(webhook_intake::handle(&self.intake, req).await.status(), 200);
        drain(&self.sqs, self.stack.queue("StatusEventsQueue")).await.unwrap()
    }

    async fn state(&self, n: u32) -> MessageRecord {
        self.processor.messages.get(&format!("msg_{n}")).await.unwrap().unwrap()
    }
}

/// A status element for message `n` (callback data set unless `n` is 0).
fn status(n: u32, value: &str, minutes: i64) -> Value {
    let at = sent_at() + SignedDuration::from_mins(minutes);
    let mut s = json!({"id": format!("wamid.{n}"), "status": value, "timestamp": at.as_second().to_string(),
        "recipient_id": format!("55119876500{n:02}"), "biz_opaque_callback_data": format!("msg_{n}")});
    if value == "delivered" {
        s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"});
    }
    s
}

fn failed(n: u32, code: i64, minutes: i64) -> Value {
    let mut s = status(n, "failed", minutes);
    s["errors"] = json!([{"code": code, "title": format!("error {code}"), "message": "…"}]);
    s
}

/// A deterministic shuffle with duplicates: xorshift over `seed`.
fn shuffled(items: &[String], seed: u64) -> Vec<String> {
    let mut x = seed.max(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out: Vec<String> = items.to_vec();
    // Every third item (by the generator) appears twice.
    for item in items {
        if next() % 3 == 0 {
            out.push(item.clone());
        }
    }
    for i in (1..out.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap();
        out.swap(i, j);
    }
    out
}

#[tokio::test]
async fn any_order_and_duplication_of_a_campaigns_statuses_ends_in_the_truth() {
    // The truth: 1 read (via delivered), 2 read without delivered, 3 delivered, 4 failed
    // 131026, 5 read with a late `sent` after it, 6 delivered then a failed (failed loses).
    let statuses = [
        status(1, "sent", 1),
        status(1, "delivered", 2),
        status(1, "read", 3),
        status(2, "sent", 1),
        status(2, "read", 4),
        status(3, "sent", 1),
        status(3, "delivered", 2),
        failed(4, 131_026, 1),
        status(5, "read", 3),
        status(5, "sent", 1),
        status(6, "delivered", 2),
        failed(6, 131_000, 5),
    ];
    for seed in [1, 7, 42] {
        let h = Harness::new().await;
        for n in 1..=6 {
            h.sent(n).await;
        }
        let records = h.intake(&statuses).await;
        assert_eq!(records.len(), statuses.len());
        for record in shuffled(&records, seed) {
            h.processor.process(&record).await.unwrap();
        }
        let states: Vec<S> = states_of(&h).await;
        assert_eq!(states, [S::Read, S::Read, S::Delivered, S::Failed, S::Read, S::Delivered], "seed {seed}");
        let counts = h.processor.messages.campaign_counts("cmp_1").await.unwrap();
        let nonzero: Vec<(S, i64)> = counts.into_iter().filter(|(_, n)| *n != 0).collect();
        assert_eq!(nonzero, [(S::Delivered, 2), (S::Read, 3), (S::Failed, 1)], "seed {seed}");
        let priced = h.processor.messages.campaign_pricing("cmp_1").await.unwrap();
        assert_eq!(priced["marketing"], PricedCount { priced: 3, billable: 3 }, "seed {seed}");
        let four = h.state(4).await;
        assert_eq!(four.error.map(|e| e.code), Some(131_026));
        let undeliverable = h.processor.contacts.get(&four.to).await.unwrap().unwrap().undeliverable_until;
        assert_eq!(undeliverable, Some(sent_at() + SignedDuration::from_mins(1) + SignedDuration::from_hours(720)));
    }
}

async fn states_of(h: &Harness) -> Vec<S> {
    let mut states = Vec::new();
    for n in 1..=6 {
        states.push(h.state(n).await.state);
    }
    states
}

#[tokio::test]
async fn a_131050_failure_queues_a_marketing_opt_out_once_however_often_it_arrives() {
    let h = Harness::new().await;
    h.sent(1).await;
    let records = h.intake(&[failed(1, 131_050, 2)]).await;
    for _ in 0..2 {
        h.processor.process(&records[0]).await.unwrap();
    }
    assert_eq!(h.state(1).await.state, S::Failed);
    let changes: Vec<ConsentChange> = drain(&h.sqs, h.stack.queue("InboundEventsQueue"))
        .await
        .unwrap()
        .iter()
        .map(|b| envelope::decode(kinds::CONSENT_CHANGE, b).unwrap())
        .collect();
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c.event.id == changes[0].event.id), "one event id: applied once by the ledger");
    assert_eq!(
        (changes[0].event.category, changes[0].event.status),
        (ConsentCategory::Marketing, ConsentStatus::OptedOut)
    );
    assert_eq!(changes[0].wa_id.as_str(), "5511987650001");
}

#[tokio::test]
async fn statuses_of_other_systems_and_of_confirmation_replies_are_dropped_knowingly() {
    let h = Harness::new().await;
    h.sent(1).await;
    let mut by_wamid = status(1, "delivered", 2);
    by_wamid.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    let mut stranger = status(9, "delivered", 2);
    stranger.as_object_mut().unwrap().remove("biz_opaque_callback_data");
    let mut confirmation = status(8, "sent", 1);
    confirmation["biz_opaque_callback_data"] = json!("polite-confirmation:wamid.IN");
    let records = h.intake(&[by_wamid, stranger, confirmation]).await;
    let outcomes: Vec<Outcome> = process_all(&h, &records).await;
    assert!(matches!(outcomes[0], Outcome::Applied(_)), "found by its wamid");
    assert_eq!(outcomes[1..], [Outcome::UnknownMessage, Outcome::Confirmation]);
    assert_eq!(h.state(1).await.state, S::Delivered);
}

async fn process_all(h: &Harness, records: &[String]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for r in records {
        out.push(h.processor.process(r).await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_status_that_cannot_be_read_fails_its_record_for_the_dlq() {
    let h = Harness::new().await;
    // webhook-intake only checks that a status is an object (throughput): this one has no id.
    let records = h.intake(&[json!({"status": "delivered", "timestamp": "1"})]).await;
    assert_eq!(records.len(), 1);
    assert!(matches!(h.processor.process(&records[0]).await, Err(StatusError::Unreadable(_))));
}
