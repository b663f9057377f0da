//! The contacts table on DynamoDB (layout in `template.yaml` and the README's "Data layout").
//!
//! A person lives in the partition of one of their identities, `C#<identity>` (a phone
//! number's digits or a business-scoped user id): `PROFILE` holds their identities, derived
//! consent and settings, `EVENT#<id>` the ledger, `SEND#<message id>` and `SENDS` the recent
//! sends (caps, pair spacing; the sender's own items). Each other identity of the person has a
//! link, `C#<identity>/PERSON` → `{"person": "<identity they live under>"}`. `PERSON` and
//! `PROFILE` sort side by side, so one strongly consistent query of an identity's partition
//! (`sk BETWEEN "PERSON" AND "PROFILE"`) finds the person or the link to them.
//!
//! A consent event is appended with `attribute_not_exists` on its id (a replay is a no-op)
//! and, when it wins its category, the profile is updated in the same transaction,
//! conditional on the profile's `version` being the one the decision was made on; a
//! concurrent change cancels the transaction and the decision is made again on fresh data.
//! Each category is its own attribute and every write is an `UpdateItem` of the attributes it
//! owns, so a consent change never overwrites a concurrently recorded inbound time.
//!
//! Identities seen together ([`ContactWriter::observe`]) are linked; two stored persons that
//! turn out to be one are merged into the one whose key is still theirs: its profile is
//! written first (their identities, conditional on its version), the other's ledger is
//! appended to it event by event (idempotent), the other's profile is deleted conditional on
//! the version the merge read (a consent change that raced in sends the merge round again),
//! then the rest of its partition, and last the links. An interrupted merge is finished by the
//! record's redelivery.
//!
//! A consent import from a file is an item of its own, `IMPORT#<id>` / `IMPORT`: where the
//! reading stands and what it has counted, moved by a conditional put on its part count.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};

use crate::dynamo::{
    Item, cancelled_conditions, conflicted_only, corrupt, get_consistent, key, n, put_unless_moved, query_all, s,
    transact, unavailable, update_unless_done,
};
use crate::outbox;
use jiff::Timestamp;
use polite_domain::caps::Reservation;
use polite_domain::caps::{SendHistory, SentRecord};
use polite_domain::consent::{Applied, CategoryConsent, ConsentCategory, ConsentEvent, ConsentState, ConsentStatus};
use polite_domain::contact::{ConsentAppend, ContactRecord, ContactSettings, Linked};
use polite_domain::events::{Event, EventContact};
use polite_domain::hours::QuietHours;
use polite_domain::message::Category;
use polite_domain::people::{Identities, Observation};
use polite_domain::ports::{
    ContactEraser, ContactReader, ContactWriter, DeliveryMarks, ImportStore, Outbox, SendLog, StoreError,
};
use polite_domain::{ContactRef, IanaZone};
use serde::{Deserialize, Serialize};

/// Attempts of the read–decide–write cycle under contention before giving up.
const ATTEMPTS: usize = 8;
const PROFILE: &str = "PROFILE";
const LINK: &str = "PERSON";
const EVENT_PREFIX: &str = "EVENT#";
/// The table's TTL attribute (epoch seconds).
const TTL_ATTRIBUTE: &str = "expires_at";

/// The contacts table.
#[derive(Debug, Clone)]
pub struct DynamoContacts {
    client: Client,
    table: String,
    /// Keys the tombstone hash; a secret, so tombstones cannot be matched to identities by
    /// enumerating the phone-number space.
    tombstone_key: std::sync::Arc<[u8]>,
}

/// A do-not-contact tombstone: the keyed hash is its key; no identity is stored.
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ProfileItem {
    /// Every identity seen for the person; absent on a person known by their key alone.
    #[serde(default)]
    identities: Option<Identities>,
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
    /// The username the message at `last_inbound_at` showed (set with it).
    #[serde(default)]
    username: Option<String>,
    #[serde(default, with = "jiff::fmt::serde::timestamp::second::optional")]
    undeliverable_until: Option<Timestamp>,
    /// When Meta last said the business blocked this person (130403); blocked while no
    /// inbound message is later.
    #[serde(default, with = "jiff::fmt::serde::timestamp::second::optional")]
    blocked_at: Option<Timestamp>,
    /// Bumped by every consent and identity change; the optimistic-concurrency token.
    #[serde(default)]
    version: u64,
}

