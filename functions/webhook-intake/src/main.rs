//! webhook-intake's Lambda entry point: wiring only (the handler is in the lib).

use polite_adapters::config::Env;
use polite_adapters::queue::SqsQueue;
use polite_adapters::{init, telemetry};
use polite_app::intake::Queues;
use webhook_intake::{Config, FUNCTION, Intake, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let start = init::start(FUNCTION).await?;
    let sdk = &start.sdk;
    let config = Config::load(Env::process(), sdk).await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let intake = Intake {
        app_secret: config.app_secret,
        verify_token: config.verify_token,
        queues: Queues {
            inbound: SqsQueue::new(sqs.clone(), config.inbound_events_queue_url),
            statuses: SqsQueue::new(sqs.clone(), config.status_events_queue_url),
            templates: SqsQueue::new(sqs.clone(), config.template_events_queue_url),
            parking: SqsQueue::new(sqs, config.parking_queue_url),
        },
    };
    // Resolve credentials and open the TLS connection to SQS now, in the init phase, so
    // Meta's first POST does not wait for a handshake. (All four queues share the host.)
    if let Err(e) = intake.queues.statuses.warm_up().await {
        tracing::warn!(error = %e, "SQS warm-up failed; the first request will connect");
    }
    start.ready();
    let intake = &intake;
    telemetry::run_http(start.metrics, move |req| async move { Ok::<_, lambda_http::Error>(handle(intake, req).await) })
        .await
}
