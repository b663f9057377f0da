//! The scheduler tick's Lambda entry point (EventBridge schedule, every minute): wiring only.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};
use send_scheduler::{Config, TICK_FUNCTION, tick};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(TICK_FUNCTION).await?;
    let sdk = &start.sdk;
    let scheduler = Config::load(Env::process(), sdk).await?.scheduler(sdk);
    start.ready();
    let scheduler = &scheduler;
    telemetry::run(start.metrics, move |_event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
        tick::run(scheduler, jiff::Timestamp::now()).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
