//! The contacts table on DynamoDB (layout in `template.yaml`):
//! `C#<wa_id>/PROFILE` holds derived consent and settings, `C#<wa_id>/EVENT#<id>` the ledger,
//! `C#<wa_id>/SEND#<message id>` the recent sends (caps, pair spacing; the sender's own items).
//!
//! A consent event is appended with `attribute_not_exists` on its id (a replay is a no-op)
//! and, when it wins its category, the profile is updated in the same transaction,
//! conditional on the profile's `version` being the one the decision was made on; a
//! concurrent change cancels the transaction and the decision is made again on fresh data.
//! Each category is its own attribute and every write is an `UpdateItem` of the attributes it
//! owns, so a consent change never overwrites a concurrently recorded inbound time.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, ReturnValue, TransactWriteItem, Update, WriteRequest,
};

use crate::dynamo::{
    Item, cancelled_conditions, conflicted_only, corrupt, get_consistent, key, n, query_all, s, transact, unavailable,
    update_unless_done,
};
use jiff::Timestamp;
use polite_domain::caps::{SendHistory, SentRecord};
use polite_domain::consent::{Applied, CategoryConsent, ConsentCategory, ConsentEvent, ConsentState, ConsentStatus};
use polite_domain::hours::QuietHours;
use polite_domain::message::Category;
use polite_domain::ports::{
    ConsentAppend, ContactRecord, ContactSettings, ContactStore, NumberChange, Reservation, SendLog, StoreError,
};
use polite_domain::{IanaZone, WaId};
use serde::{Deserialize, Serialize};

/// Attempts of the read–decide–write cycle under contention before giving up.
const ATTEMPTS: usize = 8;
const PROFILE: &str = "PROFILE";
const EVENT_PREFIX: &str = "EVENT#";

/// The contacts table.
#[derive(Debug, Clone)]
pub struct DynamoContacts {
    client: Client,
    table: String,
    /// Keys the tombstone hash; a secret, so tombstones cannot be matched to numbers by
    /// enumerating the phone-number space.
    tombstone_key: std::sync::Arc<[u8]>,
}

/// A do-not-contact tombstone: the keyed hash is its key; no number is stored.
#[derive(Debug, Serialize, Deserialize)]
struct TombstoneItem {
    pk: String,
    sk: String,
    #[serde(with = "jiff::fmt::serde::timestamp::second::required")]
    erased_at: Timestamp,
}

const TOMBSTONE: &str = "TOMBSTONE";
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;

/// The profile item as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfileItem {
    #[serde(default)]
    consent_marketing: Option<CategoryConsent>,
    #[serde(default)]
    consent_utility: Option<CategoryConsent>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    #[serde(default)]
    locale: Option<String>,
    /// Unix seconds: compared inside condition expressions.
    #[serde(default, with = "jiff::fmt::serde::timestamp::second::optional")]
    last_inbound_at: Option<Timestamp>,
    #[serde(default, with = "jiff::fmt::serde::timestamp::second::optional")]
    undeliverable_until: Option<Timestamp>,
    /// When Meta last said the business blocked this person (130403); blocked while no
    /// inbound message is later.
    #[serde(default, with = "jiff::fmt::serde::timestamp::second::optional")]
    blocked_at: Option<Timestamp>,
    /// Bumped by every consent change; the optimistic-concurrency token.
    #[serde(default)]
    version: u64,
}

/// A ledger event as stored.
#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    event: ConsentEvent,
}

fn pk(wa_id: &WaId) -> String {
    format!("C#{}", wa_id.as_str())
}

impl DynamoContacts {
    /// The table `table` on a client built once at init; `tombstone_key` keys erasure hashes.
    pub fn new(client: Client, table: impl Into<String>, tombstone_key: &[u8]) -> Self {
        Self { client, table: table.into(), tombstone_key: tombstone_key.into() }
    }

    /// `T#<HMAC(key, number)>`: the only trace of an erased number.
    fn tombstone_pk(&self, wa_id: &WaId) -> String {
        format!("T#{}", wa_id.keyed_hash(&self.tombstone_key))
    }

