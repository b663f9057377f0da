//! message-sender's throughput per instance against a Graph API that answers in 50 ms, and the
//! AWS requests each message costs — counted on the wire by an SDK interceptor, not estimated.
//!
//! Real parts: moto (DynamoDB + SQS, started by the harness), polite's WhatsApp simulator,
//! messages created by messages-api, jobs received from the real send-queue in batches of 10
//! (as the event source delivers them) and handed to `Sender::handle` one batch after another,
//! as one Lambda instance does. Unpaced (the pacer's limit is the business number's, not this
//! measurement's) and without quiet hours, so every message is sent.
//!
//! The same run with a 0 ms Graph API gives the ceiling the stores allow on this machine; the
//! ratio of the two says how much of Meta's latency the batch's concurrency hides.
//!
//! `cargo bench -p message-sender --bench throughput` (400 messages per run); `cargo test`
//! runs it as a 20-message smoke run that checks every message was sent.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::cast_precision_loss, reason = "message and request counts are far below 2^52")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::ensure;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use jiff::Timestamp;
use message_sender::{CONCURRENCY, handle};
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_app::scheduler::Scheduler;
use polite_app::sending::Sender;
use polite_app::sending::pacing::Pacer;
use polite_domain::campaign::CampaignSettings;
use polite_domain::gate::Policy;
use polite_domain::request::SendRequest;
use polite_tests::{RequestCounter, Stack};
use secrecy::SecretString;
use whatsapp_sim::{SimConfig, Simulator};

const LATENCY: Duration = Duration::from_millis(50);

type Counts = BTreeMap<String, u64>;

fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 400 } else { 20 };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let slow = Run::measure(n, LATENCY).await?;
        let instant = Run::measure(n, Duration::ZERO).await?;
        report(n, &slow, &instant);
        Ok(())
    })
}

/// One measured run.
struct Run {
    /// the scheduler's `submit`, per message.
    create: Duration,
    create_requests: Counts,
    /// message-sender over all batches.
    send: Duration,
    send_requests: Counts,
}

struct Rig {
    stack: Stack,
    counter: RequestCounter,
    sim: Simulator,
    scheduler: Scheduler<DynamoMessages, DynamoContacts, SqsQueue, polite_adapters::templates::DynamoTemplates>,
    sender: Sender<DynamoMessages, DynamoContacts, SqsQueue, GraphClient, polite_adapters::templates::DynamoTemplates>,
}

impl Rig {
    async fn new(latency: Duration) -> anyhow::Result<Rig> {
        let stack = Stack::create().await?;
        let counter = RequestCounter::default();
        let dynamo = counter.dynamodb(&stack.sdk);
        let sqs = counter.sqs(&stack.sdk);
        let sim = Simulator::start(SimConfig { latency, ..SimConfig::default() }, "127.0.0.1:0".parse()?).await?;
        let messages = || DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"), b"test-contact-hash-key");
        let contacts = || DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), b"bench-contact-hash-key");
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let scheduler = Scheduler {
            messages: messages(),
            contacts: contacts(),
            templates: polite_adapters::templates::DynamoTemplates::new(dynamo.clone(), stack.table("TemplatesTable")),
            send_queue: queue("SendQueue"),
            campaigns: CampaignSettings::default(),
            audiences: polite_app::scheduler::NoAudiences,
        };
        let sender = Sender {
            messages: messages(),
            contacts: contacts(),
            send_queue: queue("SendQueue"),
            inbound: queue("InboundEventsQueue"),
            whatsapp: GraphClient::new(GraphConfig::new(
                sim.url(),
                SimConfig::default().phone_number_id,
                SecretString::from(SimConfig::default().access_token),
            ))?,
            templates: polite_adapters::templates::DynamoTemplates::new(dynamo.clone(), stack.table("TemplatesTable")),
            marketing_messages_api: false,
            policy: Policy { quiet_categories: Vec::new(), ..Policy::default() },
            pacer: Pacer::new(0.0),
        };
        Ok(Rig { stack, counter, sim, scheduler, sender })
    }

    async fn opt_in(&self, to: &str) -> anyhow::Result<()> {
        polite_tests::opt_in_marketing(&self.sender.contacts, to).await
    }

    async fn create(&self, to: &str) -> anyhow::Result<()> {
        let body =
            format!(r#"{{"to":"{to}","category":"marketing","template":{{"name":"spring_sale","language":"pt_BR"}}}}"#);
        let send = serde_json::from_str::<SendRequest>(&body)?.validate(Timestamp::now())?;
        self.scheduler.submit(send, body, Timestamp::now()).await?;
        Ok(())
    }

    /// The event source's work, not the function's (uncounted): the jobs in batches of 10.
    async fn batches(&self, n: usize) -> anyhow::Result<Vec<SqsEvent>> {
        let sqs = aws_sdk_sqs::Client::new(&self.stack.sdk);
        let mut batches = Vec::new();
        let mut received = 0;
        while received < n {
            let out = sqs
                .receive_message()
                .queue_url(self.stack.queue("SendQueue"))
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            let records: Vec<SqsMessage> = out
                .messages()
                .iter()
                .map(|m| {
                    let mut record = SqsMessage::default();
                    record.message_id = m.message_id().map(str::to_owned);
                    record.body = m.body().map(str::to_owned);
                    record
                })
                .collect();
            ensure!(!records.is_empty(), "send-queue ran dry after {received} of {n} jobs");
            received += records.len();
            let mut event = SqsEvent::default();
            event.records = records;
            batches.push(event);
        }
        Ok(batches)
    }
}

