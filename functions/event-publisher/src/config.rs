//! event-publisher's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `POLITE_EVENT_BUS` | the EventBridge bus's name |
//! | `MESSAGES_TABLE` | the messages table (campaign completion) |
//! | `CONTACTS_TABLE` | the contacts table (its outbox items are scrubbed once published) |

use polite_adapters::bus::EventBridgeBus;
use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::messages::DynamoMessages;
use polite_adapters::outbox::Outboxes;

/// The bus variable.
pub const POLITE_EVENT_BUS: &str = "POLITE_EVENT_BUS";

/// Everything event-publisher needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bus: String,
    pub messages_table: String,
    /// Named for least privilege (the role may scrub its outbox); the records say their table.
    pub contacts_table: String,
}

impl Config {
    /// Reads the environment, reporting every problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing value.
    pub fn load<F: Fn(&str) -> Option<String>>(mut env: Env<F>) -> Result<Self, ConfigError> {
        let bus = env.required(POLITE_EVENT_BUS);
        let messages_table = env.required(keys::MESSAGES_TABLE);
        let contacts_table = env.required(keys::CONTACTS_TABLE);
        env.finish()?;
        Ok(Config { bus, messages_table, contacts_table })
    }

    /// The publisher on the SDK clients.
    pub fn publisher(
        self,
        sdk: &aws_config::SdkConfig,
    ) -> polite_app::publish::Publisher<EventBridgeBus, DynamoMessages, Outboxes> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        polite_app::publish::Publisher {
            bus: EventBridgeBus::new(aws_sdk_eventbridge::Client::new(sdk), self.bus),
            // Campaigns are not keyed by person: no hash key is needed to read or complete them.
            campaigns: DynamoMessages::new(dynamodb.clone(), self.messages_table, b""),
            outboxes: Outboxes::new(dynamodb),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

    use super::*;

    #[test]
    fn every_name_is_required_and_reported_together() {
        let problems = Config::load(Env::from_lookup(|_: &str| None)).unwrap_err().problems.join("\n");
        assert!(problems.contains(POLITE_EVENT_BUS) && problems.contains("MESSAGES_TABLE"), "{problems}");
        let vars = [(POLITE_EVENT_BUS, "bus"), ("MESSAGES_TABLE", "m"), ("CONTACTS_TABLE", "c")];
        let env = Env::from_lookup(|k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()));
        let config = Config { bus: "bus".into(), messages_table: "m".into(), contacts_table: "c".into() };
        assert_eq!(Config::load(env).unwrap(), config);
    }
}
