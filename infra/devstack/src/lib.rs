//! polite's local stack (docs/architecture.md, "The local stack"): everything `template.yaml` deploys, on one machine,
//! without Docker or an AWS account.
//!
//! - moto on `127.0.0.1:4566` as DynamoDB + SQS, with the template's tables and queues
//!   ([`aws`]);
//! - `cargo lambda watch` on `127.0.0.1:9000` serving every function, configured with those
//!   resources, local secrets and the simulator as the Graph API;
//! - the API router on `127.0.0.1:3000` serving the template's HttpApi routes ([`router`]);
//! - a poller per SQS consumer with partial-batch semantics and the scheduler's ticker
//!   ([`events`]), a poller per DynamoDB stream consumer (the outboxes → event-publisher) and
//!   a rule on polite's bus to a queue the router lists at `GET /_dev/events` ([`streams`]);
//! - the WhatsApp Cloud API simulator on `127.0.0.1:4590`, posting its webhooks to the router.
//!
//! [`Stack::start`] brings it up (refusing taken ports by name), [`Stack::stop`] takes it
//! down, children included; [`client`] and [`demo`] drive it over HTTP as a user would.

pub mod aws;
pub mod client;
pub mod demo;
pub mod events;
pub mod lambda;
pub mod parking;
pub mod process;
pub mod router;
pub mod streams;
pub mod tools;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use polite_adapters::provision::FunctionSpec;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use whatsapp_sim::{FailureReport, SimConfig, SimTemplate, Simulator, WebhookTarget};

use crate::aws::{LOCAL_SECRETS, LocalAws};
use crate::lambda::Lambda;
use crate::process::{ChildGroup, Output};
use crate::router::RouteTable;

/// The button payload the consent rules read as "stop marketing" (`ConsentKeywords`' default).
pub const OPTOUT_PAYLOAD: &str = "OPTOUT_MARKETING";

/// The stack's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub aws: u16,
    pub lambda: u16,
    pub api: u16,
    pub simulator: u16,
}

impl Ports {
    /// The local stack's ports (docs/architecture.md, "The local stack").
    pub const DEFAULT: Ports = Ports { aws: 4566, lambda: 9000, api: 3000, simulator: 4590 };

    /// Four free loopback ports (tests run stacks side by side).
    ///
    /// # Errors
    /// When the OS has none to give.
    pub fn free() -> anyhow::Result<Ports> {
        let listeners = (0..4).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
        let port = |i: usize| listeners[i].local_addr().map(|a| a.port());
        Ok(Ports { aws: port(0)?, lambda: port(1)?, api: port(2)?, simulator: port(3)? })
    }

    /// Refuses, naming the port and its role, when something already listens on one.
    ///
    /// # Errors
    /// The first taken port.
    pub fn check_free(&self) -> anyhow::Result<()> {
        let roles = [
            (self.aws, "moto (DynamoDB + SQS)"),
            (self.lambda, "cargo lambda watch"),
            (self.api, "the API router"),
            (self.simulator, "the WhatsApp simulator"),
        ];
        for (port, role) in roles {
            if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
                bail!(
                    "127.0.0.1:{port} is taken ({e}); the dev stack needs it for {role}. Is another `make dev` \
                     running? `ss -ltnp 'sport = :{port}'` shows who holds it."
                );
            }
        }
        Ok(())
    }
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The workspace root (template.yaml, `.tools/`).
    pub workspace: PathBuf,
    /// Where `endpoints.json`, `local.env` and the logs go.
    pub state_dir: PathBuf,
    pub ports: Ports,
    /// The functions' output (`cargo lambda watch`'s): the terminal, or `lambda.log`.
    pub show_function_logs: bool,
    /// Rebuild and reload a function when its code changes (`make dev`); off for the demo and
    /// tests, which must not pick up an edit half-way.
    pub hot_reload: bool,
    /// The simulator; its webhook, app secret and phone number are set by the stack.
    pub simulator: SimConfig,
    /// How often the scheduler tick runs (EventBridge: every minute).
    pub tick_every: Duration,
    /// Extra environment for every function (e.g. `RUST_LOG`).
    pub function_env: Vec<(String, String)>,
    /// A clock the caller holds instead of the system's, starting at this instant: the
    /// functions and the simulator read it from `clock` in the state directory
    /// (`POLITE_DEV_CLOCK`), and it moves only when [`Stack::set_clock`] moves it.
    pub clock: Option<jiff::Timestamp>,
}

