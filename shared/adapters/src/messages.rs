//! The messages table on DynamoDB (layout in `template.yaml`).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | message | `M#<id>` | `MSG` |
//! | idempotency key of a message / a campaign | `IDEM#<key>` / `IDEMC#<key>` | `IDEM` |
//! | campaign | `CAMP#<id>` | `CAMPAIGN` |
//! | campaign counter shard | `CAMP#<id>` | `COUNT#<0..15>` |
//! | campaign chunk waiting to fan out | `CAMP#<id>` | `CHUNK#<00000>` |
//! | export of a campaign's report | `CAMP#<id>` | `EXPORT#<export id>` |
//! | wamid → message id (written with the move that records the wamid) | `W#<wamid>` | `WAMID` |
//! | service messages priced in a number's month (the free allowance) | `USAGE#<number>/<YYYY-MM>` | `SERVICE` |
//!
//! Every state change is one transaction: the message's conditional update (`state` must
//! still be the state the decision was made on) and the campaign counters (`count_<from>`
//! −1, `count_<to>` +1), so counters move exactly once per real transition however often a
//! status is redelivered. The counters are split over [`COUNTER_SHARDS`] items (by message
//! id) so a campaign fanning out or sending at full speed does not make every transaction
//! conflict on one item; the campaign view sums them.
//!
//! Messages waiting for the tick (scheduled, or queued under a lease), chunks waiting to fan
//! out and exports with files to write carry `due_shard`/`due_at` (the sparse DueIndex); any
//! other move removes them.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use crate::dynamo::{
    Item, cancelled_conditions, corrupt, get_consistent, key, n, put_plain, put_unless_moved, query_all, s, transact,
    unavailable, update_unless_done,
};
use crate::outbox;
use jiff::Timestamp;
use polite_domain::campaign::{AUDIENCE_CHUNK, NewCampaign, Reader};
use polite_domain::campaign::{
    CampaignChunk, CampaignRecord, CampaignStatus, CampaignTally, PricedCount, StatusChange,
};
use polite_domain::events::Event;
use polite_domain::export::ExportJob;
use polite_domain::ids::stable_hash;
use polite_domain::message::{Due, TransitionDetails, due_shard};
use polite_domain::message::{HistoryEntry, MessageState, Transition};
use polite_domain::ports::{
    CampaignCompletion, CampaignStore, CreateError, DueIndex, ExportStore, MessageEraser, MessageIntake, MessageMoves,
    MessageReader, StatusLedger, StoreError,
};
use polite_domain::pricing::{CostEstimate, Money, PricingRecord};
use polite_domain::record::MessageRecord;
use polite_domain::record::{MessagePage, Moved, NewMessage};
use polite_domain::status::StatusUpdate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MSG: &str = "MSG";

/// The index of a campaign's messages (`campaign_id`, `id`), for its per-recipient report.
pub const CAMPAIGN_INDEX: &str = "CampaignIndex";
/// The table's TTL attribute (epoch seconds; a message's own `expires_at` is its send deadline).
const TTL_ATTRIBUTE: &str = "ttl";

/// States whose messages may sit in the due index: those not yet handed to the sender (the
/// tick releases a scheduled one, re-queues a queued or deferred one whose lease ran out).
fn holds_due(state: MessageState) -> bool {
    state.is_cancellable()
}
/// Retries of the read–decide–write cycle when the message changed concurrently.
const ATTEMPTS: usize = 8;
/// How long an idempotency key is remembered (DynamoDB TTL on `ttl`, epoch seconds).
const IDEMPOTENCY_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// How long a wamid finds its message (TTL): Meta retries a status webhook for 7 days, and a
/// message is read within weeks if ever.
const WAMID_TTL_SECONDS: i64 = 60 * 24 * 3600;

/// The messages table.
#[derive(Clone)]
pub struct DynamoMessages {
    client: Client,
    table: String,
    /// Keys the hashes that stand for phone numbers here: the person index (`P#`) and
    /// idempotency keys (a campaign keys its messages by recipient).
    hash_key: Vec<u8>,
}

impl std::fmt::Debug for DynamoMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoMessages").field("table", &self.table).finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct MessageItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: MessageRecord,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    /// The message (or campaign) the key created.
    id: String,
    body_hash: String,
    ttl: i64,
}

fn msg_pk(id: &str) -> String {
    format!("M#{id}")
}

fn msg_key(id: &str) -> Item {
    key(msg_pk(id), MSG)
}

/// Campaign counter items per campaign.
pub const COUNTER_SHARDS: u64 = 16;

fn campaign_pk(id: &str) -> String {
    format!("CAMP#{id}")
}

fn campaign_key(id: &str) -> Item {
    key(campaign_pk(id), "CAMPAIGN")
}

/// The counter shard a message counts in (stable: every move of a message hits one item).
fn counter_key(campaign: &str, message_id: &str) -> Item {
    key(campaign_pk(campaign), &format!("COUNT#{}", stable_hash(message_id) % COUNTER_SHARDS))
}

fn export_sk(export_id: &str) -> String {
    format!("EXPORT#{export_id}")
}

fn chunk_sk(index: u32) -> String {
    format!("CHUNK#{index:05}")
}

fn wamid_pk(wamid: &str) -> String {
    format!("W#{wamid}")
}

