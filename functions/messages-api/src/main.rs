//! messages-api's Lambda entry point (`/v1/messages`, `/v1/campaigns`): wiring only.

use messages_api::{FUNCTION, handle};
use polite_adapters::config::Env;
use polite_adapters::scheduling::SchedulerConfig;
use polite_adapters::{init, telemetry};
use polite_app::scheduler::Scheduler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(FUNCTION).await?;
    let stores = SchedulerConfig::load(Env::process(), &start.sdk).await?.open(&start.sdk);
    let scheduler =
        Scheduler::on(stores.messages, stores.contacts, stores.templates, stores.send_queue, stores.campaigns)
            .with_audiences(stores.audiences);
    start.ready();
    let scheduler = &scheduler;
    telemetry::run_http(
        start.metrics,
        move |req| async move { Ok::<_, lambda_http::Error>(handle(scheduler, req).await) },
    )
    .await
}