impl ProfileItem {
    fn consent(&self) -> ConsentState {
        ConsentState { marketing: self.consent_marketing.clone(), utility: self.consent_utility.clone() }
    }
}

/// The person stored under `key`: their identities as stored, or just the key.
fn identities_of(key: &ContactRef, profile: Option<&ProfileItem>) -> Identities {
    profile.and_then(|p| p.identities.clone()).unwrap_or_else(|| Identities::of(key.clone(), Timestamp::UNIX_EPOCH))
}

/// A link from an identity to the person it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct LinkItem {
    pk: String,
    sk: String,
    person: ContactRef,
}

/// A ledger event as stored.
#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    event: ConsentEvent,
}

fn pk(identity: &ContactRef) -> String {
    format!("C#{identity}")
}

/// A person's profile as a read–decide–write cycle starts: to be read, or just read (`None`:
/// not stored).
#[derive(Debug)]
enum Profile {
    Unread,
    Read(Option<Box<ProfileItem>>),
}

/// What one identity finds.
#[derive(Debug)]
struct Found {
    /// The identity asked about.
    asked: ContactRef,
    /// The person it belongs to (itself when it has no link).
    person: ContactRef,
    /// That person's profile, when they are stored.
    profile: Option<ProfileItem>,
    /// Whether the identity found the person through a link.
    linked: bool,
    /// A profile under a linked identity: written by a call that raced the merge which linked
    /// it (its consent still counts; the next observation folds it in).
    stray: Option<ProfileItem>,
}

impl DynamoContacts {
    /// The table `table` on a client built once at init; `tombstone_key` keys erasure hashes.
    pub fn new(client: Client, table: impl Into<String>, tombstone_key: &[u8]) -> Self {
        Self { client, table: table.into(), tombstone_key: tombstone_key.into() }
    }

    /// `T#<HMAC(key, identity)>`: the only trace of an erased identity.
    fn tombstone_pk(&self, identity: &ContactRef) -> String {
        format!("T#{}", identity.keyed_hash(&self.tombstone_key))
    }

    fn tombstone_key(&self, identity: &ContactRef) -> Item {
        key(self.tombstone_pk(identity), TOMBSTONE)
    }

    async fn read_tombstone(&self, identity: &ContactRef) -> Result<Option<TombstoneItem>, StoreError> {
        let item = get_consistent(&self.client, &self.table, self.tombstone_key(identity)).await?;
        item.map(|i| serde_dynamo::from_item(i).map_err(corrupt)).transpose()
    }

    fn key(person: &ContactRef) -> Item {
        key(pk(person), PROFILE)
    }

    async fn read_profile(&self, person: &ContactRef) -> Result<Option<ProfileItem>, StoreError> {
        let item = get_consistent(&self.client, &self.table, Self::key(person)).await?;
        item.map(|i| serde_dynamo::from_item(i).map_err(corrupt)).transpose()
    }

    /// The person `identity` belongs to: one consistent query of its partition's `PERSON` and
    /// `PROFILE` items, and the linked person's profile when it is a link.
    ///
    /// A link to a person with no profile is a merge in flight (its links were rewritten
    /// between the two reads, then the person folded in was deleted): read again, briefly,
    /// rather than take the identity for someone new. Should one stay dangling (a crash of an
    /// older build mid-merge), the identity reads as unknown after that.
    async fn find(&self, identity: &ContactRef) -> Result<Found, StoreError> {
        let mut delays = crate::retry::delays(std::time::Duration::from_millis(5), 4);
        loop {
            let found = Box::pin(self.find_once(identity)).await?;
            if !(found.linked && found.profile.is_none()) {
                return Ok(found);
            }
            let Some(delay) = delays.next() else { return Ok(found) };
            tokio::time::sleep(delay).await;
        }
    }

