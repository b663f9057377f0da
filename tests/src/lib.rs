//! polite's integration-test harness. Tests in `tests/` use [`moto`] for a real local
//! DynamoDB + SQS endpoint and [`Stack::create`] for a fresh copy of the template's tables
//! and queues under a unique prefix, so tests run in parallel without seeing each other.

pub mod count;
pub mod faults;
pub mod fixtures;
pub mod logs;
pub mod moto;

pub use count::RequestCounter;

/// A DynamoDB client on `sdk` whose calls pass through `interceptor` (the request counter, the
/// fault injector).
pub fn dynamodb_with(
    sdk: &aws_config::SdkConfig,
    interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(interceptor).build())
}

/// An SQS client on `sdk` whose calls pass through `interceptor`.
pub fn sqs_with(
    sdk: &aws_config::SdkConfig,
    interceptor: impl aws_sdk_sqs::config::Intercept + 'static,
) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(sdk).interceptor(interceptor).build())
}
pub use moto::{Moto, Stack};

/// Receives (and deletes) every message waiting on `url`, in the order SQS hands them out.
/// moto has no eventual consistency, so one empty receive means the queue is empty.
///
/// # Errors
/// When a receive or delete call fails.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<Vec<String>> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0).send().await?;
        let batch = out.messages();
        if batch.is_empty() {
            return Ok(bodies);
        }
        for m in batch {
            bodies.extend(m.body().map(str::to_owned));
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message().queue_url(url).receipt_handle(handle).send().await?;
            }
        }
    }
}

/// Records a marketing opt-in for `to` as a business would capture it (web checkout, with
/// evidence, on 2026-01-05): the consent the sender's gate needs before a marketing template.
///
/// # Errors
/// When `to` is not a contact reference or the store fails.
pub async fn opt_in_marketing(contacts: &impl polite_domain::ports::ContactStore, to: &str) -> anyhow::Result<()> {
    use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
    let wa_id = polite_domain::ContactRef::parse(to)?;
    let at: jiff::Timestamp = "2026-01-05T10:00:00Z".parse()?;
    let source = ConsentSource::business("web_checkout")?;
    let evidence = Some("Ticked 'WhatsApp offers' at checkout".to_owned());
    let event = ConsentEvent::from_business(
        &wa_id,
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        source,
        evidence,
        at,
        at,
    )?;
    contacts.append_consent(&wa_id, &event).await?;
    Ok(())
}

/// What webhook-intake does with a POST whose signature it accepted: `body` routed as received
/// now and queued to `queues` (the consumers' tests start from the intake's real output).
///
/// # Panics
/// When a queue refuses (the test's failure report).
#[allow(clippy::expect_used, reason = "test support: a panic is the failure report")]
pub async fn intake<Q: polite_domain::ports::EventQueue + Sync>(queues: &polite_app::intake::Queues<Q>, body: &[u8]) {
    let routed = polite_domain::webhook::route(body, jiff::Timestamp::now());
    Box::pin(polite_app::intake::queue(queues, &routed, "test")).await.expect("the intake queues everything");
}

/// status-processor's use case on `stack`'s tables and inbound-events, as the tests wire it
/// (30 days undeliverable, the built-in rate card).
///
/// # Panics
/// When the built-in rate card does not read (it is compiled in).
#[allow(clippy::expect_used, reason = "test support: a panic is the failure report")]
pub fn status_processor(
    stack: &Stack,
) -> polite_app::statuses::Processor<
    polite_adapters::messages::DynamoMessages,
    polite_adapters::contacts::DynamoContacts,
    polite_adapters::queue::SqsQueue,
> {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let key = b"test-contact-hash-key";
    polite_app::statuses::Processor {
        messages: polite_adapters::messages::DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"), key),
        contacts: polite_adapters::contacts::DynamoContacts::new(dynamo, stack.table("ContactsTable"), key),
        inbound: polite_adapters::queue::SqsQueue::new(
            aws_sdk_sqs::Client::new(&stack.sdk),
            stack.queue("InboundEventsQueue"),
        ),
        undeliverable_for: jiff::SignedDuration::from_hours(24 * 30),
        rates: polite_domain::pricing::RateCard::builtin().expect("the built-in rate card reads"),
    }
}

/// A function's HTTP routes as `template.yaml` gives them, sorted: `(METHOD, /path/{param})`.
/// Its own route list ([`polite_adapters::http::route`]) must be the same.
///
/// # Panics
/// When the template cannot be read (a test's failure).
#[must_use]
pub fn template_routes(binary: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let resources = polite_adapters::provision::read_template(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let function = resources.functions.iter().find(|f| f.binary == binary);
    let mut routes = function.unwrap_or_else(|| panic!("no function {binary} in the template")).routes.clone();
    routes.sort();
    routes
}

/// `routes` as [`template_routes`] lists them.
pub fn routes_of<T>(routes: &[(&str, &str, T)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = routes.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    out.sort();
    out
}
