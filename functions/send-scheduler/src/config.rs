//! send-scheduler's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `MESSAGES_TABLE` | the messages table |
//! | `CONTACTS_TABLE` | the contacts table (read: the 24 h window of free-form text) |
//! | `SEND_QUEUE_URL` | send-queue |
//! | `CONTACT_HASH_KEY` or `CONTACT_HASH_KEY_PARAM` | the erasure tombstones' hash key (reading a contact checks its tombstone) |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::secrets::{self, keys as secret};
use secrecy::SecretString;

/// Everything send-scheduler needs to start.
#[derive(Debug)]
pub struct Config {
    pub messages_table: String,
    pub contacts_table: String,
    pub send_queue_url: String,
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
        let messages_table = env.required(keys::MESSAGES_TABLE);
        let contacts_table = env.required(keys::CONTACTS_TABLE);
        let send_queue_url = env.required(keys::SEND_QUEUE_URL);
        let mut secrets = secrets::finish(env, sdk, &[secret::CONTACT_HASH_KEY]).await?;
        let contact_hash_key = secrets.take(secret::CONTACT_HASH_KEY)?;
        Ok(Config { messages_table, contacts_table, send_queue_url, contact_hash_key })
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
        use secrecy::ExposeSecret as _;
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        crate::Scheduler {
            messages: polite_adapters::messages::DynamoMessages::new(dynamo.clone(), self.messages_table),
            contacts: polite_adapters::contacts::DynamoContacts::new(
                dynamo,
                self.contacts_table,
                self.contact_hash_key.expose_secret().as_bytes(),
            ),
            send_queue: polite_adapters::queue::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), self.send_queue_url),
        }
    }
}
