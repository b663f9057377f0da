//! message-sender against moto and the WhatsApp simulator: messages created by send-scheduler,
//! jobs taken from the real send-queue, the gate at send time, and never a second send.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use message_sender::pacing::Pacer;
use message_sender::{Outcome, Sender};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::envelope::{self, kinds};
use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_domain::WaId;
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::gate::Policy;
use polite_domain::inbound::ConsentChange;
use polite_domain::message::{Category, MessageRecord, MessageState};
use polite_domain::ports::{ContactStore as _, MessageStore as _, SendLog as _, TransitionDetails};
use polite_domain::request::SendRequest;
use polite_tests::{Stack, drain};
use secrecy::SecretString;
use send_scheduler::Scheduler;
use whatsapp_sim::{SimConfig, Simulator};

/// 12:00 in São Paulo on a Monday.
fn noon() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

const ANA: &str = "+5511987654321";

struct Harness {
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    sim: Simulator,
    scheduler: Scheduler<DynamoMessages, DynamoContacts, SqsQueue>,
    sender: Sender<DynamoMessages, DynamoContacts, SqsQueue, GraphClient>,
}

impl Harness {
    async fn new() -> Harness {
        let stack = Stack::create().await.unwrap();
        let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let messages = || DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"));
        let contacts = || DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), b"test-contact-hash-key");
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let whatsapp = GraphClient::new(GraphConfig {
            base_url: sim.url(),
            version: "v25.0".into(),
            phone_number_id: SimConfig::default().phone_number_id,
            token: SecretString::from(SimConfig::default().access_token),
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let scheduler = Scheduler { messages: messages(), contacts: contacts(), send_queue: queue("SendQueue") };
        let sender = Sender {
            messages: messages(),
            contacts: contacts(),
            send_queue: queue("SendQueue"),
            inbound: queue("InboundEventsQueue"),
            whatsapp,
            policy: Policy::default(),
            pacer: Pacer::new(0.0),
        };
        Harness { stack, sqs, sim, scheduler, sender }
    }

    async fn opt_in(&self, to: &str) {
        let wa_id = WaId::parse(to).unwrap();
        let at: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
        let event = ConsentEvent::from_business(
            &wa_id,
            ConsentCategory::Marketing,
            ConsentStatus::OptedIn,
            ConsentSource::business("web_checkout").unwrap(),
            Some("Ticked 'WhatsApp offers' at checkout".into()),
            at,
            at,
        )
        .unwrap();
        self.sender.contacts.append_consent(&wa_id, &event).await.unwrap();
    }

    /// A marketing template to `to`, requested at `now`; returns its id.
    async fn request(&self, to: &str, now: Timestamp, extra: &str) -> String {
        let json = format!(
            r#"{{"to":"{to}","category":"marketing","template":{{"name":"spring_sale","language":"pt_BR"}}{extra}}}"#
        );
        let request: SendRequest = serde_json::from_str(&json).unwrap();
        let send = request.validate(now).unwrap();
        self.scheduler.submit(send, json, now).await.unwrap().id
    }

    /// The send jobs on send-queue (received and deleted), as the sender would get them.
    async fn jobs(&self) -> Vec<String> {
        drain(&self.sqs, self.stack.queue("SendQueue")).await.unwrap()
    }

    /// Hands every waiting job to the sender at `now`.
    async fn run(&self, now: Timestamp) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for job in self.jobs().await {
            outcomes.push(self.sender.process(&job, now).await.unwrap());
        }
        outcomes
    }

    async fn message(&self, id: &str) -> MessageRecord {
        self.sender.messages.get(id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn an_opted_in_recipient_at_noon_gets_the_template_once_with_polites_id_as_callback() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), "").await;
    let job = h.jobs().await;
    assert_eq!(job.len(), 1);
    assert_eq!(h.sender.process(&job[0], noon()).await.unwrap(), Outcome::Sent);

    let sent = h.sim.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "5511987654321");
    assert_eq!(sent[0].template.as_deref(), Some("spring_sale"));
    assert_eq!(sent[0].biz_opaque_callback_data.as_deref(), Some(id.as_str()));
    let message = h.message(&id).await;
    assert_eq!(message.state, MessageState::Sent);
    assert_eq!(message.wamid.as_deref(), Some(sent[0].wamid.as_str()));
    let states: Vec<&str> = message.history.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(states, ["queued", "sending", "sent"]);
    let log = h.sender.contacts.recent_sends(&WaId::parse(ANA).unwrap(), noon() - SignedDuration::from_hours(1)).await;
    assert_eq!(log.unwrap().sends.len(), 1, "the send counts for caps");

    // SQS delivers the same job again: nothing is sent twice.
    assert_eq!(h.sender.process(&job[0], noon()).await.unwrap(), Outcome::Skipped("not_claimable"));
    assert_eq!(h.sim.accepted().len(), 1);
}

