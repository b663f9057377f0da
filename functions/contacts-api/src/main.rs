//! contacts-api's Lambda entry point (`/v1/contacts/…`): wiring only.

use contacts_api::{Config, ContactsApi, FUNCTION, handle};
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(FUNCTION).await?;
    let config = Config::load(Env::process(), &start.sdk).await?;
    let (messages, store) = config.tables.open(&start.sdk, &config.contact_hash_key);
    let api = ContactsApi { store, messages };
    start.ready();
    let api = &api;
    telemetry::run_http(start.metrics, move |req| async move { Ok::<_, lambda_http::Error>(handle(api, req).await) })
        .await
}
