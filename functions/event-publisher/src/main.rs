//! event-publisher's Lambda entry point (the tables' DynamoDB streams): wiring only.

use event_publisher::{Config, FUNCTION, StreamEvent, handle};
use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let publisher = Config::load(Env::process())?.publisher(&start.sdk);
    start.ready();
    let publisher = &publisher;
    telemetry::run(start.metrics, move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle(publisher, event.payload, polite_adapters::clock::now()).await)
    })
    .await
}
