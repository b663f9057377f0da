//! The whole loop of a 131050 on moto and the WhatsApp simulator: a campaign goes out through
//! messages-api and message-sender, Meta later reports one message `failed` 131050
//! (through webhook-intake, signed), status-processor turns it into a marketing opt-out on
//! inbound-events, consent-updater records it — and the next campaign suppresses that
//! recipient while the others still get it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_app::inbound::Updater;
use polite_app::scheduler::Scheduler;
use polite_app::sending::Sender;
use polite_app::sending::pacing::Pacer;
use polite_app::statuses::Processor;
use polite_domain::ContactRef;
use polite_domain::campaign::{CampaignRecord, CampaignRequest};
use polite_domain::consent::{ConsentCategory, ConsentKeywords, ConsentStatus};
use polite_domain::envelope::{self, kinds};
use polite_domain::gate::Policy;
use polite_domain::message::MessageState as S;
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use polite_domain::request::SendJob;
use polite_tests::drain;
use secrecy::SecretString;
use serde_json::{Value, json};
use webhook_intake::Intake;
use whatsapp_sim::{SimConfig, Simulator};

const ANA: &str = "+5511987654321";
const BEA: &str = "+5511912340001";

/// 12:00 in São Paulo on a Monday.
fn noon() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

const APP_SECRET: &str = "polite-local-app-secret";

/// The moto stack, webhook-intake and status-processor.
struct Harness {
    stack: polite_tests::Stack,
    sqs: aws_sdk_sqs::Client,
    intake: Intake<SqsQueue>,
    processor: Processor<DynamoMessages, DynamoContacts, SqsQueue>,
}

impl Harness {
    async fn new() -> Harness {
        let stack = polite_tests::Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let intake = Intake::with_queues(APP_SECRET, "unused", |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id)));
        let processor = polite_tests::status_processor(&stack);
        Harness { stack, sqs, intake, processor }
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
}

/// webhook-intake and status-processor ([`Harness`]), plus the simulator, the
/// scheduler, the sender and consent-updater on the same moto stack.
struct Loop {
    h: Harness,
    sim: Simulator,
    scheduler: Scheduler<DynamoMessages, DynamoContacts, SqsQueue, polite_adapters::templates::DynamoTemplates>,
    sender: Sender<DynamoMessages, DynamoContacts, SqsQueue, GraphClient, polite_adapters::templates::DynamoTemplates>,
    updater: Updater<DynamoContacts, GraphClient>,
}

impl Loop {
    async fn new() -> Loop {
        let h = Harness::new().await;
        let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
        let messages = || DynamoMessages::new(dynamo.clone(), h.stack.table("MessagesTable"), b"test-contact-hash-key");
        let contacts = || DynamoContacts::new(dynamo.clone(), h.stack.table("ContactsTable"), b"test-contact-hash-key");
        let queue = |id: &str| SqsQueue::new(h.sqs.clone(), h.stack.queue(id));
        let sim_config = SimConfig::default();
        let token = SecretString::from(sim_config.access_token);
        let whatsapp = GraphClient::new(GraphConfig::new(sim.url(), sim_config.phone_number_id, token)).unwrap();
        Loop {
            scheduler: Scheduler {
                messages: messages(),
                contacts: contacts(),
                templates: polite_adapters::templates::DynamoTemplates::new(
                    dynamo.clone(),
                    h.stack.table("TemplatesTable"),
                ),
                send_queue: queue("SendQueue"),
                campaigns: polite_domain::campaign::CampaignSettings::default(),
                audiences: polite_app::scheduler::NoAudiences,
            },
            sender: Sender {
                messages: messages(),
                contacts: contacts(),
                send_queue: queue("SendQueue"),
                inbound: queue("InboundEventsQueue"),
                whatsapp,
                templates: polite_adapters::templates::DynamoTemplates::new(
                    dynamo.clone(),
                    h.stack.table("TemplatesTable"),
                ),
                marketing_messages_api: false,
                policy: Policy::default(),
                pacer: Pacer::new(0.0),
            },
            updater: Updater {
                store: contacts(),
                keywords: ConsentKeywords::default(),
                confirmations: None,
                send_memory: polite_domain::gate::Policy::default().send_memory(),
            },
            sim,
            h,
        }
    }

    async fn opt_in(&self, to: &str) {
        polite_tests::opt_in_marketing(&self.updater.store, to).await.unwrap();
    }

