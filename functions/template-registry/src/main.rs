//! template-registry's Lambda entry point (template-events, the load schedule, the load
//! command): wiring only.

use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::graph::{GraphCatalog, GraphClient};
use polite_adapters::templates::DynamoTemplates;
use polite_adapters::{init, telemetry};
use polite_app::templates::Registry;
use template_registry::{Config, FUNCTION, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let config = Config::load(Env::process(), sdk).await?;
    let store = DynamoTemplates::new(aws_sdk_dynamodb::Client::new(sdk), config.templates_table);
    let catalog = match config.catalog {
        Some((waba_id, graph)) => Some(GraphCatalog::new(GraphClient::new(graph)?, waba_id)),
        None => None,
    };
    let registry = Registry { store, catalog };
    start.ready();
    let registry = &registry;
    telemetry::run(start.metrics, move |event: LambdaEvent<serde_json::Value>| async move {
        handle(registry, event.payload, polite_adapters::clock::now()).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
