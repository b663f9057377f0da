//! webhook-intake's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `INBOUND_EVENTS_QUEUE_URL` | inbound-events (messages, `user_preferences`, errors) |
//! | `STATUS_EVENTS_QUEUE_URL` | status-events |
//! | `TEMPLATE_EVENTS_QUEUE_URL` | template-events (template status, category, quality changes) |
//! | `WEBHOOK_PARKING_QUEUE_URL` | where what cannot be routed is parked |
//! | `WHATSAPP_APP_SECRET` or `WHATSAPP_APP_SECRET_PARAM` | the Meta app secret (value locally; SSM SecureString name in AWS) |
//! | `WHATSAPP_VERIFY_TOKEN` or `WHATSAPP_VERIFY_TOKEN_PARAM` | the handshake's verify token (likewise) |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use secrecy::SecretString;

/// Everything webhook-intake needs to start.
#[derive(Debug)]
pub struct Config {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub inbound_events_queue_url: String,
    pub status_events_queue_url: String,
    pub template_events_queue_url: String,
    pub parking_queue_url: String,
}

impl Config {
    /// Reads the environment and the secrets (from SSM when named there), reporting every
    /// problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing or unreadable value.
    pub async fn load<F: Fn(&str) -> Option<String>>(
        mut env: Env<F>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let inbound_events_queue_url = env.required(keys::INBOUND_EVENTS_QUEUE_URL);
        let status_events_queue_url = env.required(keys::STATUS_EVENTS_QUEUE_URL);
        let template_events_queue_url = env.required(keys::TEMPLATE_EVENTS_QUEUE_URL);
        let parking_queue_url = env.required(keys::WEBHOOK_PARKING_QUEUE_URL);
        let mut secrets =
            secrets::finish(env, sdk, &[secret::WHATSAPP_APP_SECRET, secret::WHATSAPP_VERIFY_TOKEN]).await?;
        Ok(Config {
            app_secret: secrets.take(secret::WHATSAPP_APP_SECRET)?,
            verify_token: secrets.take(secret::WHATSAPP_VERIFY_TOKEN)?,
            inbound_events_queue_url,
            status_events_queue_url,
            template_events_queue_url,
            parking_queue_url,
        })
    }
}