#[derive(Debug, Serialize, Deserialize)]
struct WamidItem {
    pk: String,
    sk: String,
    message_id: String,
    ttl: i64,
}

/// One of a person's messages, in the person's partition (`P#<keyed hash of the number>`,
/// sort key `M#<id>`): what erasure reads to find them all, strongly consistent.
#[derive(Debug, Serialize, Deserialize)]
struct PersonMessageItem {
    pk: String,
    sk: String,
    message_id: String,
}

fn campaign_idem_pk(idempotency_key: &str) -> String {
    format!("IDEMC#{idempotency_key}")
}

/// Fixed-width UTC seconds, so the due index's string sort key sorts by time.
fn due_key(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn counter(state: MessageState) -> String {
    format!("count_{}", state.as_str())
}

impl DynamoMessages {
    /// The table `table` on a client built once at init.
    pub fn new(client: Client, table: impl Into<String>, hash_key: &[u8]) -> Self {
        Self { client, table: table.into(), hash_key: hash_key.to_vec() }
    }

    /// The partition of a person's messages: a keyed hash, never the number.
    fn person_pk(&self, to: &polite_domain::ContactRef) -> String {
        format!("P#{}", to.keyed_hash(&self.hash_key))
    }

    /// An idempotency key's item, keyed by a hash of the key: a campaign keys its messages by
    /// recipient (`<campaign>:<number>`), and the table must not name the number.
    fn idem_pk(&self, idempotency_key: &str) -> String {
        format!("IDEM#{}", polite_domain::ids::keyed_hash(&self.hash_key, idempotency_key))
    }

    /// Forgets one message of an erased person: a waiting one is suppressed first (reason
    /// `erased`, so the campaign's counts move as for any suppression), then its wamid
    /// lookups and the message itself are deleted. `false` when it is `sending` (Meta may
    /// be taking it this instant: statuses settle it, and the next erasure takes it).
    async fn forget(&self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(record) = self.read(id).await? else { return Ok(true) };
            if record.state == MessageState::Sending {
                return Ok(false);
            }
            if record.state.is_waiting() {
                let details = TransitionDetails { reason: Some("erased".into()), ..TransitionDetails::default() };
                if let Moved::No(_) = self.transition_from(&record, MessageState::Suppressed, at, details).await? {
                    continue;
                }
            }
            for wamid in record.wamid.iter().chain(&record.refused_wamids) {
                self.delete(key(wamid_pk(wamid), "WAMID")).await?;
            }
            self.delete(msg_key(id)).await?;
            return Ok(true);
        }
        Err(StoreError::Contended)
    }

    async fn delete(&self, key: Item) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    /// `ADD` to counters on the item under `key` (a campaign's counter shard, an allowance).
    fn add_update(&self, key: Item, adds: &[(String, i64)]) -> Result<Update, StoreError> {
        let mut b = Update::builder().table_name(&self.table).set_key(Some(key));
        let mut expr = Vec::new();
        for (i, (name, delta)) in adds.iter().enumerate() {
            expr.push(format!("#c{i} :d{i}"));
            b = b
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":d{i}"), n(delta));
        }
        b.update_expression(format!("ADD {}", expr.join(", "))).build().map_err(unavailable)
    }

    async fn read(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        let item = get_consistent(&self.client, &self.table, msg_key(id)).await?;
        item.map(|i| serde_dynamo::from_item::<_, MessageItem>(i).map(|m| m.record).map_err(corrupt)).transpose()
    }

    /// The conditional update of the message for a move `from → record.state`.
    fn state_update(
        &self,
        from: MessageState,
        next: &MessageRecord,
        entry: &HistoryEntry,
        records_pricing: bool,
    ) -> Result<Update, StoreError> {
        // Pricing counts once: only the write that records it first may pass.
        let condition =
            if records_pricing { "#state = :from AND attribute_not_exists(#pricing)" } else { "#state = :from" };
        // The category moves with the state: the sender may have found the template registry's
        // category governs (and keeps the caller's as `requested_category`).
        let mut sets = vec![
            "#state = :to".to_owned(),
            "#history = list_append(#history, :entry)".to_owned(),
            "#category = :category".to_owned(),
        ];
        let mut removes = Vec::new();
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(msg_key(&next.id)))
            .condition_expression(condition)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#history", "history")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(next.state.as_str()))
            .expression_attribute_names("#category", "category")
            .expression_attribute_values(":category", s(next.category.as_str()))
            .expression_attribute_values(":entry", serde_dynamo::to_attribute_value(vec![entry]).map_err(corrupt)?);
        // The due index holds only messages waiting for the tick (scheduled, or queued under
        // a lease): any other move removes them.
        let due = next.due_at.filter(|_| holds_due(next.state));
        let refused = (!next.refused_wamids.is_empty()).then(|| next.refused_wamids.iter().cloned().map(s).collect());
        let optional: [(&str, Option<AttributeValue>); 10] = [
            ("reason", next.reason.clone().map(s)),
            ("requested_category", next.requested_category.map(|c| s(c.as_str()))),
            ("not_before", next.not_before.map(|t| s(t.to_string()))),
            ("wamid", next.wamid.clone().map(s)),
            ("error", next.error.as_ref().map(serde_dynamo::to_attribute_value).transpose().map_err(corrupt)?),
            ("pricing", next.pricing.as_ref().map(serde_dynamo::to_attribute_value).transpose().map_err(corrupt)?),
            (
                "estimated_cost",
                next.estimated_cost.as_ref().map(serde_dynamo::to_attribute_value).transpose().map_err(corrupt)?,
            ),
            ("due_shard", due.map(|_| s(due_shard(&next.id).to_string()))),
            ("due_at", due.map(|t| s(due_key(t)))),
            ("refused_wamids", refused.map(AttributeValue::L)),
        ];
        for (attr, value) in optional {
            b = b.expression_attribute_names(format!("#{attr}"), attr);
            match value {
                Some(v) => {
                    sets.push(format!("#{attr} = :{attr}"));
                    b = b.expression_attribute_values(format!(":{attr}"), v);
                }
                None => removes.push(format!("#{attr}")),
            }
        }
        let remove = if removes.is_empty() { String::new() } else { format!(" REMOVE {}", removes.join(", ")) };
        let expr = format!("SET {}{remove}", sets.join(", "));
        b.update_expression(expr).build().map_err(unavailable)
    }

    /// Writes `from → next` with its history entry and the campaign counters; `Ok(false)` when
    /// the message was no longer in `from`.
    async fn write_move(
        &self,
        from: MessageState,
        next: &MessageRecord,
        entry: &HistoryEntry,
        new_wamid: Option<&str>,
        priced: Option<&StatusUpdate>,
    ) -> Result<bool, StoreError> {
        let update = self.state_update(from, next, entry, priced.is_some())?;
        // A move to the same state (a re-queue) changes no count.
        let mut adds = Vec::new();
        if from != next.state {
            adds.extend([(counter(next.state), 1), (counter(from), -1)]);
        }
        let mut items = self.with_companions(update, next, new_wamid, priced, adds)?;
        if from != next.state
            && let Some(event) = Event::of_move(next, entry)
        {
            // Told in the move's own transaction: published if and only if it moved.
            items.push(outbox::put(&self.table, TTL_ATTRIBUTE, &event, entry.at)?);
        }
        self.transact_on_message(items).await
    }

    /// A message's conditional update (first, for [`Self::transact_on_message`]) with what it
    /// carries along: the wamid lookup for a newly recorded wamid (statuses without callback
    /// data find the message by it), on the campaign's counter shard `adds` plus the counters
    /// of a first pricing (`priced`, the status that brings it), and the service allowance
    /// that pricing draws on.
    fn with_companions(
        &self,
        update: Update,
        next: &MessageRecord,
        new_wamid: Option<&str>,
        priced: Option<&StatusUpdate>,
        mut adds: Vec<(String, i64)>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(wamid) = new_wamid {
            let at = next.history.last().map_or(next.created_at, |h| h.at);
            items.push(self.wamid_put(wamid, &next.id, at)?);
        }
        if let Some(pricing) = next.pricing.as_ref().filter(|_| priced.is_some()) {
            adds.extend(pricing_counters(pricing, next.estimated_cost.as_ref()));
        }
        if let Some(c) = next.campaign_id.as_ref().filter(|_| !adds.is_empty()) {
            let shard = self.add_update(counter_key(c, &next.id), &adds)?;
            items.push(TransactWriteItem::builder().update(shard).build());
        }
        if let Some(allowance) = priced.and_then(|u| u.allowance.as_deref()) {
            let usage = self.add_update(key(usage_pk(allowance), USAGE_SK), &[(USAGE_COUNT.to_owned(), 1)])?;
            items.push(TransactWriteItem::builder().update(usage).build());
        }
        Ok(items)
    }
}

