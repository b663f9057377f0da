//! The scheduler tick's Lambda entry point (EventBridge schedule, every minute): wiring only.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};
use send_scheduler::{Config, TICK_FUNCTION, tick};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    init::tracing();
    let metrics = telemetry::init_metrics(TICK_FUNCTION)?;
    let sdk = init::aws().await;
    let scheduler = Config::load(Env::process(), &sdk).await?.scheduler(&sdk);
    tracing::info!(init_ms = started.elapsed().as_millis(), "scheduler-tick ready");
    let scheduler = &scheduler;
    telemetry::run(metrics, move |_event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
        tick::run(scheduler, jiff::Timestamp::now()).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
