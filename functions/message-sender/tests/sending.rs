//! message-sender against moto and the WhatsApp simulator: messages created by messages-api,
//! jobs taken from the real send-queue, the gate at send time, and never a second send.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_app::scheduler::Scheduler;
use polite_app::sending::pacing::Pacer;
use polite_app::sending::{Outcome, Sender};
use polite_domain::ContactRef;
use polite_domain::audience::Recipient;
use polite_domain::campaign::{CampaignRecord, CampaignRequest};
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::contact::ContactSettings;
use polite_domain::envelope::{self, kinds};
use polite_domain::gate::Policy;
use polite_domain::inbound::ConsentChange;
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState, StatusValue};
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use polite_domain::record::NewMessage;
use polite_domain::request::SendRequest;
use polite_domain::status::StatusUpdate;
use polite_domain::template::{TemplateKey, TemplateUpdate};
use polite_tests::{Stack, drain};
use secrecy::SecretString;
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
    scheduler: Scheduler<DynamoMessages, DynamoContacts, SqsQueue, polite_adapters::templates::DynamoTemplates>,
    sender: Sender<DynamoMessages, DynamoContacts, SqsQueue, GraphClient, polite_adapters::templates::DynamoTemplates>,
}

impl Harness {
    async fn new() -> Harness {
        Self::with_sim(SimConfig::default()).await
    }

