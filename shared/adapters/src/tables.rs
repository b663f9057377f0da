//! The messages and contacts tables as the functions that use both open them: names from the
//! environment, one DynamoDB client, the contacts' erasure-tombstone hash key from the secrets.

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{Env, keys};
use crate::contacts::DynamoContacts;
use crate::messages::DynamoMessages;

/// `MESSAGES_TABLE` and `CONTACTS_TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub messages: String,
    pub contacts: String,
}

impl TableNames {
    /// Reads both names (a missing one is reported with the rest of the configuration).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &mut Env<F>) -> Self {
        TableNames { messages: env.required(keys::MESSAGES_TABLE), contacts: env.required(keys::CONTACTS_TABLE) }
    }

    /// Both stores on one DynamoDB client built from `sdk`.
    pub fn open(
        self,
        sdk: &aws_config::SdkConfig,
        contact_hash_key: &SecretString,
    ) -> (DynamoMessages, DynamoContacts) {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let key = contact_hash_key.expose_secret().as_bytes();
        let contacts = DynamoContacts::new(dynamo.clone(), self.contacts, key);
        (DynamoMessages::new(dynamo, self.messages, key), contacts)
    }
}