    async fn find_once(&self, identity: &ContactRef) -> Result<Found, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :link AND :profile")
                .expression_attribute_values(":pk", s(pk(identity)))
                .expression_attribute_values(":link", s(LINK))
                .expression_attribute_values(":profile", s(PROFILE)),
        )
        .await?;
        let (mut link, mut own) = (None, None);
        for item in items {
            match item.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(LINK) => link = Some(serde_dynamo::from_item::<_, LinkItem>(item).map_err(corrupt)?.person),
                Some(PROFILE) => own = Some(serde_dynamo::from_item::<_, ProfileItem>(item).map_err(corrupt)?),
                _ => {}
            }
        }
        match link.filter(|person| person != identity) {
            Some(person) => {
                let profile = self.read_profile(&person).await?;
                Ok(Found { asked: identity.clone(), person, profile, linked: true, stray: own })
            }
            None => Ok(Found {
                asked: identity.clone(),
                person: identity.clone(),
                profile: own,
                linked: false,
                stray: None,
            }),
        }
    }

    fn record(person: ContactRef, p: ProfileItem, erased: bool) -> Result<ContactRecord, StoreError> {
        let timezone = p.timezone.as_deref().map(IanaZone::parse).transpose().map_err(corrupt)?;
        Ok(ContactRecord {
            identities: identities_of(&person, Some(&p)),
            id: person,
            consent: p.consent(),
            timezone,
            quiet_hours: p.quiet_hours,
            locale: p.locale,
            last_inbound_at: p.last_inbound_at,
            username: p.username,
            undeliverable_until: p.undeliverable_until,
            blocked: p.blocked_at.is_some_and(|b| p.last_inbound_at.is_none_or(|i| b > i)),
            erased,
        })
    }

    fn event_put(&self, person: &ContactRef, event: &ConsentEvent) -> Result<Put, StoreError> {
        let item = EventItem { pk: pk(person), sk: format!("{EVENT_PREFIX}{}", event.id), event: event.clone() };
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
        person: &ContactRef,
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
            .set_key(Some(Self::key(person)))
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

    /// Appends `event` to the ledger of the person stored under `person`; `asked` is the
    /// identity the event came by (an explicit opt-in lifts its tombstone). With
    /// [`Profile::Read`], the first attempt decides on the profile the caller just read
    /// instead of reading it again.
    async fn append_to(
        &self,
        person: &ContactRef,
        asked: &ContactRef,
        event: &ConsentEvent,
        mut read: Profile,
    ) -> Result<ConsentAppend, StoreError> {
        let mut delays = crate::retry::delays(std::time::Duration::from_millis(10), ATTEMPTS - 1);
        loop {
            let profile = match std::mem::replace(&mut read, Profile::Unread) {
                Profile::Read(profile) => profile.map(|p| *p),
                Profile::Unread => self.read_profile(person).await?,
            };
            let version = profile.as_ref().map_or(0, |p| p.version);
            let identities = identities_of(person, profile.as_ref());
            let mut state = profile.map(|p| p.consent()).unwrap_or_default();
            let changed = state.apply(event) == Applied::Changed;
            let winner = match event.category {
                ConsentCategory::Marketing => state.marketing.as_ref(),
                ConsentCategory::Utility => state.utility.as_ref(),
            };
            let mut items = vec![TransactWriteItem::builder().put(self.event_put(person, event)?).build()];
            if let (true, Some(winner)) = (changed, winner) {
                items.push(
                    TransactWriteItem::builder()
                        .update(self.state_update(person, winner, event.category, version)?)
                        .build(),
                );
                // The change is told in the same transaction: it is published if and only if
                // it happened.
                let told = Event::consent_changed(&EventContact::of(person, &identities), event);
                items.push(outbox::put(&self.table, TTL_ATTRIBUTE, &told, event.recorded_at)?);
            }
            // An explicit opt-in made after an erasure lifts the tombstone; a replay of an
            // older one (Meta retries for days) must not.
            let lifts = event.status == ConsentStatus::OptedIn
                && self.read_tombstone(asked).await?.is_some_and(|t| event.occurred_at > t.erased_at);
            if lifts {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.tombstone_key(asked)))
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
            tracing::debug!(contact = %person.masked(), "consent state changed concurrently; retrying");
            let Some(delay) = delays.next() else { return Err(StoreError::Contended) };
            tokio::time::sleep(delay).await;
        }
    }

    /// The ledger stored under `person`.
    async fn ledger(&self, person: &ContactRef) -> Result<Vec<ConsentEvent>, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
                .expression_attribute_values(":pk", s(pk(person)))
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

    /// BatchWriteItem of `requests`, 25 at a time, retrying exactly the unprocessed ones.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut requests = chunk.to_vec();
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

    /// Deletes every item of an identity's partition (a person's profile, ledger and send
    /// history, or a link). A merge gives `sends_to`, the person folded into: the recent sends
    /// are first copied there (the person keeps their caps), and the partition's link, already
    /// pointing there, stays.
    async fn delete_partition(&self, identity: &ContactRef, sends_to: Option<&ContactRef>) -> Result<(), StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk(identity))),
        )
        .await?;
        let mut copies = Vec::new();
        let mut deletes = Vec::with_capacity(items.len());
        for item in items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sends_to.is_some() && sk == LINK {
                continue;
            }
            if let (Some(to), true) = (sends_to, sk.starts_with(SEND_PREFIX)) {
                let mut copy = item.clone();
                copy.insert("pk".to_owned(), s(pk(to)));
                copies.push(copy);
            }
            let delete = DeleteRequest::builder().set_key(Some(key(pk(identity), &sk))).build().map_err(unavailable)?;
            deletes.push(WriteRequest::builder().delete_request(delete).build());
        }
        if let Some(to) = sends_to {
            self.copy_sends(to, copies).await?;
        }
        self.batch_write(deletes).await
    }

    /// Puts send items into `person`'s log, each batch in one transaction with a bump of the
    /// log's version: a sender that read the log before the copies decides again
    /// ([`SendLog::reserve_send`] is conditional on the version it read).
    async fn copy_sends(&self, person: &ContactRef, sends: Vec<Item>) -> Result<(), StoreError> {
        // TransactWriteItems takes at most 100 items: 99 copies and the bump.
        for chunk in sends.chunks(99) {
            let mut items = chunk
                .iter()
                .map(|send| {
                    let put = Put::builder().table_name(&self.table).set_item(Some(send.clone())).build();
                    put.map(|p| TransactWriteItem::builder().put(p).build()).map_err(unavailable)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let bump = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk(person), SEND_VERSION)))
                .update_expression("ADD version :one")
                .expression_attribute_values(":one", n(&1))
                .build()
                .map_err(unavailable)?;
            items.push(TransactWriteItem::builder().update(bump).build());
            transact(&self.client, items).await.map_err(|e| unavailable(e.into_service_error()))?;
        }
        Ok(())
    }

    /// Sets a time attribute of the profile stored under `person` (Unix seconds, creating it
    /// when new) unless a later time is already there: redelivered or reordered events never
    /// move it back. `also` (an attribute and its text) and `removes` go with it (only when the
    /// time was set).
    async fn set_later_time(
        &self,
        person: &ContactRef,
        attribute: &str,
        at: Timestamp,
        also: Option<(&str, &str)>,
        removes: &[&str],
    ) -> Result<(), StoreError> {
        let remove = if removes.is_empty() { String::new() } else { format!(" REMOVE {}", removes.join(", ")) };
        let set_also = if also.is_some() { ", #a = :a" } else { "" };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(person)))
            .update_expression(format!("SET #t = :at{set_also}{remove}"))
            .condition_expression("attribute_not_exists(#t) OR #t < :at")
            .expression_attribute_names("#t", attribute)
            .expression_attribute_values(":at", n(&at.as_second()));
        if let Some((name, value)) = also {
            update = update.expression_attribute_names("#a", name).expression_attribute_values(":a", s(value));
        }
        // A later time is already recorded: nothing to do.
        update_unless_done(update).await.map(|_| ())
    }

    /// Sets the settings given on the profile stored under `person` (creating it when new).
    async fn set_settings(&self, person: &ContactRef, settings: &ContactSettings) -> Result<ProfileItem, StoreError> {
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
            .set_key(Some(Self::key(person)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let item = out.attributes.ok_or_else(|| StoreError::Corrupt("UpdateItem returned no attributes".into()))?;
        serde_dynamo::from_item(item).map_err(corrupt)
    }

    /// Writes the person's identities, conditional on the profile being at the version read
    /// (absent: not stored yet). False when it moved meanwhile.
    async fn write_identities(
        &self,
        person: &ContactRef,
        identities: &Identities,
        read: Option<u64>,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(person)))
            .update_expression("SET identities = :ids, #version = :next")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":ids", serde_dynamo::to_attribute_value(identities).map_err(corrupt)?)
            .expression_attribute_values(":next", n(&(read.unwrap_or(0) + 1)));
        let update = match read {
            // A profile written only by times (a user's first message by user id alone, before
            // any identity was linked) has no version yet: it reads as 0.
            Some(0) => update
                .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#version) OR #version = :seen)")
                .expression_attribute_values(":seen", n(&0)),
            Some(version) => {
                update.condition_expression("#version = :seen").expression_attribute_values(":seen", n(&version))
            }
            None => update.condition_expression("attribute_not_exists(#version)"),
        };
        update_unless_done(update).await
    }

    /// Folds the person stored under `from` (read at `seen`) into the one under `to`: settings
    /// `to` lacks, the later times, every ledger event; then deletes `from`'s profile if it is
    /// still at `seen` (false: a change raced in, fold again) and the rest of its partition.
    async fn fold_into(
        &self,
        to: &ContactRef,
        from: &ContactRef,
        seen: &ProfileItem,
        into: &ProfileItem,
    ) -> Result<Option<usize>, StoreError> {
        let timezone = match (&into.timezone, &seen.timezone) {
            (None, Some(zone)) => Some(IanaZone::parse(zone).map_err(corrupt)?),
            _ => None,
        };
        let settings = ContactSettings {
            timezone,
            quiet_hours: if into.quiet_hours.is_none() { seen.quiet_hours } else { None },
            locale: if into.locale.is_none() { seen.locale.clone() } else { None },
        };
        if settings != ContactSettings::default() {
            self.set_settings(to, &settings).await?;
        }
        let username = seen.username.as_deref().map(|u| ("username", u));
        for (attribute, at, also) in [
            ("last_inbound_at", seen.last_inbound_at, username),
            ("undeliverable_until", seen.undeliverable_until, None),
            ("blocked_at", seen.blocked_at, None),
        ] {
            if let Some(at) = at {
                self.set_later_time(to, attribute, at, also, &[]).await?;
            }
        }
        let mut moved = 0;
        for event in self.ledger(from).await? {
            if matches!(self.append_to(to, from, &event, Profile::Unread).await?, ConsentAppend::Recorded { .. }) {
                moved += 1;
            }
        }
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(from)))
            .condition_expression("attribute_not_exists(#version) OR #version = :seen")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":seen", n(&seen.version));
        match delete.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::delete_item::DeleteItemError::is_conditional_check_failed_exception,
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(e.into_service_error())),
        }
        self.delete_partition(from, Some(to)).await?;
        Ok(Some(moved))
    }

    /// One round of [`ContactWriter::observe`]; `None` when a concurrent change moved a
    /// profile it read (the caller goes again).
    async fn observe_once(&self, observation: &Observation) -> Result<Option<Linked>, StoreError> {
        let named = observation.identities();
        let found = futures_util::future::try_join_all(named.iter().map(|id| self.find(id))).await?;
        // The stored persons involved, each with the profile read.
        let mut persons: BTreeMap<ContactRef, ProfileItem> = BTreeMap::new();
        for f in &found {
            if let Some(profile) = &f.profile {
                persons.entry(f.person.clone()).or_insert_with(|| profile.clone());
            }
            if let Some(stray) = &f.stray {
                persons.entry(f.asked.clone()).or_insert_with(|| stray.clone());
            }
        }
        let mut identities = Identities::default();
        for (key, profile) in &persons {
            identities.merge(&identities_of(key, Some(profile)));
        }
        identities.observe(observation);
        let current: BTreeSet<&ContactRef> = identities.current().collect();
        // The person lives on under a stored key that is still theirs, else under the first
        // current identity the observation names.
        let target = persons.keys().chain(&named).find(|k| current.contains(k)).cloned();
        // A lone identity no one stores links nothing.
        let lone = persons.is_empty() && named.len() < 2;
        let Some(target) = target.filter(|_| !lone) else { return Ok(Some(Linked::default())) };
        let into = persons.get(&target).cloned();
        let sources: Vec<(ContactRef, ProfileItem)> =
            persons.iter().filter(|(k, _)| **k != target).map(|(k, p)| (k.clone(), p.clone())).collect();

        let finds = |id: &ContactRef| found.iter().find(|f| f.asked == *id);
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        // The person moves into a partition that still links elsewhere: that link goes first.
        let target_linked = finds(&target).is_some_and(|f| f.linked);
        for id in identities.all().filter(|id| **id != target) {
            let now = finds(id);
            // Every current identity finds the person, and so does a retired user id (WhatsApp
            // never gives it to anyone else); a retired phone number finds no one (carriers
            // recycle numbers).
            let keeps = current.contains(id) || matches!(id, ContactRef::User(_));
            if keeps {
                // Named ones we know of; the merged persons' ones all point elsewhere now.
                if now.is_none_or(|f| f.person != target || !f.linked) {
                    puts.push(id.clone());
                }
            } else if now.is_some_and(|f| f.linked && f.person == target) || (now.is_none() && !sources.is_empty()) {
                deletes.push(id.clone());
            }
        }
        let stored = identities_of(&target, into.as_ref());
        let unchanged = sources.is_empty()
            && puts.is_empty()
            && deletes.is_empty()
            && !target_linked
            && into.is_some()
            && stored == identities;
        if unchanged {
            return Ok(Some(Linked::default()));
        }
        // Told as decided, before the writes: a redelivered observation finishes them, and it
        // would find nothing left to decide (so nothing to tell) once they are done.
        let at = match observation {
            Observation::Together { at, .. }
            | Observation::NumberChanged { at, .. }
            | Observation::UserIdChanged { at, .. } => *at,
        };
        let linked: Vec<String> = identities.current().map(ToString::to_string).collect();
        if linked.len() > 1 {
            let event = Event::identity_linked(&EventContact::of(&target, &identities), &linked, at);
            outbox::write(&self.client, (&self.table, TTL_ATTRIBUTE), &event, at).await?;
        }
        if target_linked {
            self.delete_link(&target).await?;
        }
        if !self.write_identities(&target, &identities, into.as_ref().map(|p| p.version)).await? {
            return Ok(None);
        }
        let into = into.unwrap_or_default();
        let links_changed = puts.len() + deletes.len() + usize::from(target_linked);
        let mut linked = Linked { links_changed, merged: 0, events_moved: 0 };
        // Links before the folds: a person folded in is deleted only once every identity
        // finds the person it went to, so a concurrent reader never follows a link to a
        // person that is gone (it would take the identity for unknown and split the person).
        // Meanwhile a folded person's own profile under a relinked identity is a stray, merged
        // into reads and folded again on the next observation.
        self.write_links(&target, &puts, &deletes).await?;
        for (from, seen) in &sources {
            match self.fold_into(&target, from, seen, &into).await? {
                Some(moved) => {
                    linked.merged += 1;
                    linked.events_moved += moved;
                }
                None => return Ok(None),
            }
        }
        Ok(Some(linked))
    }

    /// Points `puts` at `target` and removes the links of `deletes`.
    async fn write_links(
        &self,
        target: &ContactRef,
        puts: &[ContactRef],
        deletes: &[ContactRef],
    ) -> Result<(), StoreError> {
        let link = |id: &ContactRef| -> Result<WriteRequest, StoreError> {
            let item = LinkItem { pk: pk(id), sk: LINK.to_owned(), person: target.clone() };
            let put = PutRequest::builder()
                .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
                .build()
                .map_err(unavailable)?;
            Ok(WriteRequest::builder().put_request(put).build())
        };
        let mut requests = puts.iter().map(link).collect::<Result<Vec<_>, _>>()?;
        for id in deletes {
            let delete = DeleteRequest::builder().set_key(Some(key(pk(id), LINK))).build().map_err(unavailable)?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await
    }

    async fn delete_link(&self, identity: &ContactRef) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(identity), LINK)))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}