    async fn with_sim(sim_config: SimConfig) -> Harness {
        let stack = Stack::create().await.unwrap();
        let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let messages = || DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"), b"test-contact-hash-key");
        let contacts = || DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), b"test-contact-hash-key");
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let sim_config = SimConfig::default();
        let token = SecretString::from(sim_config.access_token);
        let whatsapp = GraphClient::new(GraphConfig::new(sim.url(), sim_config.phone_number_id, token)).unwrap();
        let scheduler = Scheduler {
            messages: messages(),
            contacts: contacts(),
            templates: polite_adapters::templates::DynamoTemplates::new(dynamo.clone(), stack.table("TemplatesTable")),
            send_queue: queue("SendQueue"),
            campaigns: polite_domain::campaign::CampaignSettings::default(),
            audiences: polite_app::scheduler::NoAudiences,
        };
        let sender = Sender {
            messages: messages(),
            contacts: contacts(),
            send_queue: queue("SendQueue"),
            inbound: queue("InboundEventsQueue"),
            whatsapp,
            templates: polite_adapters::templates::DynamoTemplates::new(dynamo.clone(), stack.table("TemplatesTable")),
            marketing_messages_api: false,
            policy: Policy::default(),
            pacer: Pacer::new(0.0),
        };
        Harness { stack, sqs, sim, scheduler, sender }
    }

    async fn opt_in(&self, to: &str) {
        polite_tests::opt_in_marketing(&self.sender.contacts, to).await.unwrap();
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
    let log =
        h.sender.contacts.recent_sends(&ContactRef::parse(ANA).unwrap(), noon() - SignedDuration::from_hours(1)).await;
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
    let wa_id = ContactRef::parse(ANA).unwrap();
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
    let wa_id = ContactRef::parse(ANA).unwrap();
    let week = SignedDuration::from_hours(24 * 7);
    for (i, days) in [(1, 3), (2, 1)] {
        let at = noon() - SignedDuration::from_hours(24 * days);
        let read = h.sender.contacts.recent_sends(&wa_id, noon() - week).await.unwrap();
        let sent = SentRecord { category: Category::Marketing, at };
        h.sender.contacts.reserve_send(&wa_id, &format!("msg_old{i}"), sent, week, &read).await.unwrap();
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
    assert_eq!(change.contact, ContactRef::parse(to).unwrap());
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
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Deferred, Some("rate_limited")));
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
    assert_eq!(message.reason.as_deref(), Some("rate_limited"));
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
async fn an_ambiguous_answer_is_never_resent_and_a_later_status_settles_it() {
    for knobs in [
        whatsapp_sim::Knobs { empty_answer_rate: 1.0, ..whatsapp_sim::Knobs::default() },
        whatsapp_sim::Knobs { gateway_timeout_rate: 1.0, ..whatsapp_sim::Knobs::default() },
    ] {
        let h = Harness::with_sim(SimConfig { knobs, ..SimConfig::default() }).await;
        h.opt_in(ANA).await;
        let id = h.request(ANA, noon(), "").await;
        // Meta took it, but the answer does not say so.
        assert_eq!(h.run(noon()).await, [Outcome::Unknown], "{knobs:?}");
        assert_eq!(h.message(&id).await.state, MessageState::Sending);
        // The recheck (due in 5 minutes) finds it in flight: nothing is sent again; later it
        // fails as unknown.
        let job = format!(r#"{{"v":1,"kind":"send_job","body":{{"id":"{id}"}}}}"#);
        assert_eq!(h.sender.process(&job, noon() + SignedDuration::from_mins(5)).await.unwrap(), Outcome::Unknown);
        assert_eq!(h.sender.process(&job, noon() + SignedDuration::from_mins(16)).await.unwrap(), Outcome::Failed);
        assert_eq!(h.sim.accepted().len(), 1, "sent exactly once: {knobs:?}");
        let failed = h.message(&id).await;
        assert_eq!((failed.state, failed.reason.as_deref()), (MessageState::Failed, Some("unknown_outcome")));

        // Meta's status, carrying polite's id, arrives late and tells the truth.
        let wamid = h.sim.accepted()[0].wamid.clone();
        let status = StatusUpdate { wamid: Some(wamid.clone()), ..StatusUpdate::plain(StatusValue::Delivered, noon()) };
        h.sender.messages.apply_status(&id, &status).await.unwrap();
        let settled = h.message(&id).await;
        assert_eq!(settled.state, MessageState::Delivered);
        assert_eq!((settled.wamid.as_deref(), settled.reason, settled.error), (Some(wamid.as_str()), None, None));
        assert_eq!(h.sender.messages.message_for_wamid(&wamid).await.unwrap().as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn a_status_settles_a_message_deferred_for_a_retry_and_no_retry_follows() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), "").await;
    let _ = h.jobs().await;
    let claimed = h.sender.messages.transition(
        &id,
        &[MessageState::Queued],
        MessageState::Sending,
        noon(),
        TransitionDetails::default(),
    );
    claimed.await.unwrap();
    let retry = TransitionDetails {
        reason: Some("graph_api_unavailable".into()),
        not_before: Some(noon() + SignedDuration::from_secs(30)),
        ..TransitionDetails::default()
    };
    h.sender.messages.transition(&id, &[MessageState::Sending], MessageState::Deferred, noon(), retry).await.unwrap();

    let status = StatusUpdate { wamid: Some("wamid.LATE".into()), ..StatusUpdate::plain(StatusValue::Sent, noon()) };
    h.sender.messages.apply_status(&id, &status).await.unwrap();
    let settled = h.message(&id).await;
    assert_eq!(
        (settled.state, settled.wamid.as_deref(), settled.not_before),
        (MessageState::Sent, Some("wamid.LATE"), None)
    );
    // The retry's job arrives: the message is no longer the sender's.
    let job = format!(r#"{{"v":1,"kind":"send_job","body":{{"id":"{id}"}}}}"#);
    let later = noon() + SignedDuration::from_mins(1);
    assert_eq!(h.sender.process(&job, later).await.unwrap(), Outcome::Skipped("not_claimable"));
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn an_opt_out_recorded_while_the_sender_waits_for_its_pacing_slot_suppresses_the_message() {
    let mut h = Harness::new().await;
    // A throttled number: one call every 2.5 s, and the slot of this instant already taken.
    h.sender.pacer = Pacer::new(0.4);
    h.sender.pacer.wait().await;
    h.opt_in(ANA).await;
    let id = h.request(ANA, noon(), "").await;
    let job = h.jobs().await.pop().unwrap();

    let opt_out = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stop = ConsentEvent::from_user_preference(
            "5511987654321",
            polite_domain::consent::Preference::Stop,
            noon(),
            noon(),
        );
        h.sender.contacts.append_consent(&ContactRef::parse(ANA).unwrap(), &stop).await.unwrap();
    };
    let (outcome, ()) = tokio::join!(h.sender.process(&job, noon()), opt_out);
    assert_eq!(outcome.unwrap(), Outcome::Suppressed, "decided again after the wait");
    assert!(h.sim.accepted().is_empty());
    assert_eq!(h.message(&id).await.reason.as_deref(), Some("opted_out"));
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

#[tokio::test]
async fn a_job_that_fails_on_its_last_delivery_ends_its_message_failed_instead_of_looping() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    // A sender whose contacts table cannot be read: every attempt fails the same way, and the
    // tick would queue the message again after each trip to the DLQ.
    let dynamo = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    let broken = DynamoContacts::new(dynamo, format!("{}-gone", h.stack.table("ContactsTable")), b"k");
    let h = Harness { sender: Sender { contacts: broken, ..h.sender }, ..h };
    let record = MessageRecord::new(
        "msg_unreadable".into(),
        ContactRef::parse(ANA).unwrap(),
        Category::Marketing,
        polite_domain::request::Payload::Template(
            serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}}),
        ),
        MessageState::Queued,
        noon(),
    );
    h.sender.messages.create(&NewMessage { record, idempotency_key: None, body_hash: String::new() }).await.unwrap();
    let job = r#"{"v":1,"kind":"send_job","body":{"id":"msg_unreadable"}}"#;
    for receives in 1..polite_app::sending::MAX_RECEIVES {
        assert!(h.sender.process_received(job, receives, noon()).await.is_err(), "delivery {receives}: SQS retries");
        assert_eq!(h.message("msg_unreadable").await.state, MessageState::Queued);
    }
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let resources = polite_adapters::provision::read_template(&template).unwrap();
    let send_queue = resources.queues.iter().find(|q| q.logical_id == "SendQueue").unwrap();
    assert_eq!(
        send_queue.redrive.as_ref().map(|r| r.1),
        Some(polite_app::sending::MAX_RECEIVES),
        "the template's count"
    );
    let last = h.sender.process_received(job, polite_app::sending::MAX_RECEIVES, noon()).await.unwrap();
    assert_eq!(last, Outcome::Failed);
    let message = h.message("msg_unreadable").await;
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Failed, Some("send_job_failed")));
    assert!(h.sim.accepted().is_empty());
}