impl MessageIntake for DynamoMessages {
    async fn create(&self, new: &NewMessage) -> Result<MessageRecord, CreateError> {
        let record = &new.record;
        let mut item: Item =
            serde_dynamo::to_item(MessageItem { pk: msg_pk(&record.id), sk: MSG.into(), record: record.clone() })
                .map_err(corrupt)?;
        if let Some(due) = record.due_at.filter(|_| holds_due(record.state)) {
            item.insert("due_shard".into(), s(due_shard(&record.id).to_string()));
            item.insert("due_at".into(), s(due_key(due)));
        }
        let person =
            PersonMessageItem { pk: self.person_pk(&record.to), sk: msg_pk(&record.id), message_id: record.id.clone() };
        let person = serde_dynamo::to_item(person).map_err(corrupt)?;
        let mut items = vec![conditional_put(&self.table, item)?, conditional_put(&self.table, person)?];
        if let Some(key) = &new.idempotency_key {
            items.push(idempotency_put(&self.table, self.idem_pk(key), &record.id, &new.body_hash, record.created_at)?);
        }
        if let Some(c) = &record.campaign_id {
            items.push(
                TransactWriteItem::builder()
                    .update(self.add_update(counter_key(c, &record.id), &[(counter(record.state), 1)])?)
                    .build(),
            );
        }
        // A message created settled (suppressed by the gate, already expired) is told too.
        if let Some(entry) = record.history.last()
            && let Some(event) = Event::of_move(record, entry)
        {
            items.push(outbox::put(&self.table, TTL_ATTRIBUTE, &event, entry.at)?);
        }
        match transact(&self.client, items).await {
            Ok(()) => Ok(record.clone()),
            Err(e) => match (cancelled_conditions(&e).as_deref(), &new.idempotency_key) {
                (Some([_, _, true, ..]), Some(key)) => {
                    let id = self.replayed(self.idem_pk(key), &new.body_hash).await?;
                    Ok(self.read(&id).await?.ok_or_else(|| corrupt("idempotency record points at no message"))?)
                }
                _ => Err(unavailable(e.into_service_error()).into()),
            },
        }
    }