impl Outbox for DynamoContacts {
    async fn publish(&self, event: &Event, at: Timestamp) -> Result<(), StoreError> {
        outbox::write(&self.client, (&self.table, TTL_ATTRIBUTE), event, at).await
    }
}

/// A consent import's item: `IMPORT#<id>` / `IMPORT`, the job's fields.
#[derive(Debug, Serialize, Deserialize)]
struct ImportItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    job: polite_domain::consent_import::ImportJob,
}

const IMPORT_SK: &str = "IMPORT";

fn import_pk(id: &str) -> String {
    format!("IMPORT#{id}")
}

impl ImportStore for DynamoContacts {
    async fn create_import(&self, job: &polite_domain::consent_import::ImportJob) -> Result<(), StoreError> {
        let item = ImportItem { pk: import_pk(&job.id), sk: IMPORT_SK.into(), job: job.clone() };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn import_job(&self, id: &str) -> Result<Option<polite_domain::consent_import::ImportJob>, StoreError> {
        let item = get_consistent(&self.client, &self.table, key(import_pk(id), IMPORT_SK)).await?;
        item.map(|i| serde_dynamo::from_item::<_, ImportItem>(i).map(|i| i.job).map_err(corrupt)).transpose()
    }

    /// The whole item is replaced, on condition that it is still at `from`'s part count.
    async fn advance_import(
        &self,
        from: &polite_domain::consent_import::ImportJob,
        to: &polite_domain::consent_import::ImportJob,
    ) -> Result<bool, StoreError> {
        let item = ImportItem { pk: import_pk(&to.id), sk: IMPORT_SK.into(), job: to.clone() };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
            .condition_expression("parts = :parts")
            .expression_attribute_values(":parts", n(&from.parts));
        put_unless_moved(put).await
    }
}

impl ContactReader for DynamoContacts {
    async fn get(&self, contact: &ContactRef) -> Result<Option<ContactRecord>, StoreError> {
        let (found, tombstone) = tokio::try_join!(self.find(contact), self.read_tombstone(contact))?;
        let Found { person, profile, stray, .. } = found;
        let mut profile = match (profile, tombstone.is_some()) {
            (None, false) if stray.is_none() => return Ok(None),
            (profile, _) => profile.unwrap_or_default(),
        };
        if let Some(stray) = stray {
            // A write that raced a merge: its consent counts until the merge folds it in.
            let mut consent = profile.consent();
            consent.merge(&stray.consent());
            profile.consent_marketing = consent.marketing;
            profile.consent_utility = consent.utility;
        }
        Self::record(person, profile, tombstone.is_some()).map(Some)
    }

