//! contacts-api's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `CONTACTS_TABLE` | the contacts table |
//! | `MESSAGES_TABLE` | the messages table (erasure forgets the person's messages there) |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the key of erasure tombstones' identity hash (value locally; SSM SecureString name in AWS) |

use polite_adapters::config::{ConfigError, Env};
use polite_adapters::secrets::{self, keys as secret};
use polite_adapters::tables::TableNames;
use secrecy::SecretString;

/// Everything contacts-api needs to start.
#[derive(Debug)]
pub struct Config {
    pub tables: TableNames,
    pub contact_hash_key: SecretString,
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
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        Ok(Config { tables, contact_hash_key: secrets.take(secret::CONTACT_HASH_KEY)? })
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
        for needle in ["CONTACTS_TABLE", "MESSAGES_TABLE", "CONTACT_HASH_KEY"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }
}
