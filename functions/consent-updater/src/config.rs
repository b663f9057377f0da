//! consent-updater's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `CONTACTS_TABLE` | the contacts table |
//! | `INBOUND_EVENTS_QUEUE_URL` | inbound-events, where a consent import's next part is asked for |
//! | `AUDIENCE_BUCKET` | the bucket consent import files are read from and their results written to (optional: without it, no imports from files) |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the key of erasure tombstones' number hash (value locally; SSM SecureString name in AWS) |
//! | `CONSENT_KEYWORDS` | optional JSON: `{"opt_out": [...], "opt_in": [...], "optout_payload": "...", "optout_button_labels": [...], "replace_defaults"?: false}`: lists extend the defaults (README) unless `replace_defaults` is true |
//! | `CONSENT_CONFIRMATIONS` | optional JSON `{"opt_out": "…", "opt_in": "…"}`: reply texts after a keyword; off when unset |
//! | `SEND_POLICY` | optional JSON sending policy (message-sender's): its longest cap window is how long a send from the WhatsApp Business app (an echo) counts |
//! | `WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_ACCESS_TOKEN[_PARAM]`, `GRAPH_API_BASE_URL`, `GRAPH_API_VERSION`, `GRAPH_API_TIMEOUT_MS` | the Graph API, needed only when confirmations are on |

use jiff::SignedDuration;
use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::graph::GraphConfig;
use polite_adapters::secrets::{self, keys as secret};
use polite_domain::consent::ConsentKeywords;
use polite_domain::gate::Policy;
use polite_domain::inbound::ConfirmationTexts;
use secrecy::SecretString;

/// The environment variable holding the keyword configuration.
pub const CONSENT_KEYWORDS: &str = "CONSENT_KEYWORDS";

/// The environment variable holding the confirmation reply texts.
pub const CONSENT_CONFIRMATIONS: &str = "CONSENT_CONFIRMATIONS";

/// Everything consent-updater needs to start.
#[derive(Debug)]
pub struct Config {
    pub contacts_table: String,
    pub inbound_events_queue_url: String,
    pub audience_bucket: Option<String>,
    pub contact_hash_key: SecretString,
    pub keywords: ConsentKeywords,
    /// The reply texts and where to send them, when confirmations are on.
    pub confirmations: Option<(ConfirmationTexts, GraphConfig)>,
    /// How long an echoed send counts toward caps and spacing.
    pub send_memory: SignedDuration,
}

impl Config {
    /// Reads the environment and the hash key (from SSM when named there), reporting every
    /// problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing or invalid value.
    pub async fn load<F: Fn(&str) -> Option<String>>(
        mut env: Env<F>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let contacts_table = env.required(keys::CONTACTS_TABLE);
        let inbound_events_queue_url = env.required(keys::INBOUND_EVENTS_QUEUE_URL);
        let audience_bucket = env.optional(keys::AUDIENCE_BUCKET);
        let keywords = env.json(CONSENT_KEYWORDS, ConsentKeywords::default());
        let texts = env.json(CONSENT_CONFIRMATIONS, ConfirmationTexts::default());
        let send_memory = env.json(keys::SEND_POLICY, Policy::default()).send_memory();
        let confirming = !texts.is_off();
        let wanted: &[&'static str] = if confirming {
            &[secret::CONTACT_HASH_KEY, secret::WHATSAPP_ACCESS_TOKEN]
        } else {
            &[secret::CONTACT_HASH_KEY]
        };
        // The token is filled in below; reading the rest now records what is missing.
        let graph = confirming.then(|| GraphConfig::from_env(&mut env, SecretString::default()));
        let mut secrets = secrets::finish(env, sdk, wanted).await?;
        let contact_hash_key = secrets.take(secret::CONTACT_HASH_KEY)?;
        let confirmations = match graph {
            Some(graph) => Some((texts, GraphConfig { token: secrets.take(secret::WHATSAPP_ACCESS_TOKEN)?, ..graph })),
            None => None,
        };
        Ok(Config {
            contacts_table,
            inbound_events_queue_url,
            audience_bucket,
            contact_hash_key,
            keywords,
            confirmations,
            send_memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    async fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = Env::from_lookup(|key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()));
        Config::load(env, &aws_config::SdkConfig::builder().build()).await
    }

    #[tokio::test]
    async fn keywords_are_configurable_and_default_otherwise() {
        let base = [("CONTACTS_TABLE", "t"), ("CONTACT_HASH_KEY", "k"), ("INBOUND_EVENTS_QUEUE_URL", "q")];
        let config = load(&base).await.unwrap();
        assert_eq!(config.keywords, ConsentKeywords::default());
        assert_eq!(config.contact_hash_key.expose_secret(), "k");
        // A business adding its own word must not lose STOP: lists extend the defaults.
        let custom = [base[0], base[1], base[2], ("CONSENT_KEYWORDS", r#"{"opt_out":["HALT"]}"#)];
        let config = load(&custom).await.unwrap();
        let mut extended = ConsentKeywords::default().opt_out;
        extended.push("HALT".into());
        assert_eq!(config.keywords.opt_out, extended);
        assert_eq!(config.keywords.opt_in, ConsentKeywords::default().opt_in, "unset lists keep their defaults");
        // Replacing takes saying so.
        let replaced =
            [base[0], base[1], base[2], ("CONSENT_KEYWORDS", r#"{"opt_out":["HALT"],"replace_defaults":true}"#)];
        let config = load(&replaced).await.unwrap();
        assert_eq!(config.keywords.opt_out, ["HALT"]);
        assert_eq!(config.keywords.opt_in, ConsentKeywords::default().opt_in);
    }

    #[tokio::test]
    async fn confirmations_are_off_by_default_and_need_the_graph_api_when_on() {
        let base = [("CONTACTS_TABLE", "t"), ("CONTACT_HASH_KEY", "k"), ("INBOUND_EVENTS_QUEUE_URL", "q")];
        assert!(load(&base).await.unwrap().confirmations.is_none());

        let on = ("CONSENT_CONFIRMATIONS", r#"{"opt_out":"Done: no more promotions."}"#);
        let problems = load(&[base[0], base[1], base[2], on]).await.unwrap_err().problems.join("\n");
        for needle in ["WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }

        let complete =
            [base[0], base[1], base[2], on, ("WHATSAPP_PHONE_NUMBER_ID", "555"), ("WHATSAPP_ACCESS_TOKEN", "tok")];
        let (texts, graph) = load(&complete).await.unwrap().confirmations.unwrap();
        assert_eq!(texts.opt_out.as_deref(), Some("Done: no more promotions."));
        assert_eq!(graph.phone_number_id, "555");
        assert_eq!(graph.token.expose_secret(), "tok");
        assert_eq!(graph.base_url, "https://graph.facebook.com");
    }

    #[tokio::test]
    async fn every_problem_is_reported_at_once() {
        let problems = load(&[("CONSENT_KEYWORDS", r#"{"opt_out":"STOP"}"#)]).await.unwrap_err().problems.join("\n");
        for needle in ["CONTACTS_TABLE", "CONSENT_KEYWORDS", "CONTACT_HASH_KEY", "INBOUND_EVENTS_QUEUE_URL"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }
}