/// The campaign's messages, by recipient, read back through their per-recipient keys.
async fn campaign_messages(h: &Harness, campaign: &CampaignRecord, to: &[&str]) -> Vec<MessageRecord> {
    let mut found = Vec::new();
    for (position, number) in to.iter().enumerate() {
        let send = campaign.message_for(Recipient::plain(ContactRef::parse(number).unwrap()), position);
        let mut probe = Harness::message_probe(&send.to);
        probe.idempotency_key = send.idempotency_key;
        probe.body_hash.clone_from(&campaign.id);
        // The key exists: `create` answers the message it names and writes nothing.
        let message = h.sender.messages.create(&probe).await.unwrap();
        assert_ne!(message.id, probe.record.id, "{number} has a campaign message");
        found.push(message);
    }
    found
}

type TestSender =
    Sender<DynamoMessages, DynamoContacts, SqsQueue, GraphClient, polite_adapters::templates::DynamoTemplates>;

/// One sender instance working through its jobs in order.
async fn process_all(sender: &TestSender, jobs: &[String]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for job in jobs {
        out.push(sender.process(job, noon()).await.unwrap());
    }
    out
}

impl Harness {
    /// A second sender instance on the same table, queues and API, with its own pacer.
    fn another_sender(&self, pacer: Pacer) -> TestSender {
        let s = &self.sender;
        Sender {
            messages: s.messages.clone(),
            contacts: s.contacts.clone(),
            send_queue: s.send_queue.clone(),
            inbound: s.inbound.clone(),
            whatsapp: s.whatsapp.clone(),
            templates: s.templates.clone(),
            marketing_messages_api: s.marketing_messages_api,
            policy: s.policy.clone(),
            pacer,
        }
    }

    fn message_probe(to: &ContactRef) -> NewMessage {
        let payload = polite_domain::request::Payload::Text("hi".into());
        let record = MessageRecord::new(
            "msg_probe".into(),
            to.clone(),
            Category::Marketing,
            payload,
            MessageState::Queued,
            noon(),
        );
        NewMessage { record, idempotency_key: None, body_hash: String::new() }
    }

