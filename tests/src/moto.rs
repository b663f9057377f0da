//! A moto server for the test run: installed with pip if missing, started once per test
//! binary on a free loopback port, stopped when the test process exits. The launcher and its
//! checks are the dev stack's ([`polite_devstack::aws`]).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use polite_adapters::provision::{Provisioned, provision, read_template};
use polite_devstack::aws;

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

impl Moto {
    /// The test binary's moto server, started on first use.
    ///
    /// # Panics
    /// When moto cannot be installed or started: every test that needs it would fail anyway,
    /// and the message says why.
    pub fn get() -> &'static Moto {
        match MOTO.get_or_init(|| start().map_err(|e| format!("{e:#}"))) {
            Ok(m) => m,
            Err(e) => panic!("moto could not be started: {e}"),
        }
    }

    /// SDK configuration pointing at this server (region us-east-1, dummy credentials).
    pub async fn sdk_config(&self) -> SdkConfig {
        aws::sdk_config(&self.endpoint).await
    }
}

fn start() -> anyhow::Result<Moto> {
    aws::ensure_moto()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // The watcher ends moto when this test process is gone, however it ends.
    let script = format!(
        "python3 {launcher} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
        parent = std::process::id(),
        launcher = aws::LAUNCHER,
    );
    Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn().context("spawning moto")?;
    aws::wait_for_moto(port, Duration::from_secs(30))?;
    Ok(Moto { endpoint: format!("http://127.0.0.1:{port}") })
}

/// A fresh copy of the template's tables and queues.
#[derive(Debug)]
pub struct Stack {
    pub sdk: SdkConfig,
    pub prefix: String,
    pub resources: Provisioned,
}

impl Stack {
    /// Creates every table and queue of `template.yaml` under a prefix unique to this call.
    /// They disappear with the moto process at the end of the test run.
    ///
    /// # Errors
    /// When the template cannot be read or a resource cannot be created.
    pub async fn create() -> anyhow::Result<Stack> {
        Self::create_on(Moto::get()).await
    }

    /// [`Stack::create`] on a moto server of its own, started for it: moto answers on one
    /// Python thread, so a test heavy enough to keep it busy (the fault campaign) runs beside
    /// others of its kind on more than one core. The server stops with the test process.
    ///
    /// # Errors
    /// When moto cannot be started, or as for [`Stack::create`].
    pub async fn create_alone() -> anyhow::Result<Stack> {
        Self::create_on(&start()?).await
    }

    async fn create_on(moto: &Moto) -> anyhow::Result<Stack> {
        static N: AtomicU32 = AtomicU32::new(0);
        let sdk = moto.sdk_config().await;
        let prefix = format!("t{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let resources = provision(&sdk, &read_template(&template)?, &prefix).await?;
        Ok(Stack { sdk, prefix, resources })
    }

    /// A table's physical name by logical id.
    pub fn table(&self, logical_id: &str) -> &str {
        self.resources.tables.get(logical_id).map_or("", String::as_str)
    }

    /// A queue's URL by logical id.
    pub fn queue(&self, logical_id: &str) -> &str {
        self.resources.queues.get(logical_id).map_or("", String::as_str)
    }
}
