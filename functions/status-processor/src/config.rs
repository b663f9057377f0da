//! status-processor's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `MESSAGES_TABLE` | the messages table |
//! | `CONTACTS_TABLE` | the contacts table (131026 marks) |
//! | `INBOUND_EVENTS_QUEUE_URL` | inbound-events (131050 opt-outs go through consent-updater) |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the erasure tombstones' hash key |
//! | `UNDELIVERABLE_DAYS` | how long a 131026 number is left alone (default 30) |
//! | `RATE_CARD` | a rate card (JSON, the shape of `shared/domain/data/rate-card.json`) instead of the one polite ships with |

use jiff::SignedDuration;
use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use polite_adapters::tables::TableNames;
use polite_domain::pricing::RateCard;
use secrecy::SecretString;

/// Everything status-processor needs to start.
#[derive(Debug)]
pub struct Config {
    pub tables: TableNames,
    pub inbound_queue_url: String,
    pub contact_hash_key: SecretString,
    pub undeliverable_for: SignedDuration,
    pub rates: RateCard,
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
        let tables = TableNames::from_env(&mut env);
        let inbound_queue_url = env.required(keys::INBOUND_EVENTS_QUEUE_URL);
        let days: i64 = env.parsed("UNDELIVERABLE_DAYS", 30);
        let rates = rate_card(&mut env);
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        let contact_hash_key = secrets.take(secret::CONTACT_HASH_KEY)?;
        Ok(Config {
            tables,
            inbound_queue_url,
            contact_hash_key,
            undeliverable_for: SignedDuration::from_hours(24 * days.clamp(0, 3650)),
            rates: rates?,
        })
    }

    /// The processor on the SDK clients.
    pub fn processor(
        self,
        sdk: &aws_config::SdkConfig,
    ) -> polite_app::statuses::Processor<
        polite_adapters::messages::DynamoMessages,
        polite_adapters::contacts::DynamoContacts,
        polite_adapters::queue::SqsQueue,
    > {
        let (messages, contacts) = self.tables.open(sdk, &self.contact_hash_key);
        polite_app::statuses::Processor {
            messages,
            contacts,
            inbound: polite_adapters::queue::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), self.inbound_queue_url),
            undeliverable_for: self.undeliverable_for,
            rates: self.rates,
        }
    }
}

/// `RATE_CARD` when set, else the card polite ships with; a problem is reported with the rest.
fn rate_card<F: Fn(&str) -> Option<String>>(env: &mut Env<F>) -> Result<RateCard, ConfigError> {
    let parsed = match env.optional("RATE_CARD") {
        Some(json) => RateCard::parse(&json).map_err(|e| format!("RATE_CARD is not a usable rate card: {e}")),
        None => RateCard::builtin().map_err(|e| format!("the built-in rate card is broken: {e}")),
    };
    parsed.map_err(|problem| {
        env.report(problem.clone());
        ConfigError { problems: vec![problem] }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

    use super::*;

    async fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = Env::from_lookup(|key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()));
        Config::load(env, &aws_config::SdkConfig::builder().build()).await
    }

    const BASE: [(&str, &str); 4] = [
        ("MESSAGES_TABLE", "m"),
        ("CONTACTS_TABLE", "c"),
        ("INBOUND_EVENTS_QUEUE_URL", "q"),
        ("CONTACT_HASH_KEY", "k"),
    ];

    #[tokio::test]
    async fn the_shipped_rate_card_unless_rate_card_names_another() {
        assert_eq!(load(&BASE).await.unwrap().rates, RateCard::builtin().unwrap());
        let own = r#"{"currency": "BRL", "source": "our contract", "rates": [{"effective_from": "2026-01-01",
            "markets": [{"market": "Brasil", "countries": ["*"], "rates": {"marketing": "0.3500"}}]}]}"#;
        let [a, b, c, d] = BASE;
        let config = load(&[a, b, c, d, ("RATE_CARD", own)]).await.unwrap();
        assert_eq!(config.rates.currency, "BRL");
    }

    #[tokio::test]
    async fn a_broken_rate_card_is_reported_with_the_other_problems() {
        let broken = r#"{"currency": "USD", "source": "x", "rates": []}"#;
        let problems = load(&[("RATE_CARD", broken)]).await.unwrap_err().problems.join("\n");
        for needle in ["RATE_CARD is not a usable rate card", "no rate period", "MESSAGES_TABLE", "CONTACT_HASH_KEY"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }
}