impl StackConfig {
    /// The local stack for the workspace at `workspace`, state in `.devstack/`.
    pub fn new(workspace: &Path) -> StackConfig {
        StackConfig {
            workspace: workspace.to_owned(),
            state_dir: workspace.join(".devstack"),
            ports: Ports::DEFAULT,
            show_function_logs: true,
            hot_reload: true,
            simulator: SimConfig {
                failures: FailureReport::Webhook,
                templates: local_templates(),
                ..SimConfig::default()
            },
            tick_every: Duration::from_secs(20),
            function_env: Vec::new(),
            clock: None,
        }
    }

    /// The stack `make demo` and the end-to-end tests run: quiet (function logs in
    /// `lambda.log`), no hot reload, Meta's habits on (the statuses of half the messages in
    /// reverse order, a quarter posted twice) and consent-updater's confirmation replies.
    pub fn demo(workspace: &Path) -> StackConfig {
        let mut config = StackConfig::new(workspace);
        config.show_function_logs = false;
        config.hot_reload = false;
        config.simulator.knobs.reorder_rate = 0.5;
        config.simulator.knobs.duplicate_rate = 0.25;
        // Marketing templates through the Marketing Messages API (the simulator serves it).
        config.function_env.push(("MARKETING_MESSAGES_API".to_owned(), "enabled".to_owned()));
        config.function_env.push((
            "CONSENT_CONFIRMATIONS".to_owned(),
            r#"{"opt_out":"Done: no more promotions from Acme. Reply START to undo."}"#.to_owned(),
        ));
        config
    }

    /// The workspace this crate was built in.
    pub fn workspace_root() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }
}

/// The local business's templates, as the simulator lists them to the template registry:
/// those the demo and the end-to-end tests send.
pub fn local_templates() -> Vec<SimTemplate> {
    let marketing = [
        "launch/en",
        "new_collection/en",
        "new_collection/pt_BR",
        "black_friday/en",
        "black_friday/pt_BR",
        "spring_sale/pt_BR",
        "back_in_stock/en",
        "newsletter/en",
        "marketing_update/en",
    ];
    let utility = ["order_shipped/en_US", "order_update/en_US", "order_update/en", "utility_update/en"];
    let authentication = ["login_code/en", "authentication_update/en"];
    let approved = |keys: &[&str], category: &str| -> Vec<SimTemplate> {
        keys.iter()
            .filter_map(|k| k.split_once('/'))
            .map(|(name, language)| SimTemplate::approved(name, language, category))
            .collect()
    };
    let personal = SimTemplate::approved("morning_offer", "en", "MARKETING")
        .with_body("Good morning {{first_name}}! {{offer}} on the new collection, today only.", true);
    [
        approved(&marketing, "MARKETING"),
        approved(&utility, "UTILITY"),
        approved(&authentication, "AUTHENTICATION"),
        vec![personal],
    ]
    .concat()
}

/// The local values the stack was started with (`.devstack/endpoints.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Endpoints {
    pub api: String,
    pub simulator: String,
    pub aws: String,
    pub lambda: String,
    pub app_secret: String,
    pub verify_token: String,
    pub phone_number_id: String,
    pub optout_payload: String,
    /// The bucket campaigns' audience files are read from (the template's `AudienceBucket`).
    #[serde(default)]
    pub audience_bucket: String,
}

/// A running stack. Dropping it stops the child processes; [`Stack::stop`] also waits for
/// the in-process parts.
#[derive(Debug)]
pub struct Stack {
    pub endpoints: Endpoints,
    pub functions: Vec<FunctionSpec>,
    state_dir: PathBuf,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    simulator: Option<Simulator>,
    watch: ChildGroup,
    moto: ChildGroup,
}