impl Run {
    async fn measure(n: usize, latency: Duration) -> anyhow::Result<Run> {
        let rig = Rig::new(latency).await?;
        // Ending in 1: never one of the simulator's error endings (0050, 0429, …).
        let recipients: Vec<String> = (0..n).map(|i| format!("+551198{i:05}1")).collect();
        for to in &recipients {
            rig.opt_in(to).await?;
        }
        rig.counter.take();

        let started = Instant::now();
        for to in &recipients {
            rig.create(to).await?;
        }
        let create = started.elapsed();
        let create_requests = rig.counter.take();

        let batches = rig.batches(n).await?;
        let started = Instant::now();
        for batch in batches {
            let response = handle(&rig.sender, batch).await?;
            ensure!(response.batch_item_failures.is_empty(), "records failed: {:?}", response.batch_item_failures);
        }
        let send = started.elapsed();
        let send_requests = rig.counter.take();
        ensure!(rig.sim.accepted().len() == n, "{} of {n} messages reached the simulator", rig.sim.accepted().len());
        rig.sim.stop().await;
        Ok(Run { create, create_requests, send, send_requests })
    }

    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.send.as_secs_f64()
    }
}

fn report(n: usize, slow: &Run, instant: &Run) {
    let ideal = CONCURRENCY as f64 / LATENCY.as_secs_f64();
    let (rate, ceiling) = (slow.rate(n), instant.rate(n));
    println!("message-sender, one instance, {n} messages in batches of {CONCURRENCY} (moto + simulator):");
    println!(
        "  Graph API at {} ms: {rate:.0} messages/s = {:.0} % of batch ÷ latency ({ideal:.0}/s)",
        LATENCY.as_millis(),
        100.0 * rate / ideal
    );
    println!("  Graph API at 0 ms:  {ceiling:.0} messages/s (what the stores allow here)");
    println!("  latency hidden by the batch's concurrency: {:.0} %", 100.0 * rate / ceiling);
    println!("messages-api submit: {:.1} ms per message", slow.create.as_secs_f64() * 1000.0 / n as f64);
    println!();
    println!("| AWS requests per message | messages-api (POST /v1/messages) | message-sender |");
    println!("|---|---|---|");
    let per = |counts: &Counts, op: &String| counts.get(op).map_or(0.0, |c| *c as f64 / n as f64);
    let operations: BTreeSet<&String> = slow.create_requests.keys().chain(slow.send_requests.keys()).collect();
    for op in operations {
        println!("| {op} | {:.2} | {:.2} |", per(&slow.create_requests, op), per(&slow.send_requests, op));
    }
    let total = |counts: &Counts| counts.values().sum::<u64>() as f64 / n as f64;
    println!("| **total** | {:.2} | {:.2} |", total(&slow.create_requests), total(&slow.send_requests));
}