    async fn replay(&self, idempotency_key: &str, body_hash: &str) -> Result<Option<MessageRecord>, CreateError> {
        let Some(id) = self.key_owner(self.idem_pk(idempotency_key), body_hash).await? else { return Ok(None) };
        Ok(Some(self.read(&id).await?.ok_or_else(|| corrupt("idempotency record points at no message"))?))
    }
}

impl MessageReader for DynamoMessages {
    async fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        self.read(id).await
    }

    async fn campaign_tally(&self, campaign_id: &str) -> Result<CampaignTally, StoreError> {
        let shards = self.counter_shards(campaign_id).await?;
        let states = MessageState::ALL
            .iter()
            .map(|state| Ok((*state, sum_counter(&shards, &counter(*state))?)))
            .collect::<Result<_, StoreError>>()?;
        let pricing = pricing_tally(&shards)?;
        Ok(CampaignTally { states, pricing })
    }

    async fn allowance_used(&self, allowance: &str) -> Result<u64, StoreError> {
        let item = get_consistent(&self.client, &self.table, key(usage_pk(allowance), USAGE_SK)).await?;
        let used = sum_counter(item.as_slice(), USAGE_COUNT)?;
        u64::try_from(used).map_err(corrupt)
    }

    /// The campaign index (`campaign_id`, `id`: every message item with a campaign, sparse)
    /// read page by page, the state filtered on DynamoDB's side, until `limit` are found.
    async fn campaign_messages(
        &self,
        campaign_id: &str,
        state: Option<MessageState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        let limit = limit.max(1);
        let mut messages = Vec::with_capacity(limit);
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CAMPAIGN_INDEX)
                .expression_attribute_names("#c", "campaign_id")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":c", s(campaign_id))
                .expression_attribute_values(":msg", s(MSG))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit.saturating_mul(2)).unwrap_or(i32::MAX).min(1_000));
            let mut keys = "#c = :c".to_owned();
            if let Some(after) = after {
                keys.push_str(" AND #id > :after");
                query = query.expression_attribute_names("#id", "id").expression_attribute_values(":after", s(after));
            }
            let mut filter = "#sk = :msg".to_owned();
            if let Some(state) = state {
                filter.push_str(" AND #st = :st");
                query = query
                    .expression_attribute_names("#st", "state")
                    .expression_attribute_values(":st", s(state.as_str()));
            }
            let out = query
                .key_condition_expression(keys)
                .filter_expression(filter)
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
            let items = out.items.unwrap_or_default();
            let count = items.len();
            for (i, item) in items.into_iter().enumerate() {
                let record = serde_dynamo::from_item::<_, MessageItem>(item).map_err(corrupt)?.record;
                messages.push(record);
                if messages.len() == limit {
                    let rest = i + 1 < count || more;
                    let next = if rest { messages.last().map(|m| m.id.clone()) } else { None };
                    return Ok(MessagePage { messages, next });
                }
            }
            if !more {
                return Ok(MessagePage { messages, next: None });
            }
            start = out.last_evaluated_key;
        }
    }

    async fn campaign_status(&self, campaign_id: &str) -> Result<Option<CampaignStatus>, StoreError> {
        Ok(self.read_campaign(campaign_id).await?.map(|c| c.status))
    }
}

impl MessageMoves for DynamoMessages {
    async fn transition(
        &self,
        id: &str,
        from: &[MessageState],
        to: MessageState,
        at: Timestamp,
        details: TransitionDetails,
    ) -> Result<Moved, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.read(id).await? else { return Ok(Moved::No(None)) };
            if !from.contains(&current.state) {
                return Ok(Moved::No(Some(current.state)));
            }
            let (next, entry) = current.moved(to, at, &details);
            if self.write_move(current.state, &next, &entry, details.wamid.as_deref(), None).await? {
                return Ok(Moved::Yes(Box::new(next)));
            }
        }
        Err(StoreError::Contended)
    }

    async fn transition_from(
        &self,
        current: &MessageRecord,
        to: MessageState,
        at: Timestamp,
        details: TransitionDetails,
    ) -> Result<Moved, StoreError> {
        let (next, entry) = current.moved(to, at, &details);
        if self.write_move(current.state, &next, &entry, details.wamid.as_deref(), None).await? {
            return Ok(Moved::Yes(Box::new(next)));
        }
        Ok(Moved::No(self.read(&current.id).await?.map(|r| r.state)))
    }
}

impl StatusLedger for DynamoMessages {
    async fn apply_status(&self, id: &str, update: &StatusUpdate) -> Result<Option<Transition>, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.read(id).await? else { return Ok(None) };
            let o = match polite_domain::status::outcome(&current, update) {
                Ok(o) => o,
                Err(answer) => return Ok(Some(answer)),
            };
            let priced = o.priced.then_some(update);
            let written = if matches!(o.transition, Transition::Moved { .. }) {
                self.write_move(current.state, &o.next, &o.entry, o.new_wamid.as_deref(), priced).await?
            } else {
                self.write_unmoved(&o.next, o.fresh.then_some(&o.entry), o.new_wamid.as_deref(), priced).await?
            };
            if written {
                return Ok(Some(o.transition));
            }
        }
        Err(StoreError::Contended)
    }

    async fn message_for_wamid(&self, wamid: &str) -> Result<Option<String>, StoreError> {
        let item = get_consistent(&self.client, &self.table, key(wamid_pk(wamid), "WAMID")).await?;
        item.map(|i| serde_dynamo::from_item::<_, WamidItem>(i).map(|w| w.message_id).map_err(corrupt)).transpose()
    }
}