impl Stack {
    /// Brings the whole stack up and waits until every function has answered once.
    ///
    /// # Errors
    /// A taken port, a tool that cannot be installed, a child that does not start, a function
    /// that does not answer its warm-up.
    pub async fn start(config: StackConfig) -> anyhow::Result<Stack> {
        let ports = config.ports;
        ports.check_free()?;
        std::fs::create_dir_all(&config.state_dir)
            .with_context(|| format!("creating {}", config.state_dir.display()))?;
        let template = aws::read_template(&config.workspace)?;
        let workspace = config.workspace.clone();
        let cargo_lambda = tokio::task::spawn_blocking(move || -> anyhow::Result<PathBuf> {
            aws::ensure_moto()?;
            tools::cargo_lambda(&workspace)
        })
        .await??;

        let moto = ChildGroup::spawn("moto", aws::moto_command(ports.aws), &config.log("moto.log"))?;
        let mut moto = moto;
        wait_until("moto", Duration::from_secs(30), &mut moto, || aws::moto_ready(ports.aws)).await?;
        aws::reset(ports.aws)?;
        let local = LocalAws::provision(&format!("http://127.0.0.1:{}", ports.aws), &template, "polite").await?;

        let endpoints = Endpoints {
            api: format!("http://127.0.0.1:{}", ports.api),
            simulator: format!("http://127.0.0.1:{}", ports.simulator),
            aws: local.endpoint.clone(),
            lambda: format!("http://127.0.0.1:{}", ports.lambda),
            app_secret: secret("WHATSAPP_APP_SECRET"),
            verify_token: secret("WHATSAPP_VERIFY_TOKEN"),
            phone_number_id: config.simulator.phone_number_id.clone(),
            optout_payload: OPTOUT_PAYLOAD.to_owned(),
            audience_bucket: local.resources.buckets.get("AudienceBucket").cloned().unwrap_or_default(),
        };

        let clock = clock_file(&config.state_dir);
        let mut sim_config = config.simulator.clone();
        if let Some(at) = config.clock {
            polite_adapters::clock::set(&clock, at).with_context(|| format!("writing {}", clock.display()))?;
            let file = clock.clone();
            sim_config.clock = whatsapp_sim::Clock::from_fn(move || polite_adapters::clock::at(&file));
        } else if clock.exists() {
            // A test clock left by an earlier stack: this one runs on the system's.
            std::fs::remove_file(&clock).with_context(|| format!("removing {}", clock.display()))?;
        }
        sim_config.webhook =
            Some(WebhookTarget { url: format!("{}/webhook", endpoints.api), app_secret: endpoints.app_secret.clone() });
        let simulator =
            Simulator::start(sim_config.clone(), SocketAddr::from(([127, 0, 0, 1], ports.simulator))).await?;

        let mut env = local.env();
        env.extend([
            ("GRAPH_API_BASE_URL".to_owned(), endpoints.simulator.clone()),
            ("WHATSAPP_PHONE_NUMBER_ID".to_owned(), sim_config.phone_number_id.clone()),
            ("WHATSAPP_ACCESS_TOKEN".to_owned(), sim_config.access_token.clone()),
            // The template registry loads the simulator's template list.
            ("WHATSAPP_BUSINESS_ACCOUNT_ID".to_owned(), sim_config.waba_id.clone()),
        ]);
        env.extend(config.function_env.iter().cloned());
        if config.clock.is_some() {
            env.push((polite_adapters::clock::DEV_CLOCK.to_owned(), clock.display().to_string()));
        }
        let watch = start_watch(&config, &cargo_lambda, &env).await?;

        // Functions' first invocations build nothing (the Makefile builds the workspace first)
        // but each start takes a moment; 300 s covers a function cargo must still compile.
        let lambda = Lambda::new(&endpoints.lambda, Duration::from_mins(5))?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", ports.api))
            .await
            .with_context(|| format!("the API router cannot listen on 127.0.0.1:{}", ports.api))?;
        let functions = template.functions.clone();
        let table = RouteTable::new(&functions);
        let dev_events = streams::DevEvents::default();
        let bus = local.resources.buses.values().next().ok_or_else(|| anyhow!("the template has no event bus"))?;
        let events_queue = streams::route_bus_to_queue(&local.sdk, bus, "polite").await?;
        tasks.spawn(dev_events.clone().collect(aws_sdk_sqs::Client::new(&local.sdk), events_queue, stopped.clone()));
        let mut router_stop = stopped.clone();
        let router_lambda = lambda.clone();
        tasks.spawn(async move {
            let shutdown = async move {
                let _ = router_stop.changed().await;
            };
            if let Err(e) = router::serve(listener, table, router_lambda, dev_events, shutdown).await {
                tracing::error!(error = format!("{e:#}"), "the API router stopped");
            }
        });
        spawn_event_sources(&mut tasks, &functions, &local, &lambda, &stopped, config.tick_every).await?;

        let stack = Stack {
            endpoints,
            functions,
            state_dir: config.state_dir.clone(),
            stop,
            tasks,
            simulator: Some(simulator),
            watch,
            moto,
        };
        warm_up(&lambda, &stack.functions).await?;
        let json = serde_json::to_string_pretty(&stack.endpoints)?;
        std::fs::write(stack.state_dir.join("endpoints.json"), json + "\n")?;
        Ok(stack)
    }

