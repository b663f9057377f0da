//! The contacts table in memory: persons found by any of their identities, the consent ledger,
//! erasure tombstones, identity links and merges, the send log and the outbox — the same
//! rules as `polite_adapters::contacts` (times kept to the second, a ledger event recorded once,
//! the latest event per category current, a merged person's ledger, settings, times and
//! sends carried over), without the optimistic concurrency a single lock makes unneeded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use polite_domain::caps::{Reservation, SendHistory, SentRecord};
use polite_domain::consent::{Applied, ConsentEvent, ConsentState, ConsentStatus};
use polite_domain::consent_import::ImportJob;
use polite_domain::contact::{ConsentAppend, ContactRecord, ContactSettings, Linked};
use polite_domain::events::{Event, EventContact};
use polite_domain::hours::QuietHours;
use polite_domain::people::{Identities, Observation};
use polite_domain::ports::{
    ContactEraser, ContactReader, ContactWriter, DeliveryMarks, ImportStore, Outbox, PublishedEvents, SendLog,
    StoreError,
};
use polite_domain::{ContactRef, IanaZone};

use super::{Logs, MemoryOutbox, lock, to_the_second};

/// A person as stored under their key.
#[derive(Debug, Default, Clone)]
struct Profile {
    identities: Option<Identities>,
    consent: ConsentState,
    timezone: Option<IanaZone>,
    quiet_hours: Option<QuietHours>,
    locale: Option<String>,
    last_inbound_at: Option<Timestamp>,
    username: Option<String>,
    undeliverable_until: Option<Timestamp>,
    blocked_at: Option<Timestamp>,
}

/// The times a profile keeps, each moving only forward.
#[derive(Debug, Clone, Copy)]
enum Time {
    LastInbound,
    Undeliverable,
    Blocked,
}

/// Everything the table holds, by the key it is stored under.
#[derive(Debug, Default)]
struct Book {
    profiles: BTreeMap<ContactRef, Profile>,
    ledgers: BTreeMap<ContactRef, Vec<ConsentEvent>>,
    /// Identity → the key of the person it belongs to.
    links: BTreeMap<ContactRef, ContactRef>,
    /// Erased identities and when (the table keeps only their keyed hashes).
    tombstones: BTreeMap<ContactRef, Timestamp>,
    logs: Logs,
    imports: BTreeMap<String, ImportJob>,
}

/// The contacts table: [`ContactStore`], its [`SendLog`] and its [`Outbox`]. A clone is the
/// same table (as two functions' clients of one DynamoDB table are).
#[derive(Debug, Clone)]
pub struct MemoryContacts {
    book: Arc<Mutex<Book>>,
    hash_key: Vec<u8>,
    outbox: Arc<MemoryOutbox>,
}

/// The outbox's table name, for [`PublishedEvents::scrub`].
pub const CONTACTS_TABLE: &str = "ContactsTable";

impl MemoryContacts {
    /// An empty table whose erasure events name identities by `hash_key`'s keyed hashes.
    pub fn new(hash_key: &[u8]) -> Self {
        MemoryContacts {
            book: Arc::new(Mutex::new(Book::default())),
            hash_key: hash_key.to_vec(),
            outbox: Arc::new(MemoryOutbox::new(CONTACTS_TABLE)),
        }
    }

    /// The table's outbox.
    pub fn outbox(&self) -> &MemoryOutbox {
        &self.outbox
    }

    /// Puts `events` in the outbox (once each), as the table's writes do with theirs.
    fn tell(&self, events: impl IntoIterator<Item = Event>) {
        let mut items = lock(&self.outbox.items);
        for event in events {
            if !items.iter().any(|(id, _)| id == event.id()) {
                items.push((event.id().to_owned(), super::OutboxItem { event: Some(event) }));
            }
        }
    }
}

impl Book {
    /// The key of the person `identity` belongs to.
    fn person_of(&self, identity: &ContactRef) -> ContactRef {
        self.links.get(identity).filter(|p| *p != identity).cloned().unwrap_or_else(|| identity.clone())
    }