    /// A campaign of the spring_sale template to `to`, accepted and fanned out at `now`.
    async fn campaign(&self, to: &[&str], now: Timestamp) -> CampaignRecord {
        let body = serde_json::json!({
            "name": "Spring sale",
            "category": "marketing",
            "template": {"name": "spring_sale", "language": "pt_BR"},
            "recipients": to,
        });
        let request: CampaignRequest = serde_json::from_value(body.clone()).unwrap();
        let valid = request.validate(now).unwrap();
        let ready = self.scheduler.personalise(&valid).await.unwrap();
        let record = self.scheduler.create_campaign(&valid, &ready, body.to_string(), now).await.unwrap();
        let done = self.scheduler.fan_out_within(&record, Duration::from_mins(1), now).await;
        assert_eq!(done.created, to.len());
        // Recipients after the first are spread a second later on the queue.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        record
    }
}

const LONDON: &str = "+442079460018";
const TOKYO: &str = "+81312345678";
const SYDNEY: &str = "+61298765432";

#[tokio::test]
async fn a_campaign_at_noon_in_sao_paulo_waits_for_morning_where_it_is_night() {
    let h = Harness::new().await;
    let everyone = [ANA, LONDON, TOKYO, SYDNEY];
    for to in everyone {
        h.opt_in(to).await;
    }
    let campaign = h.campaign(&everyone, noon()).await;
    let mut outcomes = h.run(noon() + SignedDuration::from_mins(1)).await;
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [Outcome::Scheduled, Outcome::Scheduled, Outcome::Sent, Outcome::Sent]);

    let messages = campaign_messages(&h, &campaign, &everyone).await;
    let states: Vec<MessageState> = messages.iter().map(|m| m.state).collect();
    assert_eq!(states, [MessageState::Sent, MessageState::Sent, MessageState::Scheduled, MessageState::Scheduled]);
    // 08:00 in Tokyo is 23:00 UTC; in Sydney (summer time, UTC+11) 21:00 UTC; plus jitter.
    for (message, eight_local) in messages[2..].iter().zip(["2026-11-23T23:00:00Z", "2026-11-23T21:00:00Z"]) {
        let eight_local: Timestamp = eight_local.parse().unwrap();
        let not_before = message.not_before.unwrap();
        assert_eq!(message.reason.as_deref(), Some("quiet_hours"));
        assert!(
            not_before >= eight_local && not_before <= eight_local + SignedDuration::from_mins(10),
            "{}: {not_before}",
            message.to.masked()
        );
    }
    let mut sent_to: Vec<String> = h.sim.accepted().into_iter().map(|m| m.to).collect();
    sent_to.sort();
    assert_eq!(sent_to, ["442079460018", "5511987654321"]);

    let counts = h.sender.messages.campaign_tally(&campaign.id).await.unwrap().states;
    assert_eq!((counts[&MessageState::Sent], counts[&MessageState::Scheduled]), (2, 2));
    assert_eq!(counts.values().sum::<i64>(), 4, "each message counted once, in its state");

    // Sydney's morning: the tick releases it, the sender sends it.
    let morning = messages[3].not_before.unwrap();
    let report = polite_app::scheduler::tick::run(&h.scheduler, morning).await.unwrap();
    assert_eq!(report.released, 1);
    assert_eq!(h.run(morning).await, [Outcome::Sent]);
    assert_eq!(h.sim.accepted().len(), 3);
}

