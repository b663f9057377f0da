//! How long a campaign to an audience file on S3 takes to fan out, and the AWS requests each
//! recipient costs — counted on the wire by an SDK interceptor, not estimated.
//!
//! Real parts: moto (DynamoDB, SQS and S3, started by the harness), a CSV audience file with
//! each recipient's own values uploaded to the template's audience bucket, the campaign created
//! as messages-api creates it and fanned out by scheduler-tick's own use case
//! ([`polite_app::scheduler::tick::run`]), tick after tick until the file is read to its end.
//! Twice: sent at the campaign's rate, and at 10:00 in each person's zone (`deliver_at_local`,
//! which reads each recipient's contact for their zone).
//!
//! `cargo bench -p scheduler-tick --bench fanout` (10 000 recipients a run); `cargo test` runs
//! it as a 300-recipient smoke run that checks every recipient got exactly one message.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::cast_precision_loss, reason = "recipient and request counts are far below 2^52")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use jiff::Timestamp;
use polite_adapters::audiences::S3Audiences;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_adapters::templates::DynamoTemplates;
use polite_app::scheduler::{Scheduler, tick};
use polite_domain::campaign::{CampaignRequest, CampaignSettings};
use polite_domain::ports::{CampaignStore as _, MessageReader as _};
use polite_tests::{RequestCounter, Stack};

type Counts = BTreeMap<String, u64>;

fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 10_000 } else { 300 };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        println!("scheduler-tick, a campaign to a {n}-line CSV audience file on S3 (moto):");
        for local_time in [false, true] {
            let run = Run::measure(n, local_time).await?;
            run.report(n);
        }
        Ok(())
    })
}

/// One measured fan-out.
struct Run {
    local_time: bool,
    /// From the first tick to the file read to its end, every message created.
    took: Duration,
    ticks: usize,
    requests: Counts,
}

impl Run {
    async fn measure(n: usize, local_time: bool) -> anyhow::Result<Run> {
        let stack = Stack::create().await?;
        let counter = RequestCounter::default();
        let dynamo = counter.dynamodb(&stack.sdk);
        let bucket = stack.resources.buckets.get("AudienceBucket").context("the template has no AudienceBucket")?;
        let scheduler = Scheduler::on(
            DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"), b"bench-contact-hash-key"),
            DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), b"bench-contact-hash-key"),
            DynamoTemplates::new(dynamo, stack.table("TemplatesTable")),
            SqsQueue::new(counter.sqs(&stack.sdk), stack.queue("SendQueue")),
            CampaignSettings::default(),
        )
        .with_audiences(S3Audiences::new(counter.s3(&stack.sdk), Some(bucket.clone())));

        // Ending in 1: never one of the simulator's error endings (0050, 0429, …).
        let mut csv = String::from("to,first_name,offer\n");
        for i in 0..n {
            writeln!(csv, "+551198{i:05}1,Cliente {i},{}% off", 10 + i % 30)?;
        }
        let key = format!("bench-{}.csv", u8::from(local_time));
        S3Audiences::client(&stack.sdk)
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(csv.into_bytes().into())
            .send()
            .await
            .context("uploading the audience file")?;

        let now = Timestamp::now();
        let mut body = serde_json::json!({"name": "fan-out benchmark", "category": "marketing",
            "template": {"name": "morning_offer", "language": "en"},
            "audience": {"s3": format!("s3://{bucket}/{key}")}});
        if local_time {
            body["deliver_at_local"] = serde_json::json!({"time": "10:00", "window_minutes": 120});
        }
        let valid = serde_json::from_value::<CampaignRequest>(body.clone())?.validate(now)?;
        let ready = scheduler.personalise(&valid).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let campaign = scheduler.create_campaign(&valid, &ready, body.to_string(), now).await?;
        counter.take();

        let started = Instant::now();
        let mut ticks = 0;
        loop {
            tick::run(&scheduler, now).await?;
            ticks += 1;
            let record = scheduler.messages.campaign(&campaign.id).await?.context("the campaign is gone")?;
            if record.audience.is_some_and(|a| a.done) {
                break;
            }
            ensure!(ticks < 100, "the file was not read in 100 ticks");
        }
        let took = started.elapsed();
        let requests = counter.take();
        let tally = scheduler.messages.campaign_tally(&campaign.id).await?;
        ensure!(tally.messages() == i64::try_from(n)?, "{} messages for {n} recipients", tally.messages());
        Ok(Run { local_time, took, ticks, requests })
    }

    fn report(&self, n: usize) {
        let how = if self.local_time { "at 10:00 local (deliver_at_local)" } else { "at the campaign's rate" };
        println!(
            "  {how}: {:.1} s for {n} recipients in {} tick(s) = {:.0} recipients/s",
            self.took.as_secs_f64(),
            self.ticks,
            n as f64 / self.took.as_secs_f64()
        );
        let total: u64 = self.requests.values().sum();
        for (operation, count) in &self.requests {
            println!("    {operation:<32} {count:>7}  {:>6.3} per recipient", *count as f64 / n as f64);
        }
        println!("    {:<32} {total:>7}  {:>6.3} per recipient", "total", total as f64 / n as f64);
    }
}