    fn linked(&self, identity: &ContactRef) -> bool {
        self.links.get(identity).is_some_and(|p| p != identity)
    }

    fn identities_of(&self, person: &ContactRef) -> Identities {
        identities_in(person, self.profiles.get(person))
    }

    /// Appends `event` to `person`'s ledger (`asked`: the identity it came by); the event to
    /// tell when it became the category's current state.
    fn append(
        &mut self,
        person: &ContactRef,
        asked: &ContactRef,
        event: &ConsentEvent,
    ) -> (ConsentAppend, Option<Event>) {
        let ledger = self.ledgers.entry(person.clone()).or_default();
        if ledger.iter().any(|e| e.id == event.id) {
            return (ConsentAppend::Duplicate, None);
        }
        ledger.push(event.clone());
        let mut state = self.profiles.get(person).map(|p| p.consent.clone()).unwrap_or_default();
        let changed = state.apply(event) == Applied::Changed;
        let mut told = None;
        if changed {
            let identities = self.identities_of(person);
            self.profiles.entry(person.clone()).or_default().consent = state;
            told = Some(Event::consent_changed(&EventContact::of(person, &identities), event));
        }
        let lifts = event.status == ConsentStatus::OptedIn
            && self.tombstones.get(asked).is_some_and(|erased_at| event.occurred_at > *erased_at);
        if lifts {
            self.tombstones.remove(asked);
        }
        (ConsentAppend::Recorded { changed }, told)
    }

    /// Sets a time of `person`'s profile (creating it) unless a later one is there; `username`
    /// goes with the inbound time, which also clears an undeliverable mark.
    fn set_later(&mut self, person: &ContactRef, which: Time, at: Timestamp, username: Option<&str>) {
        let at = to_the_second(at);
        let profile = self.profiles.entry(person.clone()).or_default();
        let slot = match which {
            Time::LastInbound => &mut profile.last_inbound_at,
            Time::Undeliverable => &mut profile.undeliverable_until,
            Time::Blocked => &mut profile.blocked_at,
        };
        if slot.is_some_and(|held| held >= at) {
            return;
        }
        *slot = Some(at);
        if let Some(username) = username {
            profile.username = Some(username.to_owned());
        }
        if matches!(which, Time::LastInbound) {
            profile.undeliverable_until = None;
        }
    }

    fn set_settings(&mut self, person: &ContactRef, settings: &ContactSettings) -> Profile {
        let profile = self.profiles.entry(person.clone()).or_default();
        if let Some(zone) = &settings.timezone {
            profile.timezone = Some(zone.clone());
        }
        if let Some(hours) = settings.quiet_hours {
            profile.quiet_hours = Some(hours);
        }
        if let Some(locale) = &settings.locale {
            profile.locale = Some(locale.clone());
        }
        profile.clone()
    }

    /// Deletes what is stored under `identity`; a merge gives `sends_to`, where its sends go
    /// first (moving that log's version), and keeps its link (already pointing there).
    fn delete_partition(&mut self, identity: &ContactRef, sends_to: Option<&ContactRef>) {
        self.profiles.remove(identity);
        self.ledgers.remove(identity);
        let log = self.logs.remove(identity);
        match sends_to {
            Some(to) => {
                if let Some(log) = log.filter(|l| !l.sends.is_empty()) {
                    let target = self.logs.entry(to.clone()).or_default();
                    target.sends.extend(log.sends);
                    target.version += 1;
                }
            }
            None => {
                self.links.remove(identity);
            }
        }
    }

