//! contacts-api's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `CONTACTS_TABLE` | the contacts table |
//! | `MESSAGES_TABLE` | the messages table (erasure forgets the person's messages there) |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the key of erasure tombstones' identity hash (value locally; SSM SecureString name in AWS) |
//! | `INBOUND_EVENTS_QUEUE_URL` | inbound-events: a consent import from a file asks consent-updater for its first part there |
//! | `AUDIENCE_BUCKET` | the bucket consent import files may be in (optional: without it, imports list their records) |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use polite_adapters::tables::TableNames;
use secrecy::SecretString;

/// Everything contacts-api needs to start.
#[derive(Debug)]
pub struct Config {
    pub tables: TableNames,
    pub contact_hash_key: SecretString,
    /// Where a consent import's first part is asked for (consent-updater reads it).
    pub inbound_events_queue_url: String,
    /// The bucket consent import files may be in (none: imports from files are refused).
    pub audience_bucket: Option<String>,
}

impl Config {
    /// Reads the environment and the hash key (from SSM when named there), reporting every
    /// problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing value.
    pub async fn load<F: Fn(&str) -> Option<String>>(
        mut env: Env<F>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let tables = TableNames::from_env(&mut env);
        let inbound_events_queue_url = env.required(keys::INBOUND_EVENTS_QUEUE_URL);
        let audience_bucket = env.optional(keys::AUDIENCE_BUCKET);
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        Ok(Config {
            tables,
            contact_hash_key: secrets.take(secret::CONTACT_HASH_KEY)?,
            inbound_events_queue_url,
            audience_bucket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_tables_and_the_hash_key_are_required() {
        let env = Env::from_lookup(|_: &str| None);
        let problems =
            Config::load(env, &aws_config::SdkConfig::builder().build()).await.unwrap_err().problems.join("\n");
        for needle in ["CONTACTS_TABLE", "MESSAGES_TABLE", "CONTACT_HASH_KEY", "INBOUND_EVENTS_QUEUE_URL"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }
}
