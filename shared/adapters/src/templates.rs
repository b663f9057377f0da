//! The template registry on DynamoDB: one item per template, `pk = T#<name>#<language>`, the
//! [`TemplateRecord`] as attributes with a `version` each write is conditional on (two updates
//! of one template at once never lose one another); `pk = LOADED` records the last complete
//! load from Meta's list.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use jiff::Timestamp;
use polite_domain::ports::{StoreError, TemplateReader, TemplateStore};
use polite_domain::template::{TemplateKey, TemplateRecord, TemplateUpdate};
use serde::{Deserialize, Serialize};

use crate::dynamo::{Item, corrupt, get_consistent, n, put_plain, s, unavailable};

/// Attempts of the read–apply–write cycle under contention.
const ATTEMPTS: usize = 8;
const LOADED: &str = "LOADED";

/// The templates table.
#[derive(Debug, Clone)]
pub struct DynamoTemplates {
    client: Client,
    table: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct TemplateItem {
    pk: String,
    #[serde(flatten)]
    record: TemplateRecord,
    version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LoadedItem {
    pk: String,
    at: Timestamp,
}

fn pk(key: &TemplateKey) -> String {
    format!("T#{}#{}", key.name, key.language)
}

impl DynamoTemplates {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTemplates { client, table: table.into() }
    }

    /// The item under `pk`, strongly consistent.
    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        get_consistent(&self.client, &self.table, HashMap::from([("pk".to_owned(), s(pk))])).await
    }

    async fn read(&self, key: &TemplateKey) -> Result<Option<TemplateItem>, StoreError> {
        self.get(pk(key)).await?.map(|item| serde_dynamo::from_item(item).map_err(corrupt)).transpose()
    }
}

impl TemplateReader for DynamoTemplates {
    async fn template(&self, key: &TemplateKey) -> Result<Option<TemplateRecord>, StoreError> {
        Ok(self.read(key).await?.map(|item| item.record))
    }

    async fn loaded_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let loaded = self.get(LOADED.to_owned()).await?;
        Ok(loaded.map(serde_dynamo::from_item::<_, LoadedItem>).transpose().map_err(corrupt)?.map(|l| l.at))
    }
}

impl TemplateStore for DynamoTemplates {
    async fn apply_template(&self, update: &TemplateUpdate) -> Result<bool, StoreError> {
        for _ in 0..ATTEMPTS {
            let current = self.read(&update.key).await?;
            let version = current.as_ref().map_or(0, |c| c.version);
            let mut record = current.map_or_else(|| TemplateRecord::new(update.key.clone()), |c| c.record);
            let before = record.clone();
            let changed = record.apply(update);
            if record == before {
                return Ok(false);
            }
            let item = TemplateItem { pk: pk(&update.key), record, version: version + 1 };
            let item: Item = serde_dynamo::to_item(item).map_err(corrupt)?;
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            let put = if version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :read").expression_attribute_values(":read", n(&version))
            };
            match put.send().await {
                Ok(_) => return Ok(changed),
                Err(e) => {
                    let e = e.into_service_error();
                    if !e.is_conditional_check_failed_exception() {
                        return Err(unavailable(e));
                    }
                }
            }
        }
        Err(StoreError::Contended)
    }

    async fn templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            for item in page.items.unwrap_or_default() {
                if item.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("T#")) {
                    out.push(serde_dynamo::from_item::<_, TemplateItem>(item).map_err(corrupt)?.record);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn mark_loaded(&self, at: Timestamp) -> Result<(), StoreError> {
        let item: Item = serde_dynamo::to_item(LoadedItem { pk: LOADED.into(), at }).map_err(corrupt)?;
        put_plain(&self.client, &self.table, item).await
    }
}