impl DueIndex for DynamoMessages {
    async fn due(&self, shard: u8, now: Timestamp, limit: i32) -> Result<Vec<Due>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("DueIndex")
            .key_condition_expression("due_shard = :shard AND due_at <= :now")
            .expression_attribute_values(":shard", s(shard.to_string()))
            .expression_attribute_values(":now", s(due_key(now)))
            .limit(limit)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out.items().iter().filter_map(due_of).collect())
    }

    async fn set_aside(&self, id: &str, until: Timestamp) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(msg_key(id)))
            .update_expression("SET due_at = :until")
            .condition_expression("attribute_exists(due_at)")
            .expression_attribute_values(":until", s(due_key(until)));
        // Not in the due index any more: nothing to set aside.
        update_unless_done(update).await.map(|_| ())
    }
}

impl MessageEraser for DynamoMessages {
    async fn erase_person(&self, contact: &polite_domain::ContactRef, at: Timestamp) -> Result<usize, StoreError> {
        let person = self.person_pk(contact);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(person.clone()));
        let mut in_flight = 0;
        for item in query_all(query).await? {
            let entry: PersonMessageItem = serde_dynamo::from_item(item).map_err(corrupt)?;
            if self.forget(&entry.message_id, at).await? {
                self.delete(key(person.clone(), &entry.sk)).await?;
            } else {
                in_flight += 1;
            }
        }
        Ok(in_flight)
    }
}

/// A counter summed over a campaign's shards.
fn sum_counter(shards: &[Item], name: &str) -> Result<i64, StoreError> {
    shards.iter().try_fold(0, |sum, item| match item.get(name) {
        Some(AttributeValue::N(v)) => Ok(sum + v.parse::<i64>().map_err(corrupt)?),
        _ => Ok(sum),
    })
}

/// The campaign counters a message's pricing adds to, per Meta category `<c>`:
/// `pricing#<c>#priced`, `pricing#<c>#billable` when Meta charges it,
/// `pricing#<c>#type#<type>`, and with an estimate `pricing#<c>#estimated` and
/// `pricing#<c>#cost#<currency>` (millionths). Meta's strings are kept but for `#`, the
/// separator.
fn pricing_counters(pricing: &PricingRecord, estimate: Option<&CostEstimate>) -> Vec<(String, i64)> {
    let category = pricing.category().replace('#', "_");
    let kind = pricing.kind().replace('#', "_");
    let mut adds = vec![(format!("{PRICING}{category}#priced"), 1), (format!("{PRICING}{category}#{TYPE}{kind}"), 1)];
    if pricing.billable() {
        adds.push((format!("{PRICING}{category}#billable"), 1));
    }
    if let Some(estimate) = estimate {
        adds.push((format!("{PRICING}{category}#estimated"), 1));
        let currency = estimate.currency.replace('#', "_");
        adds.push((format!("{PRICING}{category}#{COST}{currency}"), estimate.amount.micros()));
    }
    adds
}

/// The prefix of pricing counters, and the infix of the per-type ones.
const PRICING: &str = "pricing#";
const TYPE: &str = "type#";
const COST: &str = "cost#";

/// The pricing counters of a campaign's shards, by category.
fn pricing_tally(shards: &[Item]) -> Result<BTreeMap<String, PricedCount>, StoreError> {
    let mut tally: BTreeMap<String, PricedCount> = BTreeMap::new();
    for item in shards {
        for (name, value) in item {
            let Some((category, counter)) = name.strip_prefix(PRICING).and_then(|rest| rest.split_once('#')) else {
                continue;
            };
            let AttributeValue::N(v) = value else { continue };
            let v: i64 = v.parse().map_err(corrupt)?;
            let count = tally.entry(category.to_owned()).or_default();
            match counter {
                "priced" => count.priced += v,
                "billable" => count.billable += v,
                "estimated" => count.estimated += v,
                other => {
                    if let Some(kind) = other.strip_prefix(TYPE) {
                        *count.types.entry(kind.to_owned()).or_default() += v;
                    } else if let Some(currency) = other.strip_prefix(COST) {
                        *count.estimated_cost.entry(currency.to_owned()).or_default() += Money::from_micros(v);
                    }
                }
            }
        }
    }
    Ok(tally)
}

fn usage_pk(allowance: &str) -> String {
    format!("USAGE#{allowance}")
}

const USAGE_SK: &str = "SERVICE";
const USAGE_COUNT: &str = "count";

