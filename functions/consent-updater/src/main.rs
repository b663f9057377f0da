//! consent-updater's Lambda entry point for inbound-events: wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use consent_updater::{Config, FUNCTION, handle};
use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::GraphClient;
use polite_adapters::{init, telemetry};
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
    start.ready();
    let updater = &updater;
    telemetry::run(start.metrics, move |event: LambdaEvent<SqsEvent>| async move {
        handle(updater, event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