#[tokio::test]
async fn quiet_hours_follow_the_recipients_clock_across_a_dst_change() {
    let h = Harness::new().await;
    h.opt_in(LONDON).await;
    let zone = ContactSettings { timezone: Some("Europe/London".parse().unwrap()), ..ContactSettings::default() };
    h.sender.contacts.update_settings(&ContactRef::parse(LONDON).unwrap(), &zone).await.unwrap();
    // 22:30 BST on Saturday 24 October 2026; British Summer Time ends at 01:00 UTC that night.
    let evening: Timestamp = "2026-10-24T21:30:00Z".parse().unwrap();
    let id = h.request(LONDON, evening, "").await;
    assert_eq!(h.run(evening).await, [Outcome::Scheduled]);
    let message = h.message(&id).await;
    assert_eq!(message.reason.as_deref(), Some("quiet_hours"));
    // 08:00 on Sunday is GMT again: 08:00 UTC, not the 07:00 UTC a fixed +01:00 would give.
    let eight_gmt: Timestamp = "2026-10-25T08:00:00Z".parse().unwrap();
    let not_before = message.not_before.unwrap();
    assert!(not_before >= eight_gmt && not_before <= eight_gmt + SignedDuration::from_mins(10), "{not_before}");

    // And in spring the other way: 22:30 GMT on 27 March 2027, summer time from 01:00 UTC.
    let evening: Timestamp = "2027-03-27T22:30:00Z".parse().unwrap();
    let id = h.request(LONDON, evening, "").await;
    assert_eq!(h.run(evening).await, [Outcome::Scheduled]);
    let eight_bst: Timestamp = "2027-03-28T07:00:00Z".parse().unwrap();
    let not_before = h.message(&id).await.not_before.unwrap();
    assert!(not_before >= eight_bst && not_before <= eight_bst + SignedDuration::from_mins(10), "{not_before}");
}

#[tokio::test]
async fn a_429_storm_across_two_senders_loses_nothing_fails_nothing_and_slows_both() {
    let h = Harness::new().await;
    // Two instances sharing the number's 80 mps.
    let (first, second) = (h.another_sender(Pacer::new(40.0)), h.another_sender(Pacer::new(40.0)));
    // Six recipients on a throttled path (the simulator answers 130429 for numbers ending
    // 0429 — here, as for Meta, the business number is over its throughput) and two others.
    let throttled: Vec<String> = (1..=6).map(|i| format!("+55119876{i}0429")).collect();
    let fine = ["+5511987650001", "+5511987650002"];
    let mut ids = Vec::new();
    for to in throttled.iter().map(String::as_str).chain(fine) {
        h.opt_in(to).await;
        ids.push(h.request(to, noon(), "").await);
    }
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 8);
    let (mine, theirs) = jobs.split_at(4);
    let (one, other) = tokio::join!(process_all(&first, mine), process_all(&second, theirs));
    let outcomes: Vec<Outcome> = one.into_iter().chain(other).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Deferred).count(), 6, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Sent).count(), 2, "{outcomes:?}");
    assert!(first.pacer.interval() > Duration::from_millis(25) && second.pacer.interval() > Duration::from_millis(25));

    for id in &ids[..6] {
        let message = h.message(id).await;
        assert_eq!((message.state, message.reason.as_deref()), (MessageState::Deferred, Some("rate_limited")));
        assert_eq!(message.error.as_ref().map(|e| e.code), Some(130_429), "the cause is visible while it waits");
        let not_before = message.not_before.unwrap();
        assert!(not_before > noon() && not_before <= noon() + SignedDuration::from_secs(3), "{not_before}");
    }
    // Nothing lost: each throttled message has its retry job on the queue, visible after its delay.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let retries: Vec<String> = h
        .jobs()
        .await
        .iter()
        .map(|b| envelope::decode::<polite_domain::request::SendJob>(kinds::SEND_JOB, b).unwrap().id)
        .collect();
    let mut expected: Vec<String> = ids[..6].to_vec();
    let mut got = retries.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn an_opt_out_recorded_while_a_campaign_is_queued_means_zero_sends_to_that_recipient() {
    let h = Harness::new().await;
    let everyone = [ANA, LONDON, "+5511912340001"];
    for to in everyone {
        h.opt_in(to).await;
    }
    let campaign = h.campaign(&everyone, noon()).await;
    // Ana opts out of marketing (a 131050 on another message) while the campaign waits on the queue.
    let stop = ConsentEvent::from_send_failure("msg_elsewhere", noon(), noon());
    h.sender.contacts.append_consent(&ContactRef::parse(ANA).unwrap(), &stop).await.unwrap();

    let mut outcomes = h.run(noon() + SignedDuration::from_mins(1)).await;
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [Outcome::Sent, Outcome::Sent, Outcome::Suppressed]);
    let messages = campaign_messages(&h, &campaign, &everyone).await;
    assert_eq!((messages[0].state, messages[0].reason.as_deref()), (MessageState::Suppressed, Some("opted_out")));
    assert!(h.sim.accepted().iter().all(|m| m.to != "5511987654321"), "nothing reached Ana");
    let counts = h.sender.messages.campaign_tally(&campaign.id).await.unwrap().states;
    assert_eq!((counts[&MessageState::Sent], counts[&MessageState::Suppressed]), (2, 1));
}

