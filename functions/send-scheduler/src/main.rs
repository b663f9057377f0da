//! send-scheduler's Lambda entry point for the `/v1/messages` routes: wiring only.

use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};
use send_scheduler::api::handle;
use send_scheduler::{Config, FUNCTION};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let scheduler = Config::load(Env::process(), sdk).await?.scheduler(sdk);
    start.ready();
    let scheduler = &scheduler;
    telemetry::run_http(
        start.metrics,
        move |req| async move { Ok::<_, lambda_http::Error>(handle(scheduler, req).await) },
    )
    .await
}
