//! contacts-api's Lambda entry point (`/v1/contacts/…`): wiring only.

use contacts_api::{Config, ContactsApi, FUNCTION, handle};
use polite_adapters::audiences::S3Audiences;
use polite_adapters::config::Env;
use polite_adapters::queue::SqsQueue;
use polite_adapters::{init, telemetry};
use polite_app::contacts::Importer;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(FUNCTION).await?;
    let config = Config::load(Env::process(), &start.sdk).await?;
    let (messages, store) = config.tables.open(&start.sdk, &config.contact_hash_key);
    let imports = Importer {
        files: S3Audiences::new(S3Audiences::client(&start.sdk), config.audience_bucket),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&start.sdk), config.inbound_events_queue_url),
    };
    let api = ContactsApi { store, messages, imports };
    start.ready();
    let api = &api;
    telemetry::run_http(start.metrics, move |req| async move { Ok::<_, lambda_http::Error>(handle(api, req).await) })
        .await
}
