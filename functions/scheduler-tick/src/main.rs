//! scheduler-tick's Lambda entry point (EventBridge schedule, every minute): wiring only.
//! The payload is not read: EventBridge Scheduler delivers its own "default notification"
//! when a schedule has no `Input` (not an EventBridge event), the local ticker an EventBridge
//! `Scheduled Event`, `cargo lambda invoke` whatever it is given; any JSON starts a tick
//! ([`polite_app::scheduler::tick`]).

use lambda_runtime::LambdaEvent;
use polite_adapters::config::Env;
use polite_adapters::scheduling::SchedulerConfig;
use polite_adapters::{init, telemetry};
use polite_app::scheduler::{Scheduler, tick};

/// The function's name (bin, SAM function, metric dimension).
const FUNCTION: &str = "scheduler-tick";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = init::start(FUNCTION).await?;
    let stores = SchedulerConfig::load(Env::process(), &start.sdk).await?.open(&start.sdk);
    let scheduler =
        Scheduler::on(stores.messages, stores.contacts, stores.templates, stores.send_queue, stores.campaigns)
            .with_audiences(stores.audiences);
    start.ready();
    let scheduler = &scheduler;
    telemetry::run(start.metrics, move |_event: LambdaEvent<serde_json::Value>| async move {
        tick::run(scheduler, polite_adapters::clock::now()).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
