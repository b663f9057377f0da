//! `make local-aws`: the template's tables and queues on a running moto server, and the
//! environment a function needs to use them, printed as `KEY=VALUE` lines (an env file for
//! `cargo lambda watch --env-file`). Resets moto first, so every run starts empty.
//!
//! Usage: `local-aws [ENDPOINT]` (default `http://127.0.0.1:4566`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region};
use polite_adapters::provision::{provision, read_template};

/// The local development secrets; the webhook fixtures are signed with this app secret.
const LOCAL_SECRETS: [(&str, &str); 3] = [
    ("WHATSAPP_APP_SECRET", "polite-local-app-secret"),
    ("WHATSAPP_VERIFY_TOKEN", "polite-local-verify-token"),
    ("CONTACT_HASH_KEY", "polite-local-contact-hash-key"),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:4566".to_owned());
    reset(&endpoint).with_context(|| format!("no moto server answers at {endpoint} (make local-aws starts one)"))?;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "local"))
        .load()
        .await;
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let provisioned = provision(&sdk, &read_template(&template)?, "polite").await?;

    println!("AWS_ENDPOINT_URL={endpoint}");
    println!("AWS_REGION=us-east-1");
    println!("AWS_ACCESS_KEY_ID=test");
    println!("AWS_SECRET_ACCESS_KEY=test");
    for (key, value) in provisioned.env() {
        println!("{key}={value}");
    }
    for (key, value) in LOCAL_SECRETS {
        println!("{key}={value}");
    }
    Ok(())
}

/// `POST /moto-api/reset`: moto forgets every resource.
fn reset(endpoint: &str) -> anyhow::Result<()> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "POST /moto-api/reset HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.") && &head[9..12] == b"200",
        "moto answered {:?}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}