    /// A marketing campaign to `to` created and fanned out at `now`, then every job handed to
    /// the sender once the spread's delays passed: each message after the sender, by
    /// recipient.
    async fn campaign(&self, name: &str, to: &[&str], now: Timestamp) -> (CampaignRecord, Vec<MessageRecord>) {
        let body = json!({
            "name": name,
            "category": "marketing",
            "template": {"name": "spring_sale", "language": "pt_BR"},
            "recipients": to,
        });
        let request: CampaignRequest = serde_json::from_value(body.clone()).unwrap();
        let campaign = request.validate(now).unwrap();
        let ready = self.scheduler.personalise(&campaign).await.unwrap();
        let record = self.scheduler.create_campaign(&campaign, &ready, body.to_string(), now).await.unwrap();
        let done = self.scheduler.fan_out_within(&record, Duration::from_mins(1), now).await;
        assert_eq!(done.created, to.len());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let mut messages = Vec::new();
        for job in drain(&self.h.sqs, self.h.stack.queue("SendQueue")).await.unwrap() {
            self.sender.process(&job, now).await.unwrap();
            let SendJob { id } = envelope::decode(kinds::SEND_JOB, &job).unwrap();
            messages.push(self.scheduler.messages.get(&id).await.unwrap().unwrap());
        }
        messages.sort_by(|a, b| a.to.cmp(&b.to));
        (record, messages)
    }

    /// Meta's status webhook, signed, through webhook-intake; then status-processor on what
    /// it queued.
    async fn meta_reports(&self, statuses: &[Value]) {
        let records = self.h.intake(statuses).await;
        assert_eq!(records.len(), statuses.len());
        for record in records {
            self.h.processor.process(&record).await.unwrap();
        }
    }

    /// consent-updater on everything waiting on inbound-events; returns how many it applied.
    /// Applies what reached inbound-events; the number of consent changes among it (the rest:
    /// identities Meta's answers showed, forwarded by the sender).
    async fn update_consent(&self, now: Timestamp) -> usize {
        let events = drain(&self.h.sqs, self.h.stack.queue("InboundEventsQueue")).await.unwrap();
        for body in &events {
            self.updater.apply_record(body, now).await.unwrap();
        }
        let kinds = events.iter().map(|b| polite_domain::envelope::kind_of(b).unwrap());
        kinds.filter(|k| k == polite_domain::envelope::kinds::CONSENT_CHANGE).count()
    }

    /// What the simulator accepted for `to`: (wamid, polite's message id).
    fn sent_to(&self, to: &str) -> Vec<(String, String)> {
        let wa_id = ContactRef::parse(to).unwrap();
        self.sim
            .accepted()
            .into_iter()
            .filter(|m| m.to == wa_id.as_str())
            .map(|m| (m.wamid, m.biz_opaque_callback_data.unwrap_or_default()))
            .collect()
    }
}

/// A status element as Meta sends it for a message polite sent.
fn status(sent: &(String, String), to: &str, value: &str, at: Timestamp) -> Value {
    json!({"id": sent.0, "status": value, "timestamp": at.as_second().to_string(),
        "recipient_id": ContactRef::parse(to).unwrap().as_str(), "biz_opaque_callback_data": sent.1})
}

#[tokio::test]
async fn a_131050_opts_the_recipient_out_and_the_next_campaign_suppresses_them() {
    let l = Loop::new().await;
    l.opt_in(ANA).await;
    l.opt_in(BEA).await;
    let (first, messages) = Box::pin(l.campaign("Spring sale", &[ANA, BEA], noon())).await;
    assert_eq!(states(&messages), [(S::Sent, None), (S::Sent, None)]);

    // Minutes later Meta reports Ana's message undeliverable: she stopped marketing from this
    // business in WhatsApp. Bea's was delivered (and priced).
    let later = noon() + SignedDuration::from_mins(3);
    let mut failed = status(&l.sent_to(ANA)[0], ANA, "failed", later);
    failed["errors"] = json!([{"code": 131_050, "title": "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."}]);
    let mut delivered = status(&l.sent_to(BEA)[0], BEA, "delivered", later);
    delivered["pricing"] =
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"});
    l.meta_reports(&[failed, delivered]).await;
    assert_eq!(l.update_consent(later).await, 1, "one consent change, from the 131050");

    let ana = l.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap().unwrap();
    assert_eq!(ana.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    let report = l.scheduler.report(&first.id).await.unwrap().unwrap();
    assert_eq!((report.counts[&S::Failed], report.counts[&S::Delivered]), (1, 1));
    assert_eq!((report.pricing["marketing"].priced, report.pricing["marketing"].billable), (1, 1));
    assert_eq!(report.estimated_cost.estimated, 1);
    assert_eq!(report.rates.delivered, Some(0.5));

    // The next day's campaign: Bea gets it, Ana's message is suppressed at send time.
    let next_day = noon() + SignedDuration::from_hours(24);
    let (second, messages) = Box::pin(l.campaign("Spring sale, day 2", &[ANA, BEA], next_day)).await;
    // Sorted by number: Bea (…912…) before Ana (…987…).
    assert_eq!(states(&messages), [(S::Sent, None), (S::Suppressed, Some("opted_out"))]);
    assert_eq!(l.sent_to(ANA).len(), 1, "nothing more reached Ana");
    assert_eq!(l.sent_to(BEA).len(), 2);
    let report = l.scheduler.report(&second.id).await.unwrap().unwrap();
    assert_eq!((report.counts[&S::Sent], report.counts[&S::Suppressed], report.messages), (1, 1, 2));
}

fn states(messages: &[MessageRecord]) -> Vec<(S, Option<&str>)> {
    messages.iter().map(|m| (m.state, m.reason.as_deref())).collect()
}
