//! The ports' contracts (`polite_app::contract`) on the AWS adapters against moto: the same
//! suites the in-memory fakes pass (`shared/app/tests/contracts.rs`), so the fakes the use
//! cases are tested on cannot drift from what runs in AWS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_adapters::audiences::S3Audiences;
use polite_adapters::bus::EventBridgeBus;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::{GraphCatalog, GraphClient, GraphConfig};
use polite_adapters::outbox::Outboxes;
use polite_adapters::queue::SqsQueue;
use polite_adapters::templates::DynamoTemplates;
use polite_app::contract;
use polite_domain::events::Event;
use polite_domain::ports::{Outbox, PublishedEvents, StoreError};
use polite_tests::{Stack, drain};
use secrecy::SecretString;
use whatsapp_sim::{SimConfig, SimTemplate, Simulator};

#[tokio::test]
async fn sqs_keeps_the_event_queue_contract() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.queue("InboundEventsQueue");
    let queue = SqsQueue::new(sqs.clone(), url);
    contract::event_queue(&queue, || async { drain(&sqs, url).await.unwrap() }).await;
}

#[tokio::test]
async fn s3_keeps_the_audience_files_contract() {
    let stack = Stack::create().await.unwrap();
    let s3 = S3Audiences::client(&stack.sdk);
    let bucket = format!("{}-audiences", stack.prefix.to_ascii_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let files = S3Audiences::new(s3.clone(), Some(bucket.clone()));
    contract::audience_files(&files, &bucket, async |key, bytes| {
        s3.put_object().bucket(&bucket).key(key).body(bytes.into()).send().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn s3_keeps_the_report_files_contract() {
    let stack = Stack::create().await.unwrap();
    let s3 = S3Audiences::client(&stack.sdk);
    let bucket = format!("{}-audiences", stack.prefix.to_ascii_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    contract::report_files(&S3Audiences::new(s3, Some(bucket))).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_template_store_contract() {
    let stack = Stack::create().await.unwrap();
    let templates = DynamoTemplates::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("TemplatesTable"));
    contract::template_store(&templates).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_import_store_contract() {
    let stack = Stack::create().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    contract::import_store(&DynamoContacts::new(dynamo, stack.table("ContactsTable"), b"test-contact-hash-key")).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_send_log_contract() {
    let stack = Stack::create().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    contract::send_log(&DynamoContacts::new(dynamo, stack.table("ContactsTable"), b"test-contact-hash-key")).await;
}

#[tokio::test]
async fn eventbridge_keeps_the_event_bus_contract() {
    let stack = Stack::create().await.unwrap();
    let name = &stack.resources.buses["PoliteEventBus"];
    let url = polite_devstack::streams::route_bus_to_queue(&stack.sdk, name, &stack.prefix).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&stack.sdk), name);
    contract::event_bus(&bus, || async {
        let mut ids = Vec::new();
        // EventBridge delivers to the rule's queue a moment later.
        for _ in 0..50 {
            for body in drain(&sqs, &url).await.unwrap() {
                let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
                ids.push(envelope["detail"]["id"].as_str().unwrap().to_owned());
            }
            if ids.len() >= 23 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ids
    })
    .await;
}

#[tokio::test]
async fn dynamodb_keeps_the_outbox_contract() {
    let stack = Stack::create().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.table("ContactsTable");
    let contacts = DynamoContacts::new(dynamo.clone(), table, b"test-contact-hash-key");
    let outbox = (contacts, Outboxes::new(dynamo.clone()));
    contract::outbox(&Both(outbox), table, || async {
        let items = dynamo.scan().table_name(table).consistent_read(true).send().await.unwrap();
        items
            .items()
            .iter()
            .filter_map(|item| {
                let pk = item.get("pk")?.as_s().ok()?;
                let id = pk.strip_prefix(polite_adapters::outbox::PREFIX)?;
                Some((id.to_owned(), item.contains_key(polite_adapters::outbox::attrs::DETAIL)))
            })
            .collect()
    })
    .await;
}

/// The contacts table's outbox (its writer) and the publisher's view of it (its scrubber), as
/// the one port pair the contract names.
struct Both((DynamoContacts, Outboxes));

impl Outbox for Both {
    async fn publish(&self, event: &Event, at: jiff::Timestamp) -> Result<(), StoreError> {
        self.0.0.publish(event, at).await
    }
}

impl PublishedEvents for Both {
    async fn scrub(&self, table: &str, event_id: &str) -> Result<(), StoreError> {
        self.0.1.scrub(table, event_id).await
    }
}

#[tokio::test]
async fn the_graph_api_client_keeps_the_whatsapp_api_contract_on_the_simulator() {
    let config = SimConfig::default();
    let sim = Simulator::start(config.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let graph = GraphConfig::new(sim.url(), config.phone_number_id, SecretString::from(config.access_token));
    contract::whatsapp_api(&GraphClient::new(graph).unwrap()).await;
}

#[tokio::test]
async fn the_graph_api_catalog_keeps_the_template_catalog_contract_on_the_simulator() {
    let templates = contract::catalog_templates()
        .into_iter()
        .map(|(name, language, category)| SimTemplate::approved(&name, &language, category.as_str()))
        .collect();
    let config = SimConfig { templates, ..SimConfig::default() };
    let sim = Simulator::start(config.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let graph = GraphConfig::new(sim.url(), config.phone_number_id.clone(), SecretString::from(config.access_token));
    let catalog = GraphCatalog::new(GraphClient::new(graph).unwrap(), config.waba_id);
    contract::template_catalog(&catalog).await;
}
