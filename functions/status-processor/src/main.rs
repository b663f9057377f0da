//! status-processor's Lambda entry point (status-events): wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};
use status_processor::{Config, FUNCTION, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let processor = Config::load(Env::process(), sdk).await?.processor(sdk);
    start.ready();
    let processor = &processor;
    telemetry::run(start.metrics, move |event: LambdaEvent<SqsEvent>| async move {
        handle(processor, event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