    async fn consent_history(&self, contact: &ContactRef) -> Result<Vec<ConsentEvent>, StoreError> {
        let person = self.find(contact).await?.person;
        self.ledger(&person).await
    }
}

impl ContactWriter for DynamoContacts {
    async fn append_consent(&self, contact: &ContactRef, event: &ConsentEvent) -> Result<ConsentAppend, StoreError> {
        let Found { person, profile, .. } = self.find(contact).await?;
        self.append_to(&person, contact, event, Profile::Read(profile.map(Box::new))).await
    }

    async fn record_inbound(
        &self,
        contact: &ContactRef,
        at: Timestamp,
        username: Option<&str>,
    ) -> Result<(), StoreError> {
        let person = self.find(contact).await?.person;
        // A person who writes in is reachable on WhatsApp: a 131026 mark no longer holds.
        let also = username.map(|u| ("username", u));
        self.set_later_time(&person, "last_inbound_at", at, also, &["undeliverable_until"]).await
    }

    async fn observe(&self, observation: &Observation) -> Result<Linked, StoreError> {
        let mut delays = crate::retry::delays(std::time::Duration::from_millis(10), ATTEMPTS - 1);
        loop {
            if let Some(linked) = self.observe_once(observation).await? {
                return Ok(linked);
            }
            tracing::debug!("a person changed while their identities were linked; retrying");
            let Some(delay) = delays.next() else { return Err(StoreError::Contended) };
            tokio::time::sleep(delay).await;
        }
    }