    fn tombstone_key(&self, wa_id: &WaId) -> Item {
        key(self.tombstone_pk(wa_id), TOMBSTONE)
    }

    async fn read_tombstone(&self, wa_id: &WaId) -> Result<Option<TombstoneItem>, StoreError> {
        let item = get_consistent(&self.client, &self.table, self.tombstone_key(wa_id)).await?;
        item.map(|i| serde_dynamo::from_item(i).map_err(corrupt)).transpose()
    }

    fn key(wa_id: &WaId) -> Item {
        key(pk(wa_id), PROFILE)
    }

    async fn read_profile(&self, wa_id: &WaId) -> Result<Option<ProfileItem>, StoreError> {
        let item = get_consistent(&self.client, &self.table, Self::key(wa_id)).await?;
        item.map(|i| serde_dynamo::from_item(i).map_err(corrupt)).transpose()
    }

    fn record(wa_id: &WaId, p: ProfileItem, erased: bool) -> Result<ContactRecord, StoreError> {
        let timezone = p.timezone.as_deref().map(IanaZone::parse).transpose().map_err(corrupt)?;
        Ok(ContactRecord {
            wa_id: wa_id.clone(),
            consent: ConsentState { marketing: p.consent_marketing, utility: p.consent_utility },
            timezone,
            quiet_hours: p.quiet_hours,
            locale: p.locale,
            last_inbound_at: p.last_inbound_at,
            undeliverable_until: p.undeliverable_until,
            blocked: p.blocked_at.is_some_and(|b| p.last_inbound_at.is_none_or(|i| b > i)),
            erased,
        })
    }

    fn event_put(&self, wa_id: &WaId, event: &ConsentEvent) -> Result<Put, StoreError> {
        let item = EventItem { pk: pk(wa_id), sk: format!("{EVENT_PREFIX}{}", event.id), event: event.clone() };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(corrupt)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)
    }

    /// Makes `winner` the current state of its category if the profile is still at `version`.
    fn state_update(
        &self,
        wa_id: &WaId,
        winner: &CategoryConsent,
        category: ConsentCategory,
        version: u64,
    ) -> Result<Update, StoreError> {
        let attr = match category {
            ConsentCategory::Marketing => "consent_marketing",
            ConsentCategory::Utility => "consent_utility",
        };
        let value = serde_dynamo::to_attribute_value(winner).map_err(corrupt)?;
        let builder = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(wa_id)))
            .update_expression("SET #category = :state, #version = :next")
            .expression_attribute_names("#category", attr)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":state", value)
            .expression_attribute_values(":next", n(&(version + 1)))
            // A new contact has no version yet; an existing one must still be at the version read.
            .condition_expression("attribute_not_exists(#version) OR #version = :seen")
            .expression_attribute_values(":seen", n(&version));
        builder.build().map_err(unavailable)
    }

    /// Appends `events` (the old number's ledger) to `to`, then deletes the old number.
    async fn finish_move(&self, from: &WaId, to: &WaId, events: Vec<ConsentEvent>) -> Result<NumberChange, StoreError> {
        let mut moved = 0;
        for event in &events {
            if matches!(self.append_consent(to, event).await?, ConsentAppend::Recorded { .. }) {
                moved += 1;
            }
        }
        self.delete_contact_items(from).await?;
        Ok(NumberChange { events_moved: moved, found: true })
    }

    /// Deletes every item of the contact (profile, ledger, send history), 25 per
    /// BatchWriteItem, retrying exactly the unprocessed ones.
    async fn delete_contact_items(&self, wa_id: &WaId) -> Result<(), StoreError> {
        let keys = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk(wa_id)))
                .projection_expression("pk, sk"),
        )
        .await?;
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests = chunk
                .iter()
                .map(|k| {
                    let delete = DeleteRequest::builder().set_key(Some(k.clone())).build().map_err(unavailable)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut delays = crate::retry::delays(std::time::Duration::from_millis(50), ATTEMPTS);
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                // Throttled requests come back unprocessed: retry exactly those.
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if !requests.is_empty() {
                    let Some(delay) = delays.next() else { return Err(StoreError::Contended) };
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(())
    }
}

impl DynamoContacts {
    /// Sets a time attribute of the profile (Unix seconds, creating the contact when new)
    /// unless a later time is already there: redelivered or reordered events never move it
    /// back. `removes` go with it (only when the time was set).
    async fn set_later_time(
        &self,
        wa_id: &WaId,
        attribute: &str,
        at: Timestamp,
        removes: &[&str],
    ) -> Result<(), StoreError> {
        let remove = if removes.is_empty() { String::new() } else { format!(" REMOVE {}", removes.join(", ")) };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(wa_id)))
            .update_expression(format!("SET #t = :at{remove}"))
            .condition_expression("attribute_not_exists(#t) OR #t < :at")
            .expression_attribute_names("#t", attribute)
            .expression_attribute_values(":at", n(&at.as_second()));
        // A later time is already recorded: nothing to do.
        update_unless_done(update).await.map(|_| ())
    }
}

