//! `devstack`: `make dev` and `make demo`.
//!
//! - `devstack up` (`make dev`): the stack on DESIGN.md §9's ports until Ctrl-C or SIGTERM.
//!   Simulator knobs come from `SIM_*` variables (see the simulator's README table).
//! - `devstack demo` (`make demo`): the stack, the story ([`polite_devstack::demo`]), the
//!   counts, then everything stopped.
//! - `devstack install-tools`: cargo-lambda into `.tools/` (for `make invoke`).

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
        "up" => up(StackConfig::new(&workspace)).await,
        "demo" => run_demo(StackConfig::demo(&workspace)).await,
        "install-tools" => tools::cargo_lambda(&workspace).map(|path| println!("{}", path.display())),
        other => anyhow::bail!("unknown command {other:?}: use up, demo or install-tools"),
    }
}

async fn up(mut config: StackConfig) -> anyhow::Result<()> {
    let mut simulator = SimConfig::from_env(|key| std::env::var(key).ok())?;
    if std::env::var_os("SIM_FAILURES").is_none() {
        // As Meta reports 131050: accepted, then a failed status (the response mode is for tests).
        simulator.failures = FailureReport::Webhook;
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
    println!(
        "polite dev stack is up in {:.1} s: {} functions, {routes} routes, {consumers} queue consumers",
        took.as_secs_f64(),
        stack.functions.len()
    );
    println!("  api        {:<24} the HTTP API (DESIGN.md §4); Meta's webhook is {}/webhook", e.api, e.api);
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
