//! consent-updater's Lambda entry point for inbound-events: wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use consent_updater::{Config, FUNCTION, handle};
use lambda_runtime::LambdaEvent;
use polite_adapters::audiences::S3Audiences;
use polite_adapters::config::Env;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::GraphClient;
use polite_adapters::queue::SqsQueue;
use polite_adapters::{init, telemetry};
use polite_app::contacts::Importer;
use polite_app::inbound::{Confirmations, Updater};
use secrecy::ExposeSecret as _;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let config = Config::load(Env::process(), sdk).await?;
    let store = DynamoContacts::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.contacts_table,
        config.contact_hash_key.expose_secret().as_bytes(),
    );
    let confirmations = match config.confirmations {
        Some((texts, graph)) => Some(Confirmations { api: GraphClient::new(graph)?, texts }),
        None => None,
    };
    let updater = Updater { store, keywords: config.keywords, confirmations, send_memory: config.send_memory };
    let importer = Importer {
        files: S3Audiences::new(S3Audiences::client(sdk), config.audience_bucket),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.inbound_events_queue_url),
    };
    start.ready();
    let (updater, importer) = (&updater, &importer);
    telemetry::run(start.metrics, move |event: LambdaEvent<SqsEvent>| async move {
        handle(updater, importer, event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