    /// Moves the stack's clock (started with [`StackConfig::clock`]) to `at`: what every
    /// function and the simulator take for now from their next reading on.
    ///
    /// # Errors
    /// The stack runs on the system clock, or the clock file cannot be written.
    pub fn set_clock(&self, at: jiff::Timestamp) -> anyhow::Result<()> {
        let clock = clock_file(&self.state_dir);
        anyhow::ensure!(clock.exists(), "this stack runs on the system clock (start it with StackConfig::clock)");
        polite_adapters::clock::set(&clock, at).with_context(|| format!("writing {}", clock.display()))
    }

    /// Where `endpoints.json`, `local.env` and the logs are.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The simulator, while the stack runs.
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    /// An error when moto or `cargo lambda watch` has exited on its own.
    ///
    /// # Errors
    /// Naming the child and its status.
    pub fn check_children(&mut self) -> anyhow::Result<()> {
        for child in [&mut self.moto, &mut self.watch] {
            if let Some(status) = child.exited() {
                bail!("{} exited ({status}); its output is in {}", child.name(), self.state_dir.display());
            }
        }
        Ok(())
    }

    /// Runs until Ctrl-C, SIGTERM or a child's death, then stops everything.
    ///
    /// # Errors
    /// When a child died.
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut check = tokio::time::interval(Duration::from_secs(1));
        let outcome = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Ok(()),
                _ = term.recv() => break Ok(()),
                _ = check.tick() => {
                    if let Err(e) = self.check_children() {
                        break Err(e);
                    }
                }
            }
        };
        self.stop().await;
        outcome
    }

    /// Stops pollers, ticker, router and simulator, then the child processes.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let drained =
            tokio::time::timeout(Duration::from_secs(10), async { while self.tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
        if let Some(simulator) = self.simulator.take() {
            simulator.stop().await;
        }
        self.watch.stop(Duration::from_secs(5));
        self.moto.stop(Duration::from_secs(5));
    }
}

impl StackConfig {
    /// The log file `name` in the state directory.
    fn log(&self, name: &str) -> Output {
        Output::File(self.state_dir.join(name))
    }
}

/// `cargo lambda watch` serving every function with `env`, once it listens.
async fn start_watch(
    config: &StackConfig,
    cargo_lambda: &Path,
    env: &[(String, String)],
) -> anyhow::Result<ChildGroup> {
    let env_file = config.state_dir.join("local.env");
    std::fs::write(&env_file, env_file_text(env)?).with_context(|| format!("writing {}", env_file.display()))?;
    let port = config.ports.lambda;
    let mut command = Command::new(cargo_lambda);
    command
        .current_dir(&config.workspace)
        .env("PATH", path_with(cargo_lambda.parent()))
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
        .arg("--env-file")
        .arg(&env_file);
    if !config.hot_reload {
        command.arg("--ignore-changes");
    }
    let output = if config.show_function_logs { Output::Inherit } else { config.log("lambda.log") };
    let mut watch = ChildGroup::spawn("cargo lambda watch", command, &output)?;
    let listening = || TcpStream::connect(("127.0.0.1", port)).is_ok();
    wait_until("cargo lambda watch", Duration::from_mins(1), &mut watch, listening).await?;
    Ok(watch)
}

