//! template-registry on moto: template webhooks posted, signed, to webhook-intake and handed to
//! the registry as Lambda would; Meta's list read from the WhatsApp simulator, page by page.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use jiff::Timestamp;
use polite_adapters::graph::{GraphCatalog, GraphClient, GraphConfig};
use polite_adapters::queue::SqsQueue;
use polite_adapters::templates::DynamoTemplates;
use polite_app::intake::Queues;
use polite_app::templates::{Loaded, Registry};
use polite_domain::message::Category;
use polite_domain::ports::prelude::*;
use polite_domain::template::{TemplateKey, Verdict};
use polite_tests::{Stack, drain};
use secrecy::SecretString;
use serde_json::json;
use template_registry::handle;
use whatsapp_sim::{SimConfig, SimTemplate, Simulator};

const WABA: &str = "102290129340398";

struct Harness {
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    intake: Queues<SqsQueue>,
    registry: Registry<DynamoTemplates, GraphCatalog>,
    _sim: Simulator,
}

impl Harness {
    async fn new(templates: Vec<SimTemplate>) -> Harness {
        let stack = Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let intake = Queues::open(queue);
        let config = SimConfig { waba_id: WABA.into(), templates, ..SimConfig::default() };
        let sim = Simulator::start(config.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let graph = GraphConfig::new(sim.url(), "unused", SecretString::from(config.access_token));
        let catalog = GraphCatalog::new(GraphClient::new(graph).unwrap(), WABA);
        let store = DynamoTemplates::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("TemplatesTable"));
        Harness { stack, sqs, intake, registry: Registry { store, catalog: Some(catalog) }, _sim: sim }
    }

    /// Hands `body` to the intake and hands what it queued for the registry to it as one
    /// SQS batch; returns the failed record ids.
    async fn webhook(&self, body: &serde_json::Value) -> Vec<String> {
        polite_tests::intake(&self.intake, body.to_string().as_bytes()).await;
        let queued = drain(&self.sqs, self.stack.queue("TemplateEventsQueue")).await.unwrap();
        assert!(!queued.is_empty(), "nothing queued for the registry");
        let mut event = SqsEvent::default();
        event.records = queued
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some(body);
                m
            })
            .collect();
        let answer = handle(&self.registry, serde_json::to_value(event).unwrap(), Timestamp::now()).await.unwrap();
        answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].to_string()).collect()
    }

    async fn record(&self, name: &str, language: &str) -> polite_domain::template::TemplateRecord {
        self.registry.store.template(&TemplateKey::new(name, language)).await.unwrap().expect("a record")
    }
}

fn change(time: i64, field: &str, value: &serde_json::Value) -> serde_json::Value {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "time": time, "changes": [{"field": field, "value": value}]}]})
}

fn status(time: i64, event: &str) -> serde_json::Value {
    change(
        time,
        "message_template_status_update",
        &json!({"event": event, "message_template_id": 1_689_556_908_129_832_u64, "message_template_name": "order_update",
               "message_template_language": "en_US", "reason": "NONE", "message_template_category": "UTILITY"}),
    )
}

#[tokio::test]
async fn template_webhooks_keep_each_templates_latest_status_and_category_whatever_order_they_arrive_in() {
    let h = Harness::new(Vec::new()).await;
    assert!(h.webhook(&status(1_000, "APPROVED")).await.is_empty());
    let approved = h.record("order_update", "en_US").await;
    assert_eq!((approved.status.as_deref(), approved.category), (Some("APPROVED"), Some(Category::Utility)));

    // Paused, then Meta's retry of the old APPROVED arrives: still paused.
    assert!(h.webhook(&status(2_000, "PAUSED")).await.is_empty());
    assert!(h.webhook(&status(1_000, "APPROVED")).await.is_empty());
    let paused = h.record("order_update", "en_US").await;
    assert!(matches!(paused.verdict(Timestamp::from_second(2_001).unwrap()), Verdict::Hold { .. }), "{paused:?}");

    // A completed re-categorisation to MARKETING.
    let recategorised = change(
        3_000,
        "template_category_update",
        &json!({"message_template_id": 1, "message_template_name": "order_update", "message_template_language": "en_US",
               "previous_category": "UTILITY", "new_category": "MARKETING", "category_update_timestamp": 3_000}),
    );
    assert!(h.webhook(&recategorised).await.is_empty());
    assert_eq!(h.record("order_update", "en_US").await.category, Some(Category::Marketing));
    // Meta's quality example (on the status field) reaches the same record.
    let quality = change(
        4_000,
        "message_template_status_update",
        &json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 1,
               "message_template_name": "order_update", "message_template_language": "en_US"}),
    );
    assert!(h.webhook(&quality).await.is_empty());
    let record = h.record("order_update", "en_US").await;
    assert_eq!((record.quality.as_deref(), record.status.as_deref()), (Some("YELLOW"), Some("PAUSED")));
    assert_eq!(h.registry.store.loaded_at().await.unwrap(), None, "webhooks are not a complete load");
}

#[tokio::test]
async fn a_load_reads_every_page_of_metas_list_and_marks_the_registry_loaded() {
    let mut templates: Vec<SimTemplate> =
        (0..130).map(|i| SimTemplate::approved(&format!("promo_{i:03}"), "pt_BR", "MARKETING")).collect();
    templates.push(SimTemplate { status: "DISABLED".into(), ..SimTemplate::approved("old_offer", "en", "MARKETING") });
    let h = Harness::new(templates).await;
    let now = Timestamp::now();
    let loaded = h.registry.load(now).await.unwrap();
    assert_eq!(loaded, Loaded { listed: 131, changed: 131 }, "two pages of 100");
    assert_eq!(h.registry.store.templates().await.unwrap().len(), 131);
    assert_eq!(h.registry.store.loaded_at().await.unwrap(), Some(now));
    let record = h.record("promo_129", "pt_BR").await;
    assert_eq!((record.category, record.quality.as_deref()), (Some(Category::Marketing), Some("GREEN")));
    assert_eq!(h.record("old_offer", "en").await.verdict(now), Verdict::Unavailable { status: "DISABLED".into() });
    // Loading again changes nothing; the scheduled event does the same as the command.
    let again = handle(&h.registry, json!({"source": "aws.scheduler"}), now).await.unwrap();
    assert_eq!((again["loaded"].as_bool(), again["changed"].as_u64()), (Some(true), Some(0)));
}
