//! The scheduler's configuration (messages-api and scheduler-tick share it), read once at
//! init, and its stores opened on the SDK clients.
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
//! | `AUDIENCE_BUCKET` | the S3 bucket campaigns' audience files are read from (optional: without it a campaign must list its recipients) |

use std::time::Duration;

use polite_domain::campaign::CampaignSettings;
use secrecy::SecretString;

use crate::audiences::S3Audiences;
use crate::config::{ConfigError, Env, keys};
use crate::contacts::DynamoContacts;
use crate::messages::DynamoMessages;
use crate::queue::SqsQueue;
use crate::secrets::{self, keys as secret};
use crate::tables::TableNames;
use crate::templates::DynamoTemplates;

/// Everything the scheduler needs to start.
#[derive(Debug)]
pub struct SchedulerConfig {
    pub tables: TableNames,
    pub send_queue_url: String,
    pub templates_table: String,
    pub contact_hash_key: SecretString,
    pub campaigns: CampaignSettings,
    pub audience_bucket: Option<String>,
}

impl SchedulerConfig {
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
        let defaults = CampaignSettings::default();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let campaigns = CampaignSettings {
            per_second: env.parsed("CAMPAIGN_MPS", defaults.per_second),
            inline_budget: Duration::from_millis(
                env.parsed("CAMPAIGN_INLINE_BUDGET_MS", millis(defaults.inline_budget)),
            ),
            tick_budget: Duration::from_millis(env.parsed("CAMPAIGN_TICK_BUDGET_MS", millis(defaults.tick_budget))),
            ..defaults
        };
        let audience_bucket = env.optional(keys::AUDIENCE_BUCKET);
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        let contact_hash_key = secrets.take(secret::CONTACT_HASH_KEY)?;
        Ok(SchedulerConfig { tables, send_queue_url, templates_table, contact_hash_key, campaigns, audience_bucket })
    }

    /// The scheduler's stores and queue on the SDK clients.
    pub fn open(self, sdk: &aws_config::SdkConfig) -> SchedulerStores {
        let (messages, contacts) = self.tables.open(sdk, &self.contact_hash_key);
        SchedulerStores {
            messages,
            contacts,
            templates: DynamoTemplates::new(aws_sdk_dynamodb::Client::new(sdk), self.templates_table),
            send_queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), self.send_queue_url),
            campaigns: self.campaigns,
            audiences: S3Audiences::new(S3Audiences::client(sdk), self.audience_bucket),
        }
    }
}

/// What the scheduler works on (`polite_app::scheduler::Scheduler`'s parts).
#[derive(Debug)]
pub struct SchedulerStores {
    pub messages: DynamoMessages,
    pub contacts: DynamoContacts,
    pub templates: DynamoTemplates,
    pub send_queue: SqsQueue,
    pub campaigns: CampaignSettings,
    pub audiences: S3Audiences,
}