    /// Folds the person under `from` (as read: `seen`) into the one under `to` (as read:
    /// `into`); the events carried over and the changes to tell.
    fn fold_into(&mut self, to: &ContactRef, from: &ContactRef, seen: &Profile, into: &Profile) -> (usize, Vec<Event>) {
        let settings = ContactSettings {
            timezone: if into.timezone.is_none() { seen.timezone.clone() } else { None },
            quiet_hours: if into.quiet_hours.is_none() { seen.quiet_hours } else { None },
            locale: if into.locale.is_none() { seen.locale.clone() } else { None },
        };
        self.set_settings(to, &settings);
        for (which, at) in [
            (Time::LastInbound, seen.last_inbound_at),
            (Time::Undeliverable, seen.undeliverable_until),
            (Time::Blocked, seen.blocked_at),
        ] {
            if let Some(at) = at {
                let username = if matches!(which, Time::LastInbound) { seen.username.as_deref() } else { None };
                self.set_later(to, which, at, username);
            }
        }
        let (mut moved, mut told) = (0, Vec::new());
        for event in sorted(self.ledgers.get(from).cloned().unwrap_or_default()) {
            let (appended, event) = self.append(to, from, &event);
            if matches!(appended, ConsentAppend::Recorded { .. }) {
                moved += 1;
            }
            told.extend(event);
        }
        self.delete_partition(from, Some(to));
        (moved, told)
    }

    /// [`ContactWriter::observe`]: the links and merges, and what to tell.
    fn observe(&mut self, observation: &Observation) -> (Linked, Vec<Event>) {
        let named = observation.identities();
        // The stored persons involved: each person found, and a profile under a linked identity.
        let mut persons: BTreeMap<ContactRef, Profile> = BTreeMap::new();
        for id in &named {
            let person = self.person_of(id);
            if let Some(profile) = self.profiles.get(&person) {
                persons.entry(person).or_insert_with(|| profile.clone());
            }
            if self.linked(id)
                && let Some(stray) = self.profiles.get(id)
            {
                persons.entry(id.clone()).or_insert_with(|| stray.clone());
            }
        }
        let mut identities = Identities::default();
        for (key, profile) in &persons {
            identities.merge(&identities_in(key, Some(profile)));
        }
        identities.observe(observation);
        let current: BTreeSet<&ContactRef> = identities.current().collect();
        let target = persons.keys().chain(&named).find(|k| current.contains(k)).cloned();
        let lone = persons.is_empty() && named.len() < 2;
        let Some(target) = target.filter(|_| !lone) else { return (Linked::default(), Vec::new()) };
        let into = persons.get(&target).cloned();
        let sources: Vec<(ContactRef, Profile)> =
            persons.iter().filter(|(k, _)| **k != target).map(|(k, p)| (k.clone(), p.clone())).collect();

        let target_linked = named.contains(&target) && self.linked(&target);
        let (mut puts, mut deletes) = (Vec::new(), Vec::new());
        for id in identities.all().filter(|id| **id != target) {
            let named_here = named.contains(id);
            let finds_target = self.person_of(id) == target && self.linked(id);
            let keeps = current.contains(id) || matches!(id, ContactRef::User(_));
            if keeps {
                if !named_here || !finds_target {
                    puts.push(id.clone());
                }
            } else if (named_here && finds_target) || (!named_here && !sources.is_empty()) {
                deletes.push(id.clone());
            }
        }
        let unchanged = sources.is_empty()
            && puts.is_empty()
            && deletes.is_empty()
            && !target_linked
            && into.is_some()
            && identities_in(&target, into.as_ref()) == identities;
        if unchanged {
            return (Linked::default(), Vec::new());
        }
        let at = match observation {
            Observation::Together { at, .. }
            | Observation::NumberChanged { at, .. }
            | Observation::UserIdChanged { at, .. } => *at,
        };
        let mut told = Vec::new();
        let ids: Vec<String> = identities.current().map(ToString::to_string).collect();
        if ids.len() > 1 {
            told.push(Event::identity_linked(&EventContact::of(&target, &identities), &ids, at));
        }
        if target_linked {
            self.links.remove(&target);
        }
        self.profiles.entry(target.clone()).or_default().identities = Some(identities);
        for id in &puts {
            self.links.insert(id.clone(), target.clone());
        }
        for id in &deletes {
            self.links.remove(id);
        }
        let into = into.unwrap_or_default();
        let mut linked = Linked {
            links_changed: puts.len() + deletes.len() + usize::from(target_linked),
            merged: 0,
            events_moved: 0,
        };
        for (from, seen) in &sources {
            let (moved, events) = self.fold_into(&target, from, seen, &into);
            linked.merged += 1;
            linked.events_moved += moved;
            told.extend(events);
        }
        (linked, told)
    }
}