/// A due-index entry: a message (`M#<id>`), a campaign chunk (`CAMP#<id>` / `CHUNK#<n>`) or
/// an export (`CAMP#<id>` / `EXPORT#<id>`).
fn due_of(item: &Item) -> Option<Due> {
    let pk = item.get("pk")?.as_s().ok()?;
    if let Some(id) = pk.strip_prefix("M#") {
        return Some(Due::Message(id.to_owned()));
    }
    let campaign_id = pk.strip_prefix("CAMP#")?.to_owned();
    let sk = item.get("sk")?.as_s().ok()?;
    if let Some(export_id) = sk.strip_prefix("EXPORT#") {
        return Some(Due::Export { campaign_id, export_id: export_id.to_owned() });
    }
    let index = sk.strip_prefix("CHUNK#")?.parse().ok()?;
    Some(Due::Chunk { campaign_id, index })
}

/// An export's item: the job, on the due index while it has files to write.
#[derive(Debug, Serialize, Deserialize)]
struct ExportItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    job: ExportJob,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_at: Option<String>,
}

impl ExportItem {
    /// `job`'s item, due at `due` unless it is done.
    fn of(job: &ExportJob, due: Timestamp) -> Self {
        let pending = !job.done;
        ExportItem {
            pk: campaign_pk(&job.campaign_id),
            sk: export_sk(&job.id),
            job: job.clone(),
            due_shard: pending.then(|| due_shard(&format!("{}#{}", job.campaign_id, job.id)).to_string()),
            due_at: pending.then(|| due_key(due)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CampaignItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: CampaignRecord,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChunkItem {
    pk: String,
    sk: String,
    campaign: CampaignRecord,
    #[serde(flatten)]
    chunk: CampaignChunk,
    due_shard: String,
    due_at: String,
}

impl ChunkItem {
    /// The item of `campaign`'s `chunk`, due at `due`.
    fn of(campaign: &CampaignRecord, chunk: &CampaignChunk, due: Timestamp) -> ChunkItem {
        ChunkItem {
            pk: campaign_pk(&campaign.id),
            sk: chunk_sk(chunk.index),
            campaign: campaign.clone(),
            chunk: chunk.clone(),
            due_shard: due_shard(&format!("{}#{}", campaign.id, chunk.index)).to_string(),
            due_at: due_key(due),
        }
    }
}

impl DynamoMessages {
    /// Claims the due-index item under `key` (a campaign chunk, an export) until
    /// `lease_until` if it is due at `now`: the item as it is then, or `None` when it is not
    /// due (claimed by another, done, unknown).
    async fn claim_due<T: serde::de::DeserializeOwned>(
        &self,
        key: Item,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<T>, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET due_at = :lease")
            .condition_expression("due_at <= :now")
            .expression_attribute_values(":now", s(due_key(now)))
            .expression_attribute_values(":lease", s(due_key(lease_until)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match claimed {
            Ok(out) => Ok(Some(serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(corrupt)?)),
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    /// Records a status that moves no state (stale, or not in the lattice): its history
    /// entry, and a wamid or first pricing it brings. `Ok(false)` when the message changed
    /// meanwhile (decide again).
    async fn write_unmoved(
        &self,
        next: &MessageRecord,
        entry: Option<&HistoryEntry>,
        new_wamid: Option<&str>,
        priced: Option<&StatusUpdate>,
    ) -> Result<bool, StoreError> {
        let mut sets = Vec::new();
        let mut conditions = vec!["#state = :state".to_owned()];
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(msg_key(&next.id)))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(next.state.as_str()));
        if let Some(entry) = entry {
            sets.push("#history = list_append(#history, :entry)");
            b = b
                .expression_attribute_names("#history", "history")
                .expression_attribute_values(":entry", serde_dynamo::to_attribute_value(vec![entry]).map_err(corrupt)?);
        }
        if let Some(wamid) = new_wamid {
            sets.push("#wamid = :wamid");
            conditions.push("attribute_not_exists(#wamid)".into());
            b = b.expression_attribute_names("#wamid", "wamid").expression_attribute_values(":wamid", s(wamid));
        }
        if let Some(pricing) = next.pricing.as_ref().filter(|_| priced.is_some()) {
            sets.push("#pricing = :pricing");
            conditions.push("attribute_not_exists(#pricing)".into());
            b = b
                .expression_attribute_names("#pricing", "pricing")
                .expression_attribute_values(":pricing", serde_dynamo::to_attribute_value(pricing).map_err(corrupt)?);
            if let Some(estimate) = &next.estimated_cost {
                sets.push("#estimated_cost = :estimated_cost");
                b = b.expression_attribute_names("#estimated_cost", "estimated_cost").expression_attribute_values(
                    ":estimated_cost",
                    serde_dynamo::to_attribute_value(estimate).map_err(corrupt)?,
                );
            }
        }
        let update = b
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .build()
            .map_err(unavailable)?;
        let items = self.with_companions(update, next, new_wamid, priced, Vec::new())?;
        self.transact_on_message(items).await
    }

    fn wamid_put(&self, wamid: &str, message_id: &str, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let item = WamidItem {
            pk: wamid_pk(wamid),
            sk: "WAMID".into(),
            message_id: message_id.to_owned(),
            ttl: at.as_second() + WAMID_TTL_SECONDS,
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
            .build()
            .map_err(unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Every counter shard of a campaign, read consistently.
    async fn counter_shards(&self, campaign_id: &str) -> Result<Vec<Item>, StoreError> {
        query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :count)")
                .expression_attribute_values(":pk", s(campaign_pk(campaign_id)))
                .expression_attribute_values(":count", s("COUNT#")),
        )
        .await
    }

    /// The id an existing idempotency key (`pk`) created, when the body is the same: the same
    /// request again. Another body → conflict.
    async fn replayed(&self, pk: String, body_hash: &str) -> Result<String, CreateError> {
        self.key_owner(pk, body_hash).await?.ok_or_else(|| corrupt("idempotency record vanished").into())
    }

    /// What an idempotency key created (`None`: the key is new); a conflict when the key came
    /// with another body.
    async fn key_owner(&self, pk: String, body_hash: &str) -> Result<Option<String>, CreateError> {
        let Some(found) = get_consistent(&self.client, &self.table, key(pk, "IDEM")).await? else { return Ok(None) };
        let stored: IdempotencyItem = serde_dynamo::from_item(found).map_err(corrupt)?;
        if stored.body_hash != body_hash {
            return Err(CreateError::IdempotencyConflict);
        }
        Ok(Some(stored.id))
    }

    /// Sends a transaction whose first item is the message's conditional update: `Ok(false)`
    /// when that condition failed (the message moved meanwhile; decide again).
    async fn transact_on_message(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match transact(&self.client, items).await {
            Ok(()) => Ok(true),
            Err(e) if cancelled_conditions(&e).is_some_and(|c| c.first() == Some(&true)) => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn read_campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        let item = get_consistent(&self.client, &self.table, campaign_key(id)).await?;
        item.map(|i| serde_dynamo::from_item::<_, CampaignItem>(i).map(|c| c.record).map_err(corrupt)).transpose()
    }
}

impl ExportStore for DynamoMessages {
    async fn create_export(&self, job: &ExportJob) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(ExportItem::of(job, job.created_at)).map_err(corrupt)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn export(&self, campaign_id: &str, export_id: &str) -> Result<Option<ExportJob>, StoreError> {
        let item =
            get_consistent(&self.client, &self.table, key(campaign_pk(campaign_id), &export_sk(export_id))).await?;
        item.map(|i| serde_dynamo::from_item::<_, ExportItem>(i).map(|e| e.job).map_err(corrupt)).transpose()
    }

    async fn claim_export(
        &self,
        campaign_id: &str,
        export_id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ExportJob>, StoreError> {
        let item: Option<ExportItem> =
            self.claim_due(key(campaign_pk(campaign_id), &export_sk(export_id)), now, lease_until).await?;
        Ok(item.map(|i| i.job))
    }

    /// The whole item is replaced, on condition that it is still at `from`'s stage: a done
    /// export's item has no due-index attributes.
    async fn advance_export(&self, from: &ExportJob, to: &ExportJob, due: Timestamp) -> Result<bool, StoreError> {
        let item = serde_dynamo::to_item(ExportItem::of(to, due)).map_err(corrupt)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("files = :files AND all_files = :all AND done = :done")
            .expression_attribute_values(":files", n(&from.files))
            .expression_attribute_values(":all", AttributeValue::Bool(from.all_files))
            .expression_attribute_values(":done", AttributeValue::Bool(from.done));
        put_unless_moved(put).await
    }
}

impl CampaignStore for DynamoMessages {
    async fn create_campaign(&self, new: &NewCampaign) -> Result<CampaignRecord, CreateError> {
        let record = &new.record;
        let pk = campaign_pk(&record.id);
        let campaign = CampaignItem { pk: pk.clone(), sk: "CAMPAIGN".into(), record: record.clone() };
        let mut items = vec![conditional_put(&self.table, serde_dynamo::to_item(campaign).map_err(corrupt)?)?];
        if let Some(k) = &new.idempotency_key {
            items.push(idempotency_put(
                &self.table,
                campaign_idem_pk(k),
                &record.id,
                &new.body_hash,
                record.created_at,
            )?);
        }
        for chunk in &new.chunks {
            let item = ChunkItem::of(record, chunk, record.created_at);
            items.push(conditional_put(&self.table, serde_dynamo::to_item(item).map_err(corrupt)?)?);
        }
        match transact(&self.client, items).await {
            Ok(()) => Ok(record.clone()),
            Err(e) => match (cancelled_conditions(&e).as_deref(), &new.idempotency_key) {
                (Some([_, true, ..]), Some(k)) => {
                    let id = self.replayed(campaign_idem_pk(k), &new.body_hash).await?;
                    Ok(self
                        .read_campaign(&id)
                        .await?
                        .ok_or_else(|| corrupt("idempotency record points at no campaign"))?)
                }
                _ => Err(unavailable(e.into_service_error()).into()),
            },
        }
    }

    async fn campaign_replay(
        &self,
        idempotency_key: &str,
        body_hash: &str,
    ) -> Result<Option<CampaignRecord>, CreateError> {
        let Some(id) = self.key_owner(campaign_idem_pk(idempotency_key), body_hash).await? else { return Ok(None) };
        Ok(Some(self.read_campaign(&id).await?.ok_or_else(|| corrupt("idempotency record points at no campaign"))?))
    }

    async fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        self.read_campaign(id).await
    }

    async fn claim_chunk(
        &self,
        campaign_id: &str,
        index: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<(CampaignRecord, CampaignChunk)>, StoreError> {
        let item: Option<ChunkItem> =
            self.claim_due(key(campaign_pk(campaign_id), &chunk_sk(index)), now, lease_until).await?;
        Ok(item.map(|i| (i.campaign, i.chunk)))
    }

    async fn finish_chunk(&self, campaign_id: &str, index: u32) -> Result<(), StoreError> {
        self.delete(key(campaign_pk(campaign_id), &chunk_sk(index))).await
    }

    async fn schedule_chunk(
        &self,
        campaign: &CampaignRecord,
        chunk: &CampaignChunk,
        due: Timestamp,
    ) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(ChunkItem::of(campaign, chunk, due)).map_err(corrupt)?;
        put_plain(&self.client, &self.table, item).await
    }

    async fn advance_reader(
        &self,
        campaign_id: &str,
        from: &Reader,
        to: &Reader,
        due: Timestamp,
    ) -> Result<bool, StoreError> {
        let chunk = key(campaign_pk(campaign_id), &chunk_sk(AUDIENCE_CHUNK));
        let was = serde_dynamo::to_attribute_value(from).map_err(corrupt)?;
        let reader = if to.cursor.done {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(chunk))
                .condition_expression("#reader = :from")
                .expression_attribute_names("#reader", "reader")
                .expression_attribute_values(":from", was)
                .build()
                .map_err(unavailable)?;
            TransactWriteItem::builder().delete(delete).build()
        } else {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(chunk))
                .update_expression("SET #reader = :to, due_at = :due")
                .condition_expression("#reader = :from")
                .expression_attribute_names("#reader", "reader")
                .expression_attribute_values(":from", was)
                .expression_attribute_values(":to", serde_dynamo::to_attribute_value(to).map_err(corrupt)?)
                .expression_attribute_values(":due", s(due_key(due)))
                .build()
                .map_err(unavailable)?;
            TransactWriteItem::builder().update(update).build()
        };
        let progress = Update::builder()
            .table_name(&self.table)
            .set_key(Some(campaign_key(campaign_id)))
            .update_expression(
                "SET accepted = :accepted, rejected = :rejected, #audience.#read = :read, #audience.#done = :done",
            )
            .condition_expression("attribute_exists(#audience)")
            .expression_attribute_names("#audience", "audience")
            .expression_attribute_names("#read", "read")
            .expression_attribute_names("#done", "done")
            .expression_attribute_values(":accepted", n(&to.accepted))
            .expression_attribute_values(":rejected", n(&to.rejected))
            .expression_attribute_values(":read", n(&to.cursor.lines))
            .expression_attribute_values(":done", AttributeValue::Bool(to.cursor.done))
            .build()
            .map_err(unavailable)?;
        self.transact_on_message(vec![reader, TransactWriteItem::builder().update(progress).build()]).await
    }

    async fn set_campaign_status(
        &self,
        campaign_id: &str,
        from: &[CampaignStatus],
        to: CampaignStatus,
    ) -> Result<StatusChange, StoreError> {
        // A campaign stored before statuses existed has none: it is active.
        let mut allowed: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut condition = format!("#status IN ({})", allowed.join(", "));
        if from.contains(&CampaignStatus::Active) {
            condition = format!("({condition} OR attribute_not_exists(#status))");
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(campaign_key(campaign_id)))
            .update_expression("SET #status = :to")
            .condition_expression(format!("attribute_exists(pk) AND {condition}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        for (name, status) in allowed.drain(..).zip(from) {
            update = update.expression_attribute_values(name, s(status.as_str()));
        }
        match update.send().await {
            Ok(out) => {
                let item: CampaignItem =
                    serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(corrupt)?;
                Ok(StatusChange::Changed(Box::new(item.record)))
            }
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(self
                    .read_campaign(campaign_id)
                    .await?
                    .map_or(StatusChange::Unknown, |c| StatusChange::Refused(c.status)))
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}

impl CampaignCompletion for DynamoMessages {
    async fn complete_if_done(&self, campaign_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        let Some(campaign) = self.read_campaign(campaign_id).await? else { return Ok(false) };
        let tally = self.campaign_tally(campaign_id).await?;
        if !campaign.may_complete(&tally) {
            return Ok(false);
        }
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(campaign_key(campaign_id)))
            .update_expression("SET completed_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(completed_at)")
            .expression_attribute_values(":at", s(at.to_string()))
            .build()
            .map_err(unavailable)?;
        let event = Event::campaign_completed(campaign_id, &tally.counts(), at);
        let items = vec![
            TransactWriteItem::builder().update(mark).build(),
            outbox::put(&self.table, TTL_ATTRIBUTE, &event, at)?,
        ];
        match transact(&self.client, items).await {
            Ok(()) => Ok(true),
            // Already completed (by a concurrent or earlier call).
            Err(e) if cancelled_conditions(&e).is_some_and(|c| c.first() == Some(&true)) => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}

/// The put of an idempotency key (`pk`) for the new `id`, remembered for 7 days.
fn idempotency_put(
    table: &str,
    pk: String,
    id: &str,
    body_hash: &str,
    at: Timestamp,
) -> Result<TransactWriteItem, StoreError> {
    let item = IdempotencyItem {
        pk,
        sk: "IDEM".into(),
        id: id.to_owned(),
        body_hash: body_hash.to_owned(),
        ttl: at.as_second() + IDEMPOTENCY_TTL_SECONDS,
    };
    conditional_put(table, serde_dynamo::to_item(item).map_err(corrupt)?)
}

/// A put that creates the item or fails its condition (never overwrites).
fn conditional_put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(unavailable)?;
    Ok(TransactWriteItem::builder().put(put).build())
}