/// Meta's word on `spring_sale`/`pt_BR` in the template registry, as of `at`.
async fn registry(h: &Harness, status: &str, category: Category, at: Timestamp) {
    let update = TemplateUpdate {
        key: TemplateKey::new("spring_sale", "pt_BR"),
        id: None,
        status: Some(status.into()),
        reason: None,
        category: Some(category),
        pending_category: None,
        quality: None,
        shape: None,
        at,
    };
    h.sender.templates.apply_template(&update).await.unwrap();
}

#[tokio::test]
async fn a_paused_template_holds_its_message_until_meta_approves_it_again() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    registry(&h, "PAUSED", Category::Marketing, noon() - SignedDuration::from_hours(1)).await;
    let id = h.request(ANA, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Scheduled]);
    let message = h.message(&id).await;
    assert_eq!((message.state, message.reason.as_deref()), (MessageState::Scheduled, Some("template_paused")));
    let recheck = SignedDuration::from_secs(i64::from(Policy::default().paused_template_recheck_seconds));
    assert_eq!(message.not_before, Some(noon() + recheck));
    assert!(h.sim.accepted().is_empty(), "not burnt on 132015");

    // Approved again: at its next look it goes.
    let later = noon() + recheck;
    registry(&h, "APPROVED", Category::Marketing, later - SignedDuration::from_mins(1)).await;
    let claimable = h.sender.messages.get(&id).await.unwrap().unwrap();
    let requeued = TransitionDetails { due_at: Some(later), ..TransitionDetails::default() };
    h.sender.messages.transition_from(&claimable, MessageState::Queued, later, requeued).await.unwrap();
    let job = envelope::send_job(&id, 0).unwrap();
    assert_eq!(h.sender.process(&job.body, later).await.unwrap(), Outcome::Sent);
    assert_eq!(h.sim.accepted().len(), 1);
}

#[tokio::test]
async fn a_disabled_template_or_one_a_loaded_registry_does_not_know_is_suppressed() {
    let h = Harness::new().await;
    h.opt_in(ANA).await;
    registry(&h, "DISABLED", Category::Marketing, noon() - SignedDuration::from_hours(1)).await;
    let id = h.request(ANA, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Suppressed]);
    assert_eq!(h.message(&id).await.reason.as_deref(), Some("template_unavailable"));

    // A template the registry has never heard of: sent while the registry was never loaded
    // (it has no say), suppressed once it holds Meta's whole list.
    let unknown = r#","template":{"name":"never_heard_of","language":"en"}"#;
    let json = format!(r#"{{"to":"{ANA}","category":"marketing"{unknown}}}"#);
    let send = serde_json::from_str::<SendRequest>(&json).unwrap().validate(noon()).unwrap();
    h.sender.templates.mark_loaded(noon() - SignedDuration::from_mins(5)).await.unwrap();
    let id = h.scheduler.submit(send, json, noon()).await.unwrap().id;
    assert_eq!(h.run(noon()).await, [Outcome::Suppressed]);
    assert_eq!(h.message(&id).await.reason.as_deref(), Some("template_unavailable"));
    assert!(h.sim.accepted().is_empty());
}