/// A poller per queue a function consumes (the template's SQS events), one per table stream it
/// consumes (DynamoDB events), and a ticker per scheduled function.
async fn spawn_event_sources(
    tasks: &mut JoinSet<()>,
    functions: &[FunctionSpec],
    local: &LocalAws,
    lambda: &Lambda,
    stopped: &watch::Receiver<bool>,
    tick_every: Duration,
) -> anyhow::Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&local.sdk);
    for f in functions {
        for (queue, batch) in &f.queues {
            let queue_url =
                local.resources.queues.get(queue).ok_or_else(|| anyhow!("queue {queue} was not created"))?;
            let poller =
                events::Poller { function: f.binary.clone(), queue_url: queue_url.clone(), batch_size: *batch };
            tasks.spawn(poller.run(sqs.clone(), lambda.clone(), stopped.clone()));
        }
        if !f.schedules.is_empty() {
            tasks.spawn(events::tick(f.binary.clone(), tick_every, lambda.clone(), stopped.clone()));
        }
        for source in &f.streams {
            let table = local
                .resources
                .tables
                .get(&source.table)
                .ok_or_else(|| anyhow!("table {} was not created", source.table))?;
            let filters = source
                .filters
                .iter()
                .map(|f| serde_json::from_str(f).with_context(|| format!("{f}: a filter is not JSON")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let poller = streams::StreamPoller {
                function: f.binary.clone(),
                reader: streams::StreamReader::open(&local.endpoint, table).await?,
                batch_size: source.batch_size,
                filters,
            };
            tasks.spawn(poller.run(lambda.clone(), stopped.clone()));
        }
    }
    Ok(())
}

/// `KEY='value'` lines: single quotes keep JSON values (quotes, spaces, `$`) literal for
/// cargo-lambda's dotenv parser, which has no escape inside them.
/// The test clock's file in a stack's state directory (`POLITE_DEV_CLOCK`).
fn clock_file(state_dir: &Path) -> PathBuf {
    state_dir.join("clock")
}

fn env_file_text(env: &[(String, String)]) -> anyhow::Result<String> {
    let mut text = String::new();
    for (key, value) in env {
        if value.contains(['\'', '\n']) {
            bail!("{key}: a value for the functions' env file cannot hold a single quote or a newline");
        }
        let _ = writeln!(text, "{key}='{value}'");
    }
    Ok(text)
}

fn secret(key: &str) -> String {
    LOCAL_SECRETS.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()).unwrap_or_default()
}

/// `dir` first on PATH.
fn path_with(dir: Option<&Path>) -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = dir.map(Path::to_path_buf).into_iter().collect();
    paths.extend(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    std::env::join_paths(paths).unwrap_or_default()
}

/// Polls `ready` until it holds, failing early when `child` exits.
async fn wait_until(
    what: &str,
    timeout: Duration,
    child: &mut ChildGroup,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.exited() {
            bail!("{what} exited ({status}) before it was ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} was not ready within {} s", timeout.as_secs())
}

/// Invokes every function once with an event that changes nothing (an HTTP function gets a
/// request for `/`, which no route serves; a consumer an empty batch; the tick a tick), so
/// each has started — and compiled, if it had to — before the stack says it is up.
async fn warm_up(lambda: &Lambda, functions: &[FunctionSpec]) -> anyhow::Result<()> {
    let calls = functions.iter().map(|f| async move {
        let event = if !f.routes.is_empty() {
            let root = router::Route { method: "GET".into(), path: "/".into(), function: f.binary.clone() };
            let (uri, headers) = (axum::http::Uri::from_static("/"), axum::http::HeaderMap::new());
            let peer = SocketAddr::from(([127, 0, 0, 1], 0));
            let request = router::Incoming { uri: &uri, headers: &headers, body: b"", peer, host: "127.0.0.1" };
            serde_json::to_value(router::event(&root, [], &request))?
        } else if !f.queues.is_empty() {
            serde_json::json!({"Records": []})
        } else {
            serde_json::to_value(events::scheduled_event())?
        };
        lambda
            .invoke::<_, serde_json::Value>(&f.binary, &event)
            .await
            .with_context(|| format!("{} did not start", f.binary))
    });
    for result in futures_util::future::join_all(calls).await {
        result?;
    }
    Ok(())
}