    async fn update_settings(
        &self,
        contact: &ContactRef,
        settings: &ContactSettings,
    ) -> Result<ContactRecord, StoreError> {
        let person = self.find(contact).await?.person;
        let profile = self.set_settings(&person, settings).await?;
        let erased = self.read_tombstone(contact).await?.is_some();
        Self::record(person, profile, erased)
    }
}

impl DeliveryMarks for DynamoContacts {
    async fn mark_undeliverable(&self, contact: &ContactRef, until: Timestamp) -> Result<(), StoreError> {
        let person = self.find(contact).await?.person;
        self.set_later_time(&person, "undeliverable_until", until, None, &[]).await
    }

    async fn mark_blocked(&self, contact: &ContactRef, at: Timestamp) -> Result<(), StoreError> {
        let person = self.find(contact).await?.person;
        self.set_later_time(&person, "blocked_at", at, None, &[]).await
    }
}

impl ContactEraser for DynamoContacts {
    async fn erase(&self, contact: &ContactRef) -> Result<Vec<ContactRef>, StoreError> {
        let found = self.find(contact).await?;
        let identities = identities_of(&found.person, found.profile.as_ref());
        // Every identity of the person — but not a phone number they left: it may be someone
        // else's now (carriers recycle numbers), and its partition theirs.
        let current: BTreeSet<&ContactRef> = identities.current().collect();
        let mut all: BTreeSet<ContactRef> =
            identities.all().filter(|id| current.contains(id) || matches!(id, ContactRef::User(_))).cloned().collect();
        all.insert(contact.clone());
        all.insert(found.person.clone());
        // The tombstones first: if the deletes below are interrupted, every identity is
        // already do-not-contact, and the caller's retry finishes the job.
        let erased_at = crate::clock::now();
        let tombstones = all
            .iter()
            .map(|id| {
                let item = TombstoneItem { pk: self.tombstone_pk(id), sk: TOMBSTONE.into(), erased_at };
                let put = PutRequest::builder()
                    .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
                    .build()
                    .map_err(unavailable)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(tombstones).await?;
        for id in &all {
            self.delete_partition(id, None).await?;
        }
        // Told once every trace is gone, by the keyed hashes only (a retried erasure tells it
        // again under the same id: the same identities give the same hashes).
        let hashes: Vec<String> = all.iter().map(|id| id.keyed_hash(&self.tombstone_key)).collect();
        outbox::write(
            &self.client,
            (&self.table, TTL_ATTRIBUTE),
            &Event::contact_erased(&hashes, erased_at),
            erased_at,
        )
        .await?;
        Ok(all.into_iter().collect())
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
/// A send recorded from an echo, keyed by its wamid (polite's own sends are keyed by message id).
const ECHO_PREFIX: &str = "echo#";
/// The send log's version item (same partition as the sends; `begins_with(sk, "SEND")` reads
/// both).
const SEND_VERSION: &str = "SENDS";
const SEND_LOG_PREFIX: &str = "SEND";

#[derive(Debug, Deserialize)]
struct SendVersionItem {
    version: u64,
}

impl DynamoContacts {
    /// The put of one send item, once (conditional on its absence), expiring after `keep`.
    fn send_put(
        &self,
        person: &ContactRef,
        sk: &str,
        sent: SentRecord,
        keep: jiff::SignedDuration,
    ) -> Result<Put, StoreError> {
        let item = SendItem {
            pk: pk(person),
            sk: sk.to_owned(),
            category: sent.category,
            at: sent.at.as_second(),
            expires_at: (sent.at + keep).as_second(),
        };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(corrupt)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)
    }
}

impl SendLog for DynamoContacts {
    async fn recent_sends(&self, person: &ContactRef, since: Timestamp) -> Result<SendHistory, StoreError> {
        // One query reads the sends and the log's version item (`SENDS` sorts beside `SEND#…`).
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :send)")
                .expression_attribute_values(":pk", s(pk(person)))
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
        person: &ContactRef,
        message_id: &str,
        sent: SentRecord,
        keep: jiff::SignedDuration,
        read: &SendHistory,
    ) -> Result<Reservation, StoreError> {
        let put = self.send_put(person, &format!("{SEND_PREFIX}{message_id}"), sent, keep)?;
        // The version moves with every reservation: a second sender that read the same history
        // finds it moved and decides again (it will see this send).
        let bump = Update::builder()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([("pk".to_owned(), s(pk(person))), ("sk".to_owned(), s(SEND_VERSION))])))
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

    async fn record_sent(
        &self,
        person: &ContactRef,
        key: &str,
        sent: SentRecord,
        keep: jiff::SignedDuration,
    ) -> Result<(), StoreError> {
        let put = self.send_put(person, &format!("{SEND_PREFIX}{ECHO_PREFIX}{key}"), sent, keep)?;
        // Unconditional on the version (a send that happened is not refused), but moving it: a
        // sender that read the log before this send finds it moved and decides again.
        let bump = Update::builder()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([("pk".to_owned(), s(pk(person))), ("sk".to_owned(), s(SEND_VERSION))])))
            .update_expression("ADD version :one")
            .expression_attribute_values(":one", n(&1))
            .build()
            .map_err(unavailable)?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(bump).build()];
        match transact(&self.client, items).await {
            Ok(()) => Ok(()),
            // Already recorded (Meta retried the webhook, or SQS redelivered it).
            Err(e) if matches!(cancelled_conditions(&e).as_deref(), Some([true, ..])) => Ok(()),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn release_send(&self, person: &ContactRef, message_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([
                ("pk".to_owned(), s(pk(person))),
                ("sk".to_owned(), s(format!("{SEND_PREFIX}{message_id}"))),
            ])))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
