//! message-sender's Lambda entry point (send-queue): wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use message_sender::{Config, FUNCTION, handle};
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let sender = Config::load(Env::process(), sdk).await?.sender(sdk)?;
    start.ready();
    let sender = &sender;
    telemetry::run(start.metrics, move |event: LambdaEvent<SqsEvent>| async move {
        handle(sender, event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
