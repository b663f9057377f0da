//! Local AWS: a moto server (installed with pip when missing) holding the template's tables
//! and queues, and the environment a function needs to use them.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use polite_adapters::provision::{Provisioned, Resources, provision};

/// moto's server with DynamoDB calls serialised, as atomic as the real service
/// (`moto_server.py` says why).
pub const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");

/// The oldest moto whose SQS JSON protocol answers SendMessageBatch per-entry failures with a
/// boolean `SenderFault` (5.2.1 sent the string "true", which the Rust SDK rightly refuses).
const MOTO_REQUIREMENT: &str = "moto[server]>=5.2.5,<6";
const MOTO_CHECK: &str = "import moto.server, flask_cors; from importlib.metadata import version; \
    assert tuple(int(x) for x in version('moto').split('.')[:3]) >= (5, 2, 5)";

/// The local development secrets (the webhook fixtures are signed with this app secret).
pub const LOCAL_SECRETS: [(&str, &str); 3] = [
    ("WHATSAPP_APP_SECRET", "polite-local-app-secret"),
    ("WHATSAPP_VERIFY_TOKEN", "polite-local-verify-token"),
    ("CONTACT_HASH_KEY", "polite-local-contact-hash-key"),
];

/// moto (with its server extras) of a version that behaves, installed into the interpreter we
/// run when missing or too old.
///
/// # Errors
/// When pip cannot install it.
pub fn ensure_moto() -> anyhow::Result<()> {
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

/// The command that runs moto on `127.0.0.1:port`.
pub fn moto_command(port: u16) -> Command {
    let mut command = Command::new("python3");
    command.args([LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// Whether moto answers on `127.0.0.1:port`.
pub fn moto_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1")
}

/// Waits until moto answers on `port`.
///
/// # Errors
/// When it does not within `timeout`.
pub fn wait_for_moto(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if moto_ready(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("moto did not answer on 127.0.0.1:{port} within {} s", timeout.as_secs())
}

/// `POST /moto-api/reset`: moto forgets every resource.
///
/// # Errors
/// When moto does not answer 200.
pub fn reset(port: u16) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "POST /moto-api/reset HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.") && &head[9..12] == b"200",
        "moto answered {:?}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}

/// SDK configuration for a moto endpoint (region us-east-1, dummy credentials).
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// The template's tables and queues on a moto server, created under `prefix`.
#[derive(Debug)]
pub struct LocalAws {
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub resources: Provisioned,
}

impl LocalAws {
    /// Creates every table and queue of `template` on the moto at `endpoint`.
    ///
    /// # Errors
    /// When a resource cannot be created.
    pub async fn provision(endpoint: &str, template: &Resources, prefix: &str) -> anyhow::Result<LocalAws> {
        let sdk = sdk_config(endpoint).await;
        let resources = provision(&sdk, template, prefix).await?;
        Ok(LocalAws { endpoint: endpoint.to_owned(), sdk, resources })
    }

    /// What a function needs to use these resources locally: the endpoint, region and dummy
    /// credentials, each table's and queue's variable, and the local secrets.
    pub fn env(&self) -> Vec<(String, String)> {
        let aws = [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ];
        let fixed = aws.into_iter().chain(LOCAL_SECRETS).map(|(k, v)| (k.to_owned(), v.to_owned()));
        self.resources.env().into_iter().chain(fixed).collect()
    }
}

/// Reads `template.yaml` at the workspace root.
///
/// # Errors
/// When it cannot be read or parsed.
pub fn read_template(workspace: &Path) -> anyhow::Result<Resources> {
    polite_adapters::provision::read_template(&workspace.join("template.yaml"))
}
