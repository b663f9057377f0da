//! send-scheduler's Lambda entry point for the `/v1/messages` routes: wiring only.

use polite_adapters::config::Env;
use polite_adapters::{init, telemetry};
use send_scheduler::api::handle;
use send_scheduler::{Config, FUNCTION};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let started = std::time::Instant::now();
    init::tracing();
    let metrics = telemetry::init_metrics(FUNCTION)?;
    let sdk = init::aws().await;
    let scheduler = Config::load(Env::process(), &sdk).await?.scheduler(&sdk);
    tracing::info!(init_ms = started.elapsed().as_millis(), "send-scheduler ready");
    let scheduler = &scheduler;
    telemetry::run_http(metrics, move |req| async move { Ok::<_, lambda_http::Error>(handle(scheduler, req).await) })
        .await
}
