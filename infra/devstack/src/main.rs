//! `devstack`: `make dev` and `make demo`.
//!
//! - `devstack up` (`make dev`): the stack on its fixed ports (docs/architecture.md, "The local stack") until Ctrl-C or SIGTERM.
//!   Simulator knobs come from `SIM_*` variables (see the simulator's README table).
//! - `devstack demo` (`make demo`): the stack, the story ([`polite_devstack::demo`]), the
//!   counts, then everything stopped.
//! - `devstack install-tools`: cargo-lambda into `.tools/` (for `make invoke`).
//! - `devstack parked` / `devstack replay-parked` (`make parked` / `make replay-parked`): the
//!   parked webhooks listed, or replayed to the webhook ([`polite_devstack::parking`]) — of the
//!   running dev stack, or of a deployed stack when `WEBHOOK_PARKING_QUEUE_URL` is set (with
//!   `POLITE_WEBHOOK_URL` and `WHATSAPP_APP_SECRET` to replay, AWS credentials as for the CLI).

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool talks to its user")]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use polite_devstack::client::Client;
use polite_devstack::{Stack, StackConfig, demo, tools};
use whatsapp_sim::{FailureReport, SimConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let workspace = StackConfig::workspace_root().canonicalize().context("finding the workspace")?;
    match std::env::args().nth(1).as_deref().unwrap_or("up") {
        "up" => Box::pin(up(StackConfig::new(&workspace))).await,
        "demo" => Box::pin(run_demo(StackConfig::demo(&workspace))).await,
        "install-tools" => tools::cargo_lambda(&workspace).map(|path| println!("{}", path.display())),
        "parked" => parked(&StackConfig::new(&workspace), false).await,
        "replay-parked" => parked(&StackConfig::new(&workspace), true).await,
        other => anyhow::bail!("unknown command {other:?}: use up, demo, install-tools, parked or replay-parked"),
    }
}

async fn up(mut config: StackConfig) -> anyhow::Result<()> {
    let mut simulator = SimConfig::from_env(|key| std::env::var(key).ok())?;
    if std::env::var_os("SIM_FAILURES").is_none() {
        // As Meta reports 131050: accepted, then a failed status (the response mode is for tests).
        simulator.failures = FailureReport::Webhook;
    }
    if std::env::var_os("SIM_TEMPLATES").is_none() {
        // The local business's templates, listed to the template registry.
        simulator.templates = config.simulator.templates.clone();
    }
    config.simulator = simulator;
    println!("starting polite's dev stack (first run: installs moto and cargo-lambda)…");
    let started = Instant::now();
    let stack = Stack::start(config).await?;
    print_endpoints(&stack, started.elapsed());
    println!("Ctrl-C stops everything.");
    stack.run_until_signal().await
}

fn print_endpoints(stack: &Stack, took: Duration) {
    let e = &stack.endpoints;
    let routes: usize = stack.functions.iter().map(|f| f.routes.len()).sum();
    let consumers: usize = stack.functions.iter().map(|f| f.queues.len()).sum();
    let streams: usize = stack.functions.iter().map(|f| f.streams.len()).sum();
    println!(
        "polite dev stack is up in {:.1} s: {} functions, {routes} routes, {consumers} queue consumers, {streams} stream consumers",
        took.as_secs_f64(),
        stack.functions.len()
    );
    println!("  api        {:<24} the HTTP API (openapi.yaml); Meta's webhook is {}/webhook", e.api, e.api);
    println!(
        "  simulator  {:<24} WhatsApp Cloud API: POST /_sim/inbound, GET /_sim/messages, GET /_sim/webhooks",
        e.simulator
    );
    println!("  aws        {:<24} moto (DynamoDB + SQS)", e.aws);
    println!("  lambda     {:<24} cargo lambda watch (cargo lambda invoke <function> …)", e.lambda);
    println!("  app secret {}, verify token {}, phone number id {}", e.app_secret, e.verify_token, e.phone_number_id);
    println!("  written to {}/endpoints.json; the functions' environment in local.env", stack.state_dir().display());
}

