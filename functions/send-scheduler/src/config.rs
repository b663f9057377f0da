//! send-scheduler's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `MESSAGES_TABLE` | the messages table |
//! | `CONTACTS_TABLE` | the contacts table (read: the 24 h window of free-form text) |
//! | `TEMPLATES_TABLE` | the template registry (read: the category Meta last set, for messages created by `POST /v1/messages` and campaign fan-out) |
//! | `SEND_QUEUE_URL` | send-queue |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the erasure tombstones' hash key (reading a contact checks its tombstone) |
//! | `CAMPAIGN_MPS` | recipients per second a campaign is spread at (default 64) |
//! | `CAMPAIGN_INLINE_BUDGET_MS` | how long `POST /v1/campaigns` fans out before answering (default 5000) |
//! | `CAMPAIGN_TICK_BUDGET_MS` | how long one tick fans out campaigns (default 40000) |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use polite_adapters::tables::TableNames;
use secrecy::SecretString;
use std::time::Duration;

/// Everything send-scheduler needs to start.
#[derive(Debug)]
pub struct Config {
    pub tables: TableNames,
    pub send_queue_url: String,
    pub templates_table: String,
    pub contact_hash_key: SecretString,
    pub campaigns: crate::CampaignSettings,
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
        let send_queue_url = env.required(keys::SEND_QUEUE_URL);
        let templates_table = env.required(keys::TEMPLATES_TABLE);
        let defaults = crate::CampaignSettings::default();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let campaigns = crate::CampaignSettings {
            per_second: env.parsed("CAMPAIGN_MPS", defaults.per_second),
            inline_budget: Duration::from_millis(
                env.parsed("CAMPAIGN_INLINE_BUDGET_MS", millis(defaults.inline_budget)),
            ),
            tick_budget: Duration::from_millis(env.parsed("CAMPAIGN_TICK_BUDGET_MS", millis(defaults.tick_budget))),
            ..defaults
        };
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        let contact_hash_key = secrets.take(secret::CONTACT_HASH_KEY)?;
        Ok(Config { tables, send_queue_url, templates_table, contact_hash_key, campaigns })
    }

    /// The scheduler on the SDK clients.
    pub fn scheduler(
        self,
        sdk: &aws_config::SdkConfig,
    ) -> crate::Scheduler<
        polite_adapters::messages::DynamoMessages,
        polite_adapters::contacts::DynamoContacts,
        polite_adapters::queue::SqsQueue,
    > {
        let (messages, contacts) = self.tables.open(sdk, &self.contact_hash_key);
        let templates =
            polite_adapters::templates::DynamoTemplates::new(aws_sdk_dynamodb::Client::new(sdk), self.templates_table);
        crate::Scheduler {
            messages,
            contacts,
            templates,
            send_queue: polite_adapters::queue::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), self.send_queue_url),
            campaigns: self.campaigns,
        }
    }
}
