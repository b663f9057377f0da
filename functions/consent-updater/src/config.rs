//! consent-updater's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `CONTACTS_TABLE` | the contacts table |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the key of erasure tombstones' number hash (value locally; SSM SecureString name in AWS) |
//! | `CONSENT_KEYWORDS` | optional JSON: `{"opt_out": [...], "opt_in": [...], "optout_payload": "...", "optout_button_labels": [...]}`; defaults in the README |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use polite_domain::consent::ConsentKeywords;
use secrecy::SecretString;

/// The environment variable holding the keyword configuration.
pub const CONSENT_KEYWORDS: &str = "CONSENT_KEYWORDS";

/// Everything consent-updater needs to start.
#[derive(Debug)]
pub struct Config {
    pub contacts_table: String,
    pub contact_hash_key: SecretString,
    pub keywords: ConsentKeywords,
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
        let keywords = env.json(CONSENT_KEYWORDS, ConsentKeywords::default());
        let loaded = secrets::load(&env, sdk, &[secret::CONTACT_HASH_KEY]).await;
        let mut problems = env.finish().err().map(|e| e.problems).unwrap_or_default();
        match loaded {
            Ok(mut secrets) if problems.is_empty() => match secrets.take(secret::CONTACT_HASH_KEY) {
                Ok(contact_hash_key) => Ok(Config { contacts_table, contact_hash_key, keywords }),
                Err(e) => Err(ConfigError { problems: vec![e.to_string()] }),
            },
            Ok(_) => Err(ConfigError { problems }),
            Err(e) => {
                problems.extend(e.problems);
                Err(ConfigError { problems })
            }
        }
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
        let base = [("CONTACTS_TABLE", "t"), ("CONTACT_HASH_KEY", "k")];
        let config = load(&base).await.unwrap();
        assert_eq!(config.keywords, ConsentKeywords::default());
        assert_eq!(config.contact_hash_key.expose_secret(), "k");
        let custom = [base[0], base[1], ("CONSENT_KEYWORDS", r#"{"opt_out":["HALT"]}"#)];
        let config = load(&custom).await.unwrap();
        assert_eq!(config.keywords.opt_out, ["HALT"]);
        assert_eq!(config.keywords.opt_in, ConsentKeywords::default().opt_in, "unset lists keep their defaults");
    }

    #[tokio::test]
    async fn every_problem_is_reported_at_once() {
        let problems = load(&[("CONSENT_KEYWORDS", r#"{"opt_out":"STOP"}"#)]).await.unwrap_err().problems.join("\n");
        for needle in ["CONTACTS_TABLE", "CONSENT_KEYWORDS", "CONTACT_HASH_KEY"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }
}
