//! `whatsapp-sim`: the WhatsApp Cloud API simulator as a process (wiring only).
//!
//! | variable | default |
//! |---|---|
//! | `SIM_ADDR` | `127.0.0.1:4590` |
//! | `SIM_PHONE_NUMBER_ID` | `106540352242922` |
//! | `SIM_ACCESS_TOKEN` | `polite-local-access-token` |
//! | `SIM_APPROVED_TEMPLATES` | unset: any template name; else a comma-separated list |
//! | `SIM_LATENCY_MS` | `0` |

use std::time::Duration;

use anyhow::Context as _;
use whatsapp_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(env_filter()).init();
    let defaults = SimConfig::default();
    let var = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    let addr = var("SIM_ADDR").unwrap_or_else(|| "127.0.0.1:4590".into());
    let addr = addr.parse().with_context(|| format!("SIM_ADDR={addr} is not an address like 127.0.0.1:4590"))?;
    let latency_ms: u64 = match var("SIM_LATENCY_MS") {
        Some(v) => v.parse().with_context(|| format!("SIM_LATENCY_MS={v} is not a number of milliseconds"))?,
        None => 0,
    };
    let config = SimConfig {
        phone_number_id: var("SIM_PHONE_NUMBER_ID").unwrap_or(defaults.phone_number_id),
        access_token: var("SIM_ACCESS_TOKEN").unwrap_or(defaults.access_token),
        approved_templates: var("SIM_APPROVED_TEMPLATES")
            .map(|list| list.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()),
        latency: Duration::from_millis(latency_ms),
    };
    let sim = Simulator::start(config, addr).await?;
    println!("WhatsApp Cloud API simulator on {}", sim.url());
    shutdown_signal().await;
    sim.stop().await;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Ctrl-C or SIGTERM (the dev stack stops its children with SIGTERM).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
