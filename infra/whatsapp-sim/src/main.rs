//! `whatsapp-sim`: the WhatsApp Cloud API simulator as a process (wiring only).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SIM_ADDR` | `127.0.0.1:4590` | where it listens |
//! | `SIM_PHONE_NUMBER_ID` | `106540352242922` | the business number id it serves |
//! | `SIM_DISPLAY_PHONE_NUMBER` | `15550001111` | the number webhooks show |
//! | `SIM_WABA_ID` | `900100200300` | the account id webhooks carry |
//! | `SIM_ACCESS_TOKEN` | `polite-local-access-token` | the bearer token it expects |
//! | `SIM_APPROVED_TEMPLATES` | unset: any name | comma-separated approved template names (others: 132001) |
//! | `SIM_TEMPLATE_CATEGORIES` | all `marketing` | `name=category,…` for the pricing in statuses |
//! | `SIM_MARKETING_TERMS_ACCEPTED` | true | `false`: every send to `/marketing_messages` fails with 131055 (the Marketing Messages API's terms not accepted) |
//! | `SIM_MARKETING_OFF_ON_MESSAGES` | false | `true`: marketing templates on `/messages` fail with 131063 |
//! | `SIM_TEMPLATES` | none | the business's templates, `name/language=CATEGORY[/STATUS],…` (`GET /{version}/{waba_id}/message_templates`; PAUSED sends fail 132015, DISABLED 132016) |
//! | `SIM_LATENCY_MS` | `0` | added before every Graph API answer |
//! | `SIM_WEBHOOK_URL`, `SIM_APP_SECRET` | unset: no webhooks | where statuses and inbound messages are posted, and the secret they are signed with |
//! | `SIM_STATUS_DELAYS_MS` | `100,500,1500` | when `sent`, `delivered`, `read` happen after acceptance |
//! | `SIM_FAILURES` | `response` | `webhook`: undeliverable recipients get a `failed` status webhook instead of an error answer |
//! | `SIM_THROTTLE_RATE`, `SIM_SERVER_ERROR_RATE`, `SIM_TIMEOUT_RATE` | `0` | shares of sends answered 130429, 131000, or too late (`SIM_TIMEOUT_MS`, 30000) |
//! | `SIM_EMPTY_ANSWER_RATE`, `SIM_GATEWAY_TIMEOUT_RATE` | `0` | shares of sends accepted but answered 200 without a body, or 504 with a gateway's page |
//! | `SIM_DUPLICATE_RATE`, `SIM_REORDER_RATE` | `0` | shares of statuses posted twice / of messages whose statuses come in reverse order |
//! | `SIM_READ_RATE` | `1` | share of delivered messages that are read |
//! | `SIM_SEED` | `1` | the knobs' generator seed |

use anyhow::Context as _;
use whatsapp_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(env_filter()).init();
    let addr = std::env::var("SIM_ADDR").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "127.0.0.1:4590".into());
    let addr = addr.parse().with_context(|| format!("SIM_ADDR={addr} is not an address like 127.0.0.1:4590"))?;
    let config = SimConfig::from_env(|key| std::env::var(key).ok())?;
    let webhook = config.webhook.as_ref().map_or_else(|| "no webhook".to_owned(), |w| format!("webhooks to {}", w.url));
    let sim = Simulator::start(config, addr).await?;
    println!("WhatsApp Cloud API simulator on {} ({webhook})", sim.url());
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