#[tokio::test]
async fn at_night_the_message_waits_for_the_recipients_morning_with_not_before_and_reason() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let night: Timestamp = "2026-11-24T02:00:00Z".parse().unwrap(); // 23:00 in São Paulo
    let id = h.request(ANA, night, "").await;
    assert_eq!(h.run(night).await, [Outcome::Scheduled]);
    let message = h.message(&id).await;
    assert_eq!(message.state, MessageState::Scheduled);
    assert_eq!(message.reason.as_deref(), Some("quiet_hours"));
    let not_before = message.not_before.unwrap();
    let eight_local: Timestamp = "2026-11-24T11:00:00Z".parse().unwrap();
    assert!(not_before >= eight_local && not_before <= eight_local + SignedDuration::from_mins(10), "{not_before}");
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn an_opt_out_recorded_while_the_message_is_queued_suppresses_it() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), "").await;
    let wa_id = WaId::parse(ANA).unwrap();
    let stop = ConsentEvent::from_send_failure("msg_other", noon(), noon());
    h.sender.contacts.append_consent(&wa_id, &stop).await.unwrap();
    assert_eq!(h.run(noon()).await, [Outcome::Suppressed]);
    let message = h.message(&id).await;
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Suppressed, Some("opted_out")));
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn without_consent_nothing_is_sent_and_an_expired_message_expires() {
    let h = Harness::new().await;
    let id = h.request("+5511912345678", noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Suppressed]);
    assert_eq!(h.message(&id).await.reason.as_deref(), Some("no_consent"));

    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), r#","expires_at":"2026-11-23T16:00:00Z""#).await;
    assert_eq!(h.run(noon() + SignedDuration::from_hours(2)).await, [Outcome::Expired]);
    assert_eq!(h.message(&id).await.state, MessageState::Expired);
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn the_frequency_cap_defers_a_third_marketing_message_until_a_slot_frees() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let wa_id = WaId::parse(ANA).unwrap();
    let week = SignedDuration::from_hours(24 * 7);
    for (i, days) in [(1, 3), (2, 1)] {
        let at = noon() - SignedDuration::from_hours(24 * days);
        h.sender
            .contacts
            .record_send(&wa_id, &format!("msg_old{i}"), SentRecord { category: Category::Marketing, at }, week)
            .await
            .unwrap();
    }
    let id = h.request(ANA, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Scheduled]);
    let message = h.message(&id).await;
    assert_eq!(message.reason.as_deref(), Some("frequency_cap"));
    assert!(
        message.not_before.unwrap() >= noon() + SignedDuration::from_hours(24 * 4),
        "the oldest send leaves the window"
    );
}

