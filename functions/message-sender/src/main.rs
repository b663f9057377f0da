//! message-sender's Lambda entry point (send-queue): wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use message_sender::{Config, FUNCTION};
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    init::tracing();
    let metrics = telemetry::init_metrics(FUNCTION)?;
    let sdk = init::aws().await;
    let sender = Config::load(Env::process(), &sdk).await?.sender(&sdk)?;
    tracing::info!(init_ms = started.elapsed().as_millis(), "message-sender ready");
    let sender = &sender;
    telemetry::run(metrics, move |event: LambdaEvent<SqsEvent>| async move {
        sender.handle(event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