#[tokio::test]
async fn a_template_meta_recategorised_as_marketing_needs_marketing_consent_and_the_message_says_so() {
    let h = Harness::new().await;
    // Ana agreed to order updates only.
    let ana = ContactRef::parse(ANA).unwrap();
    let at: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
    let source = ConsentSource::business("checkout").unwrap();
    let utility =
        ConsentEvent::from_business(&ana, ConsentCategory::Utility, ConsentStatus::OptedIn, source, None, at, at)
            .unwrap();
    h.sender.contacts.append_consent(&ana, &utility).await.unwrap();
    let json =
        format!(r#"{{"to":"{ANA}","category":"utility","template":{{"name":"spring_sale","language":"pt_BR"}}}}"#);
    let send = serde_json::from_str::<SendRequest>(&json).unwrap().validate(noon()).unwrap();
    let id = h.scheduler.submit(send, json, noon()).await.unwrap().id;
    // Queued as utility; Meta completes a re-categorisation to MARKETING before it goes.
    registry(&h, "APPROVED", Category::Marketing, noon() - SignedDuration::from_mins(1)).await;
    assert_eq!(h.run(noon()).await, [Outcome::Suppressed]);
    let message = h.message(&id).await;
    assert_eq!(message.reason.as_deref(), Some("no_consent"));
    assert_eq!((message.category, message.requested_category), (Category::Marketing, Some(Category::Utility)));
    assert!(h.sim.accepted().is_empty());
}

/// A sender on the Marketing Messages API, against a simulator that knows `spring_sale`
/// (MARKETING) and `order_shipped` (UTILITY).
async fn on_the_marketing_messages_api(sim: SimConfig) -> Harness {
    let templates = vec![
        whatsapp_sim::SimTemplate::approved("spring_sale", "pt_BR", "MARKETING"),
        whatsapp_sim::SimTemplate::approved("order_shipped", "pt_BR", "UTILITY"),
    ];
    let h = Harness::with_sim(SimConfig { templates, ..sim }).await;
    Harness { sender: Sender { marketing_messages_api: true, ..h.sender }, ..h }
}

async fn request_utility(h: &Harness, to: &str) -> String {
    let json =
        format!(r#"{{"to":"{to}","category":"utility","template":{{"name":"order_shipped","language":"pt_BR"}}}}"#);
    let send = serde_json::from_str::<SendRequest>(&json).unwrap().validate(noon()).unwrap();
    h.scheduler.submit(send, json, noon()).await.unwrap().id
}

#[tokio::test]
async fn with_the_marketing_messages_api_on_marketing_goes_to_marketing_messages_and_the_rest_to_messages() {
    let h = on_the_marketing_messages_api(SimConfig::default()).await;
    h.opt_in(ANA).await;
    let promo = h.request(ANA, noon(), "").await;
    let update = request_utility(&h, "+5511987654322").await;
    h.opt_in("+5511987654322").await;
    assert_eq!(h.run(noon()).await, [Outcome::Sent, Outcome::Sent]);
    let endpoints: Vec<(String, &str)> =
        h.sim.accepted().iter().map(|m| (m.biz_opaque_callback_data.clone().unwrap(), m.endpoint)).collect();
    assert!(endpoints.contains(&(promo, "marketing_messages")), "{endpoints:?}");
    assert!(endpoints.contains(&(update, "messages")), "{endpoints:?}");
}

#[tokio::test]
async fn without_the_api_terms_accepted_marketing_falls_back_to_messages_once() {
    let h = on_the_marketing_messages_api(SimConfig { marketing_terms_accepted: false, ..SimConfig::default() }).await;
    h.opt_in(ANA).await;
    let promo = h.request(ANA, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Sent]);
    let accepted = h.sim.accepted();
    assert_eq!(accepted.len(), 1, "sent once");
    assert_eq!(accepted[0].endpoint, "messages");
    assert_eq!(h.message(&promo).await.state, MessageState::Sent);
}

#[tokio::test]
async fn marketing_turned_off_on_messages_fails_clearly_naming_the_setting() {
    let sim = SimConfig { marketing_off_on_messages: true, ..SimConfig::default() };
    let h = Harness::with_sim(sim).await;
    h.opt_in(ANA).await;
    let promo = h.request(ANA, noon(), "").await;
    assert_eq!(h.run(noon()).await, [Outcome::Failed]);
    let failed = h.message(&promo).await;
    assert_eq!(failed.reason.as_deref(), Some("marketing_messages_api_required"));
    assert_eq!(failed.error.map(|e| e.code), Some(131_063));
}