#[tokio::test]
async fn a_131050_failure_fails_the_message_and_queues_a_marketing_opt_out() {
    let h = Harness::new().await;
    let to = "+5511987650050";
    h.opt_in(to).await;
    let id = h.request(to, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Failed]);
    let message = h.message(&id).await;
    assert_eq!(message.state, MessageState::Failed);
    assert_eq!(message.error.as_ref().map(|e| e.code), Some(131_050));

    let inbound = drain(&h.sqs, h.stack.queue("InboundEventsQueue")).await.unwrap();
    assert_eq!(inbound.len(), 1);
    let change: ConsentChange = envelope::decode(kinds::CONSENT_CHANGE, &inbound[0]).unwrap();
    assert_eq!(change.wa_id, WaId::parse(to).unwrap());
    assert_eq!((change.event.category, change.event.status), (ConsentCategory::Marketing, ConsentStatus::OptedOut));
    assert_eq!(change.event.source.as_str(), ConsentSource::SEND_FAILURE);
}

#[tokio::test]
async fn a_throughput_limit_puts_the_message_back_on_the_queue_and_slows_the_sender() {
    let h = Harness::new().await;
    let h = Harness { sender: Sender { pacer: Pacer::new(80.0), ..h.sender }, ..h };
    let to = "+5511987650429";
    h.opt_in(to).await;
    let id = h.request(to, noon(), "").await;
    let before = h.sender.pacer.interval();
    assert_eq!(h.run(noon()).await, [Outcome::Deferred]);
    assert!(h.sender.pacer.interval() > before, "paced slower after 130429");
    let message = h.message(&id).await;
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Deferred, Some("rate_limited_130429")));
    let not_before = message.not_before.unwrap();
    assert!(not_before > noon() && not_before <= noon() + SignedDuration::from_secs(3), "{not_before}");
    // The retry job waits on the queue with its delay (not visible yet).
    assert!(h.jobs().await.is_empty());
}

#[tokio::test]
async fn a_per_user_marketing_limit_waits_a_day_in_the_table() {
    let h = Harness::new().await;
    let to = "+5511987650049";
    h.opt_in(to).await;
    let id = h.request(to, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Scheduled]);
    let message = h.message(&id).await;
    assert_eq!(message.reason.as_deref(), Some("rate_limited_131049"));
    assert!(message.not_before.unwrap() >= noon() + SignedDuration::from_hours(24));
}

#[tokio::test]
async fn a_crash_between_sending_and_sent_never_sends_twice_and_ends_unknown_outcome() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), "").await;
    // An earlier instance claimed it, called Meta (maybe) and died.
    let claim = TransitionDetails::default();
    h.sender.messages.transition(&id, &[MessageState::Queued], MessageState::Sending, noon(), claim).await.unwrap();
    assert_eq!(h.run(noon() + SignedDuration::from_mins(1)).await, [Outcome::Unknown]);
    assert_eq!(h.message(&id).await.state, MessageState::Sending);
    assert!(h.sim.accepted().is_empty(), "never resent blindly");

    let job = format!(r#"{{"v":1,"kind":"send_job","body":{{"id":"{id}"}}}}"#);
    let late = noon() + SignedDuration::from_mins(16);
    assert_eq!(h.sender.process(&job, late).await.unwrap(), Outcome::Failed);
    let message = h.message(&id).await;
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Failed, Some("unknown_outcome")));
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn a_job_arriving_before_the_messages_time_sends_nothing() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), r#","send_at":"2026-11-23T15:10:00Z""#).await;
    let job = format!(r#"{{"v":1,"kind":"send_job","body":{{"id":"{id}"}}}}"#);
    assert_eq!(h.sender.process(&job, noon()).await.unwrap(), Outcome::Skipped("not_due_yet"));
    assert!(h.sim.accepted().is_empty());
    assert_eq!(h.sender.process(&job, noon() + SignedDuration::from_mins(10)).await.unwrap(), Outcome::Sent);
    assert_eq!(h.sim.accepted().len(), 1);
    assert_eq!(h.message(&id).await.state, MessageState::Sent);
}
