//! consent-updater's Lambda entry point for the `/v1/contacts/…` routes: wiring only.

use consent_updater::api::{ContactsApi, handle};
use consent_updater::{API_FUNCTION, Config};
use polite_adapters::config::Env;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::{init, telemetry};
use secrecy::ExposeSecret as _;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(API_FUNCTION).await?;
    let sdk = &start.sdk;
    let config = Config::load(Env::process(), sdk).await?;
    let messages_table = config.messages_table.ok_or("MESSAGES_TABLE is not set (erasure forgets messages there)")?;
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let hash_key = config.contact_hash_key.expose_secret().as_bytes();
    let store = DynamoContacts::new(dynamo.clone(), config.contacts_table, hash_key);
    let messages = DynamoMessages::new(dynamo, messages_table, hash_key);
    let api = ContactsApi { store, messages };
    start.ready();
    let api = &api;
    telemetry::run_http(start.metrics, move |req| async move { Ok::<_, lambda_http::Error>(handle(api, req).await) })
        .await
}
