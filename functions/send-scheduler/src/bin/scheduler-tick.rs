//! The scheduler tick's Lambda entry point (EventBridge schedule, every minute): wiring only.
//! The payload is not read: EventBridge Scheduler delivers its own "default notification"
//! when a schedule has no `Input` (not an EventBridge event), the local ticker an EventBridge
//! `Scheduled Event`, `cargo lambda invoke` whatever it is given; any JSON starts a tick.

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
    telemetry::run(start.metrics, move |_event: LambdaEvent<serde_json::Value>| async move {
        tick::run(scheduler, jiff::Timestamp::now()).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