/// The person as the store answers: their key, identities, consent, settings and marks.
fn record(person: &ContactRef, profile: &Profile, erased: bool) -> ContactRecord {
    ContactRecord {
        identities: identities_in(person, Some(profile)),
        id: person.clone(),
        consent: profile.consent.clone(),
        timezone: profile.timezone.clone(),
        quiet_hours: profile.quiet_hours,
        locale: profile.locale.clone(),
        last_inbound_at: profile.last_inbound_at,
        username: profile.username.clone(),
        undeliverable_until: profile.undeliverable_until,
        blocked: profile.blocked_at.is_some_and(|b| profile.last_inbound_at.is_none_or(|i| b > i)),
        erased,
    }
}

/// The identities stored for `person` (just the key when none are).
fn identities_in(person: &ContactRef, profile: Option<&Profile>) -> Identities {
    profile.and_then(|p| p.identities.clone()).unwrap_or_else(|| Identities::of(person.clone(), Timestamp::UNIX_EPOCH))
}

/// A ledger oldest first, as the table reads it.
fn sorted(mut events: Vec<ConsentEvent>) -> Vec<ConsentEvent> {
    events.sort_by(|a, b| (a.occurred_at, a.recorded_at, &a.id).cmp(&(b.occurred_at, b.recorded_at, &b.id)));
    events
}

impl ImportStore for MemoryContacts {
    async fn create_import(&self, job: &ImportJob) -> Result<(), StoreError> {
        lock(&self.book).imports.insert(job.id.clone(), job.clone());
        Ok(())
    }

    async fn import_job(&self, id: &str) -> Result<Option<ImportJob>, StoreError> {
        Ok(lock(&self.book).imports.get(id).cloned())
    }

