//! A moto server for the test run: installed with pip if missing, started once per test
//! binary on a free loopback port, stopped when the test process exits.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use polite_adapters::provision::{Provisioned, provision, read_template};

/// moto's server with DynamoDB calls serialised, as atomic as the real service
/// (`tests/moto_server.py` says why).
pub const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");

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
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }
}

/// The oldest moto whose SQS JSON protocol answers SendMessageBatch per-entry failures with a
/// boolean `SenderFault` (5.2.1 sent the string "true", which the Rust SDK rightly refuses).
const MOTO_REQUIREMENT: &str = "moto[server]>=5.2.5,<6";
const MOTO_CHECK: &str = "import moto.server, flask_cors; from importlib.metadata import version; \
    assert tuple(int(x) for x in version('moto').split('.')[:3]) >= (5, 2, 5)";

/// moto (with its server extras) of a version that behaves; installed into the interpreter we
/// run when missing or too old.
fn ensure_installed() -> anyhow::Result<()> {
    let present = Command::new("python3").args(["-c", MOTO_CHECK]).stderr(Stdio::null()).status();
    if present.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", MOTO_REQUIREMENT])
        .status()
        .context("running pip to install moto")?;
    if !status.success() {
        bail!("pip install '{MOTO_REQUIREMENT}' failed ({status})");
    }
    Ok(())
}

fn start() -> anyhow::Result<Moto> {
    ensure_installed()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // The watcher ends moto when this test process is gone, however it ends.
    let script = format!(
        "python3 {launcher} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
        parent = std::process::id(),
        launcher = LAUNCHER,
    );
    Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn().context("spawning moto")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready(port) {
            return Ok(Moto { endpoint: format!("http://127.0.0.1:{port}") });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(anyhow!("moto did not answer on 127.0.0.1:{port} within 30 s"))
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1")
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
        static N: AtomicU32 = AtomicU32::new(0);
        let sdk = Moto::get().sdk_config().await;
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
