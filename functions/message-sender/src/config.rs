//! message-sender's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `MESSAGES_TABLE`, `CONTACTS_TABLE` | the tables |
//! | `TEMPLATES_TABLE` | the template registry (read: a template's category, whether it may go) |
//! | `SEND_QUEUE_URL` | send-queue (deferrals go back on it) |
//! | `INBOUND_EVENTS_QUEUE_URL` | inbound-events (131050 opt-outs for consent-updater) |
//! | `CONTACT_HASH_KEY` or `_PARAM` | erasure tombstones' hash key |
//! | `WHATSAPP_ACCESS_TOKEN` or `_PARAM`, `WHATSAPP_PHONE_NUMBER_ID`, `GRAPH_API_BASE_URL`, `GRAPH_API_VERSION`, `GRAPH_API_TIMEOUT_MS` | the Graph API |
//! | `SEND_POLICY` | optional JSON `polite_domain::gate::Policy` (quiet hours, caps, blocks…); defaults in the README |
//! | `MARKETING_MESSAGES_API` | `enabled`: MARKETING templates go to `/marketing_messages` (falling back to `/messages` when Meta refuses them there); `disabled` (default): everything to `/messages` |
//! | `SENDER_MPS` | the business number's throughput, messages/s (default 80) |
//! | `SENDER_INSTANCES` | the event source's `MaximumConcurrency` (default 2): each instance paces to `SENDER_MPS ÷ SENDER_INSTANCES` |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::graph::GraphConfig;
use polite_adapters::secrets::{self, keys as secret};
use polite_adapters::tables::TableNames;
use polite_domain::gate::Policy;
use secrecy::SecretString;

/// The environment variable holding the sending policy.
pub const SEND_POLICY: &str = polite_adapters::config::keys::SEND_POLICY;
/// Whether MARKETING templates go through the Marketing Messages API.
pub const MARKETING_MESSAGES_API: &str = "MARKETING_MESSAGES_API";
/// Throughput of the business number.
pub const SENDER_MPS: &str = "SENDER_MPS";
/// Sender instances sharing it.
pub const SENDER_INSTANCES: &str = "SENDER_INSTANCES";

/// Everything message-sender needs to start.
#[derive(Debug)]
pub struct Config {
    pub tables: TableNames,
    pub templates_table: String,
    pub send_queue_url: String,
    pub inbound_queue_url: String,
    pub contact_hash_key: SecretString,
    pub graph: GraphConfig,
    /// The SSM parameter holding the access token (`WHATSAPP_ACCESS_TOKEN_PARAM`): read again
    /// when Meta refuses the token (a rotation); `None` locally.
    pub access_token_param: Option<String>,
    pub policy: Policy,
    /// MARKETING templates through the Marketing Messages API.
    pub marketing_messages_api: bool,
    /// This instance's pace, messages per second.
    pub per_instance_mps: f64,
}

impl Config {
    /// Reads the environment and the secrets, reporting every problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing or invalid value.
    pub async fn load<F: Fn(&str) -> Option<String>>(
        mut env: Env<F>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let tables = TableNames::from_env(&mut env);
        let templates_table = env.required(keys::TEMPLATES_TABLE);
        let send_queue_url = env.required(keys::SEND_QUEUE_URL);
        let inbound_queue_url = env.required(keys::INBOUND_EVENTS_QUEUE_URL);
        let policy = env.json(SEND_POLICY, Policy::default());
        let marketing_messages_api = env.switch(MARKETING_MESSAGES_API, false);
        let mps: f64 = env.parsed(SENDER_MPS, 80.0);
        let instances: u32 = env.parsed(SENDER_INSTANCES, 2);
        let graph = GraphConfig::from_env(&mut env, SecretString::default());
        let access_token_param = env
            .optional(&format!("{}{}", secret::WHATSAPP_ACCESS_TOKEN, secrets::PARAM_SUFFIX))
            .map(|n| n.trim().to_owned());
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY, secret::WHATSAPP_ACCESS_TOKEN]).await?;
        Ok(Config {
            tables,
            templates_table,
            send_queue_url,
            inbound_queue_url,
            contact_hash_key: secrets.take(secret::CONTACT_HASH_KEY)?,
            graph: GraphConfig { token: secrets.take(secret::WHATSAPP_ACCESS_TOKEN)?, ..graph },
            access_token_param,
            policy,
            marketing_messages_api,
            per_instance_mps: mps / f64::from(instances.max(1)),
        })
    }

    /// The sender on the SDK clients.
    ///
    /// # Errors
    /// When the Graph API client cannot be built (TLS set-up).
    pub fn sender(
        self,
        sdk: &aws_config::SdkConfig,
    ) -> anyhow::Result<
        polite_app::sending::Sender<
            polite_adapters::messages::DynamoMessages,
            polite_adapters::contacts::DynamoContacts,
            polite_adapters::queue::SqsQueue,
            polite_adapters::graph::GraphClient,
            polite_adapters::templates::DynamoTemplates,
        >,
    > {
        let (messages, contacts) = self.tables.open(sdk, &self.contact_hash_key);
        let templates =
            polite_adapters::templates::DynamoTemplates::new(aws_sdk_dynamodb::Client::new(sdk), self.templates_table);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(polite_app::sending::Sender {
            messages,
            contacts,
            send_queue: polite_adapters::queue::SqsQueue::new(sqs.clone(), self.send_queue_url),
            inbound: polite_adapters::queue::SqsQueue::new(sqs, self.inbound_queue_url),
            whatsapp: match self.access_token_param {
                Some(name) => polite_adapters::graph::GraphClient::new(self.graph)?
                    .with_token_from_ssm(aws_sdk_ssm::Client::new(sdk), name),
                None => polite_adapters::graph::GraphClient::new(self.graph)?,
            },
            templates,
            marketing_messages_api: self.marketing_messages_api,
            policy: self.policy,
            pacer: polite_app::sending::pacing::Pacer::new(self.per_instance_mps),
        })
    }
}