async fn run_demo(config: StackConfig) -> anyhow::Result<()> {
    println!("starting polite's dev stack…");
    let started = Instant::now();
    let stack = Stack::start(config).await?;
    print_endpoints(&stack, started.elapsed());
    println!();
    let client = Client::new(stack.endpoints.clone())?;
    let story = demo::run(&client, &mut std::io::stdout()).await;
    let logs = stack.state_dir().display().to_string();
    stack.stop().await;
    match story {
        Ok(_) => {
            println!("\nThe stack is stopped. `make dev` keeps it running for your own calls.");
            Ok(())
        }
        Err(e) => Err(e.context(format!("the demo failed; the functions' logs are in {logs}/lambda.log"))),
    }
}

/// The parking queue's variable, as webhook-intake reads it.
const PARKING_QUEUE: &str = polite_adapters::config::keys::WEBHOOK_PARKING_QUEUE_URL;

/// Where the parked webhooks are, and where they go back to.
struct ParkingTarget {
    sdk: aws_config::SdkConfig,
    queue_url: String,
    webhook_url: Option<String>,
    app_secret: Option<String>,
}

/// The deployed stack's parking queue when `WEBHOOK_PARKING_QUEUE_URL` is set, else the
/// running dev stack's (`.devstack/local.env` and `endpoints.json`).
async fn parking_target(config: &StackConfig) -> anyhow::Result<ParkingTarget> {
    let var = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    if let Some(queue_url) = var(PARKING_QUEUE) {
        return Ok(ParkingTarget {
            sdk: aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            queue_url,
            webhook_url: var("POLITE_WEBHOOK_URL"),
            app_secret: var("WHATSAPP_APP_SECRET"),
        });
    }
    let dir = &config.state_dir;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).with_context(|| {
            format!("reading {}: is `make dev` running? (or set {PARKING_QUEUE})", dir.join(name).display())
        })
    };
    let endpoints: polite_devstack::Endpoints = serde_json::from_str(&read("endpoints.json")?)?;
    let env = read("local.env")?;
    let queue_url = env
        .lines()
        .find_map(|l| l.strip_prefix(PARKING_QUEUE)?.strip_prefix('='))
        .map(|v| v.trim_matches('\'').to_owned())
        .with_context(|| format!("local.env names no {PARKING_QUEUE}"))?;
    Ok(ParkingTarget {
        sdk: polite_devstack::aws::sdk_config(&endpoints.aws).await,
        queue_url,
        webhook_url: Some(format!("{}/webhook", endpoints.api)),
        app_secret: Some(endpoints.app_secret),
    })
}

async fn parked(config: &StackConfig, replay: bool) -> anyhow::Result<()> {
    use polite_devstack::parking;
    let target = parking_target(config).await?;
    let sqs = aws_sdk_sqs::Client::new(&target.sdk);
    // Hidden while we look (and while a replay runs); SQS shows them again after.
    let parking = parking::read(&sqs, &target.queue_url, Duration::from_mins(1)).await?;
    let mut out = std::io::stdout();
    parking::list(&parking, &mut out)?;
    if !replay {
        println!(
            "(hidden for 60 s by this listing; `make replay-parked` sends the replayable ones back to the webhook)"
        );
        return Ok(());
    }
    let (Some(webhook), Some(secret)) = (&target.webhook_url, &target.app_secret) else {
        anyhow::bail!("replaying to a deployed stack needs POLITE_WEBHOOK_URL and WHATSAPP_APP_SECRET");
    };
    println!("replaying to {webhook}:");
    let done = parking::replay(&sqs, &target.queue_url, &parking, webhook, secret, &mut out).await?;
    println!("{} replayed, {} refused (left on the queue), {} for a person", done.accepted, done.refused, done.skipped);
    Ok(())
}
