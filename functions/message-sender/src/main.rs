//! message-sender's Lambda entry point (send-queue): wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use message_sender::pacing::Pacer;
use message_sender::{Config, FUNCTION, Sender};
use polite_adapters::config::Env;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::GraphClient;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_adapters::{init, telemetry};
use secrecy::ExposeSecret as _;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    init::tracing();
    let metrics = telemetry::init_metrics(FUNCTION)?;
    let sdk = init::aws().await;
    let config = Config::load(Env::process(), &sdk).await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sender = Sender {
        messages: DynamoMessages::new(dynamo.clone(), config.messages_table),
        contacts: DynamoContacts::new(
            dynamo,
            config.contacts_table,
            config.contact_hash_key.expose_secret().as_bytes(),
        ),
        send_queue: SqsQueue::new(sqs.clone(), config.send_queue_url),
        inbound: SqsQueue::new(sqs, config.inbound_queue_url),
        whatsapp: GraphClient::new(config.graph)?,
        policy: config.policy,
        pacer: Pacer::new(config.per_instance_mps),
    };
    tracing::info!(init_ms = started.elapsed().as_millis(), "message-sender ready");
    let sender = &sender;
    telemetry::run(metrics, move |event: LambdaEvent<SqsEvent>| async move {
        sender.handle(event.payload).await.map_err(lambda_runtime::Error::from)
    })
    .await
}