impl ContactStore for DynamoContacts {
    async fn get(&self, wa_id: &WaId) -> Result<Option<ContactRecord>, StoreError> {
        let (profile, tombstone) = tokio::try_join!(self.read_profile(wa_id), self.read_tombstone(wa_id))?;
        match (profile, tombstone.is_some()) {
            (None, false) => Ok(None),
            (profile, erased) => Self::record(wa_id, profile.unwrap_or_default(), erased).map(Some),
        }
    }

    async fn append_consent(&self, wa_id: &WaId, event: &ConsentEvent) -> Result<ConsentAppend, StoreError> {
        let mut delays = crate::retry::delays(std::time::Duration::from_millis(10), ATTEMPTS - 1);
        loop {
            let profile = self.read_profile(wa_id).await?;
            let version = profile.as_ref().map_or(0, |p| p.version);
            let mut state = profile
                .map(|p| ConsentState { marketing: p.consent_marketing, utility: p.consent_utility })
                .unwrap_or_default();
            let changed = state.apply(event) == Applied::Changed;
            let winner = match event.category {
                ConsentCategory::Marketing => state.marketing.as_ref(),
                ConsentCategory::Utility => state.utility.as_ref(),
            };
            let mut items = vec![TransactWriteItem::builder().put(self.event_put(wa_id, event)?).build()];
            if let (true, Some(winner)) = (changed, winner) {
                items.push(
                    TransactWriteItem::builder()
                        .update(self.state_update(wa_id, winner, event.category, version)?)
                        .build(),
                );
            }
            // An explicit opt-in made after an erasure lifts the tombstone; a replay of an
            // older one (Meta retries for days) must not.
            let lifts = event.status == ConsentStatus::OptedIn
                && self.read_tombstone(wa_id).await?.is_some_and(|t| event.occurred_at > t.erased_at);
            if lifts {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.tombstone_key(wa_id)))
                    .build()
                    .map_err(unavailable)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
            let Err(err) = self.client.transact_write_items().set_transact_items(Some(items)).send().await else {
                return Ok(ConsentAppend::Recorded { changed });
            };
            match cancelled_conditions(&err).as_deref() {
                // The event id is already in the ledger: a replay.
                Some([true, ..]) => return Ok(ConsentAppend::Duplicate),
                // The profile changed since we read it, or another transaction was writing it
                // at that moment (TransactionConflict): decide again on fresh data, here and
                // in milliseconds — not after SQS's visibility timeout.
                Some([false, true, ..]) => {}
                Some(_) if conflicted_only(&err) => {}
                _ => return Err(unavailable(err.into_service_error())),
            }
            tracing::debug!(contact = %wa_id.masked(), "consent state changed concurrently; retrying");
            let Some(delay) = delays.next() else { return Err(StoreError::Contended) };
            tokio::time::sleep(delay).await;
        }
    }

    async fn consent_history(&self, wa_id: &WaId) -> Result<Vec<ConsentEvent>, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
                .expression_attribute_values(":pk", s(pk(wa_id)))
                .expression_attribute_values(":events", s(EVENT_PREFIX)),
        )
        .await?;
        let mut events = items
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, EventItem>(item).map(|i| i.event).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| (a.occurred_at, a.recorded_at, &a.id).cmp(&(b.occurred_at, b.recorded_at, &b.id)));
        Ok(events)
    }

    async fn record_inbound(&self, wa_id: &WaId, at: Timestamp) -> Result<(), StoreError> {
        // A person who writes in is reachable on WhatsApp: a 131026 mark no longer holds.
        self.set_later_time(wa_id, "last_inbound_at", at, &["undeliverable_until"]).await
    }

    async fn mark_undeliverable(&self, wa_id: &WaId, until: Timestamp) -> Result<(), StoreError> {
        self.set_later_time(wa_id, "undeliverable_until", until, &[]).await
    }

    async fn mark_blocked(&self, wa_id: &WaId, at: Timestamp) -> Result<(), StoreError> {
        self.set_later_time(wa_id, "blocked_at", at, &[]).await
    }

    async fn erase(&self, wa_id: &WaId) -> Result<(), StoreError> {
        // The tombstone first: if the deletes below are interrupted, the number is already
        // do-not-contact, and the caller's retry finishes the job.
        let tombstone =
            TombstoneItem { pk: self.tombstone_pk(wa_id), sk: TOMBSTONE.into(), erased_at: Timestamp::now() };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(tombstone).map_err(corrupt)?))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        self.delete_contact_items(wa_id).await
    }

    async fn change_number(&self, from: &WaId, to: &WaId) -> Result<NumberChange, StoreError> {
        let Some(old) = self.read_profile(from).await? else {
            // Nothing under the old number: a replay, or a contact polite never knew. Its
            // ledger may still exist without a profile (an interrupted move): move that too.
            let events = self.consent_history(from).await?;
            if events.is_empty() {
                return Ok(NumberChange::default());
            }
            return self.finish_move(from, to, events).await;
        };
        let new = self.read_profile(to).await?.unwrap_or_default();
        let timezone = match (&new.timezone, &old.timezone) {
            (None, Some(zone)) => Some(IanaZone::parse(zone).map_err(corrupt)?),
            _ => None,
        };
        let settings = ContactSettings {
            timezone,
            quiet_hours: if new.quiet_hours.is_none() { old.quiet_hours } else { None },
            locale: if new.locale.is_none() { old.locale } else { None },
        };
        if settings != ContactSettings::default() {
            self.update_settings(to, &settings).await?;
        }
        if let Some(at) = old.last_inbound_at {
            self.record_inbound(to, at).await?;
        }
        let events = self.consent_history(from).await?;
        self.finish_move(from, to, events).await
    }

    async fn update_settings(&self, wa_id: &WaId, settings: &ContactSettings) -> Result<ContactRecord, StoreError> {
        // `version` is touched so the item exists even when nothing else is set.
        // Attribute names go through #placeholders: `timezone` is a DynamoDB reserved word.
        let mut sets = vec!["#version = if_not_exists(#version, :zero)".to_owned()];
        let mut names = HashMap::from([("#version".to_owned(), "version".to_owned())]);
        let mut values = HashMap::from([(":zero".to_owned(), n(&0))]);
        let mut set = |attr: &str, value: AttributeValue| {
            sets.push(format!("#{attr} = :{attr}"));
            names.insert(format!("#{attr}"), attr.to_owned());
            values.insert(format!(":{attr}"), value);
        };
        if let Some(tz) = &settings.timezone {
            set("timezone", s(tz.name()));
        }
        if let Some(q) = &settings.quiet_hours {
            set("quiet_hours", serde_dynamo::to_attribute_value(q).map_err(corrupt)?);
        }
        if let Some(locale) = &settings.locale {
            set("locale", s(locale));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(wa_id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let item = out.attributes.ok_or_else(|| StoreError::Corrupt("UpdateItem returned no attributes".into()))?;
        let erased = self.read_tombstone(wa_id).await?.is_some();
        Self::record(wa_id, serde_dynamo::from_item(item).map_err(corrupt)?, erased)
    }
}

/// One send to a recipient (`pk` = the contact's, `sk` = `SEND#<message id>`): for caps and
/// pair spacing. Expires (DynamoDB TTL) after the longest cap window; reads filter by time
/// too, because TTL deletion may lag by days.
#[derive(Debug, Serialize, Deserialize)]
struct SendItem {
    pk: String,
    sk: String,
    category: Category,
    /// Unix seconds.
    at: i64,
    /// Unix seconds (TTL).
    expires_at: i64,
}

const SEND_PREFIX: &str = "SEND#";
/// The send log's version item (same partition as the sends; `begins_with(sk, "SEND")` reads
/// both).
const SEND_VERSION: &str = "SENDS";
const SEND_LOG_PREFIX: &str = "SEND";

#[derive(Debug, Deserialize)]
struct SendVersionItem {
    version: u64,
}

impl SendLog for DynamoContacts {
    async fn recent_sends(&self, wa_id: &WaId, since: Timestamp) -> Result<SendHistory, StoreError> {
        // One query reads the sends and the log's version item (`SENDS` sorts beside `SEND#…`).
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :send)")
                .expression_attribute_values(":pk", s(pk(wa_id)))
                .expression_attribute_values(":send", s(SEND_LOG_PREFIX)),
        )
        .await?;
        let mut sends = Vec::with_capacity(items.len());
        let mut version = 0;
        for item in items {
            if item.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == SEND_VERSION) {
                let head: SendVersionItem = serde_dynamo::from_item(item).map_err(corrupt)?;
                version = head.version;
                continue;
            }
            let send: SendItem = serde_dynamo::from_item(item).map_err(corrupt)?;
            let at = Timestamp::from_second(send.at).map_err(corrupt)?;
            if at >= since {
                sends.push(SentRecord { category: send.category, at });
            }
        }
        sends.sort_unstable_by_key(|s| s.at);
        Ok(SendHistory { sends, version })
    }

    async fn reserve_send(
        &self,
        wa_id: &WaId,
        message_id: &str,
        sent: SentRecord,
        keep: jiff::SignedDuration,
        read: &SendHistory,
    ) -> Result<Reservation, StoreError> {
        let item = SendItem {
            pk: pk(wa_id),
            sk: format!("{SEND_PREFIX}{message_id}"),
            category: sent.category,
            at: sent.at.as_second(),
            expires_at: (sent.at + keep).as_second(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)?;
        // The version moves with every reservation: a second sender that read the same history
        // finds it moved and decides again (it will see this send).
        let bump = Update::builder()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([("pk".to_owned(), s(pk(wa_id))), ("sk".to_owned(), s(SEND_VERSION))])))
            .update_expression("SET version = :next")
            .condition_expression("attribute_not_exists(version) AND :read = :zero OR version = :read")
            .expression_attribute_values(":read", n(&read.version))
            .expression_attribute_values(":zero", n(&0))
            .expression_attribute_values(":next", n(&(read.version + 1)))
            .build()
            .map_err(unavailable)?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(bump).build()];
        match transact(&self.client, items).await {
            Ok(()) => Ok(Reservation::Reserved),
            Err(e) => match cancelled_conditions(&e).as_deref() {
                // This message's reservation is already there (a redelivered job).
                Some([true, ..]) => Ok(Reservation::Reserved),
                Some([false, true]) => Ok(Reservation::Raced),
                _ => Err(unavailable(e.into_service_error())),
            },
        }
    }

    async fn release_send(&self, wa_id: &WaId, message_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([
                ("pk".to_owned(), s(pk(wa_id))),
                ("sk".to_owned(), s(format!("{SEND_PREFIX}{message_id}"))),
            ])))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