    async fn advance_import(&self, from: &ImportJob, to: &ImportJob) -> Result<bool, StoreError> {
        let mut book = lock(&self.book);
        match book.imports.get_mut(&from.id) {
            Some(job) if job.parts == from.parts => {
                *job = to.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl ContactReader for MemoryContacts {
    async fn get(&self, contact: &ContactRef) -> Result<Option<ContactRecord>, StoreError> {
        let book = lock(&self.book);
        let person = book.person_of(contact);
        let stray = if book.linked(contact) { book.profiles.get(contact) } else { None };
        let erased = book.tombstones.contains_key(contact);
        let mut profile = match (book.profiles.get(&person), erased, stray) {
            (None, false, None) => return Ok(None),
            (profile, _, _) => profile.cloned().unwrap_or_default(),
        };
        if let Some(stray) = stray {
            profile.consent.merge(&stray.consent);
        }
        Ok(Some(record(&person, &profile, erased)))
    }

    async fn consent_history(&self, contact: &ContactRef) -> Result<Vec<ConsentEvent>, StoreError> {
        let book = lock(&self.book);
        Ok(sorted(book.ledgers.get(&book.person_of(contact)).cloned().unwrap_or_default()))
    }
}

impl ContactWriter for MemoryContacts {
    async fn append_consent(&self, contact: &ContactRef, event: &ConsentEvent) -> Result<ConsentAppend, StoreError> {
        let (appended, told) = {
            let mut book = lock(&self.book);
            let person = book.person_of(contact);
            book.append(&person, contact, event)
        };
        self.tell(told);
        Ok(appended)
    }

    async fn record_inbound(
        &self,
        contact: &ContactRef,
        at: Timestamp,
        username: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut book = lock(&self.book);
        let person = book.person_of(contact);
        book.set_later(&person, Time::LastInbound, at, username);
        Ok(())
    }

    async fn observe(&self, observation: &Observation) -> Result<Linked, StoreError> {
        let (linked, told) = lock(&self.book).observe(observation);
        self.tell(told);
        Ok(linked)
    }

    async fn update_settings(
        &self,
        contact: &ContactRef,
        settings: &ContactSettings,
    ) -> Result<ContactRecord, StoreError> {
        let mut book = lock(&self.book);
        let person = book.person_of(contact);
        let profile = book.set_settings(&person, settings);
        let erased = book.tombstones.contains_key(contact);
        Ok(record(&person, &profile, erased))
    }
}

impl DeliveryMarks for MemoryContacts {
    async fn mark_undeliverable(&self, contact: &ContactRef, until: Timestamp) -> Result<(), StoreError> {
        let mut book = lock(&self.book);
        let person = book.person_of(contact);
        book.set_later(&person, Time::Undeliverable, until, None);
        Ok(())
    }

    async fn mark_blocked(&self, contact: &ContactRef, at: Timestamp) -> Result<(), StoreError> {
        let mut book = lock(&self.book);
        let person = book.person_of(contact);
        book.set_later(&person, Time::Blocked, at, None);
        Ok(())
    }
}

impl ContactEraser for MemoryContacts {
    async fn erase(&self, contact: &ContactRef) -> Result<Vec<ContactRef>, StoreError> {
        let erased_at = Timestamp::now();
        let all = {
            let mut book = lock(&self.book);
            let person = book.person_of(contact);
            let identities = book.identities_of(&person);
            let current: BTreeSet<&ContactRef> = identities.current().collect();
            let mut all: BTreeSet<ContactRef> = identities
                .all()
                .filter(|id| current.contains(id) || matches!(id, ContactRef::User(_)))
                .cloned()
                .collect();
            all.insert(contact.clone());
            all.insert(person);
            for id in &all {
                book.tombstones.insert(id.clone(), erased_at);
            }
            for id in &all {
                book.delete_partition(id, None);
            }
            all
        };
        let hashes: Vec<String> = all.iter().map(|id| id.keyed_hash(&self.hash_key)).collect();
        self.tell([Event::contact_erased(&hashes, erased_at)]);
        Ok(all.into_iter().collect())
    }
}

impl SendLog for MemoryContacts {
    async fn recent_sends(&self, person: &ContactRef, since: Timestamp) -> Result<SendHistory, StoreError> {
        Ok(super::recent_sends(&lock(&self.book).logs, person, since))
    }

    async fn reserve_send(
        &self,
        person: &ContactRef,
        message_id: &str,
        sent: SentRecord,
        _keep: SignedDuration,
        read: &SendHistory,
    ) -> Result<Reservation, StoreError> {
        Ok(super::reserve_send(&mut lock(&self.book).logs, person, message_id, sent, read))
    }

    async fn record_sent(
        &self,
        person: &ContactRef,
        key: &str,
        sent: SentRecord,
        _keep: SignedDuration,
    ) -> Result<(), StoreError> {
        super::record_sent(&mut lock(&self.book).logs, person, key, sent);
        Ok(())
    }

    async fn release_send(&self, person: &ContactRef, message_id: &str) -> Result<(), StoreError> {
        super::release_send(&mut lock(&self.book).logs, person, message_id);
        Ok(())
    }
}

impl Outbox for MemoryContacts {
    async fn publish(&self, event: &Event, at: Timestamp) -> Result<(), StoreError> {
        self.outbox.publish(event, at).await
    }
}

impl PublishedEvents for MemoryContacts {
    async fn scrub(&self, table: &str, event_id: &str) -> Result<(), StoreError> {
        self.outbox.scrub(table, event_id).await
    }
}
