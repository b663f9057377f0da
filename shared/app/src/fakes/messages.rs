//! The messages table in memory: messages with their idempotency keys and wamids, the due
//! index, campaigns with their chunks and counters, the service allowances, and the outbox —
//! the same rules as `polite_adapters::messages` (a move only from the state it was decided
//! on, counters moving once per real transition, pricing counted once, every move the business
//! hears about told in the outbox), without the optimistic concurrency a single lock makes
//! unneeded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use polite_domain::ContactRef;
use polite_domain::campaign::{
    AUDIENCE_CHUNK, CampaignChunk, CampaignRecord, CampaignStatus, CampaignTally, NewCampaign, PricedCount, Reader,
    StatusChange,
};
use polite_domain::events::Event;
use polite_domain::export::ExportJob;
use polite_domain::message::{Due, HistoryEntry, MessageState, Transition, TransitionDetails, due_shard};
use polite_domain::ports::{
    CampaignCompletion, CampaignStore, CreateError, DueIndex, ExportStore, MessageEraser, MessageIntake, MessageMoves,
    MessageReader, Outbox, PublishedEvents, StatusLedger, StoreError,
};
use polite_domain::record::{MessagePage, MessageRecord, Moved, NewMessage};
use polite_domain::status::{StatusOutcome, StatusUpdate};

use super::{MemoryOutbox, lock};

/// The outbox's table name, for [`PublishedEvents::scrub`].
pub const MESSAGES_TABLE: &str = "MessagesTable";

/// An idempotency key's record: what it created, for which body.
#[derive(Debug, Clone)]
struct Key {
    id: String,
    body_hash: String,
}

#[derive(Debug, Default)]
struct Table {
    messages: BTreeMap<String, MessageRecord>,
    keys: HashMap<String, Key>,
    campaign_keys: HashMap<String, Key>,
    wamids: HashMap<String, String>,
    campaigns: BTreeMap<String, CampaignRecord>,
    completed: BTreeSet<String>,
    /// (campaign, index) → the chunk, its campaign as created, and when it is due.
    chunks: BTreeMap<(String, u32), (CampaignChunk, CampaignRecord, Timestamp)>,
    tallies: BTreeMap<String, CampaignTally>,
    /// (campaign, export) → the export and when it is due (none once done).
    exports: BTreeMap<(String, String), (ExportJob, Option<Timestamp>)>,
    usage: HashMap<String, u64>,
    /// Creations left before the table fails them ([`MemoryMessages::fail_after`]).
    creates_left: Option<usize>,
}

/// The messages table: [`MessageStore`], [`CampaignStore`] and the table's [`Outbox`]. A
/// clone is the same table (as two functions' clients of one DynamoDB table are).
#[derive(Debug, Clone)]
pub struct MemoryMessages {
    table: Arc<Mutex<Table>>,
    outbox: Arc<MemoryOutbox>,
}

impl Default for MemoryMessages {
    fn default() -> Self {
        MemoryMessages {
            table: Arc::new(Mutex::new(Table::default())),
            outbox: Arc::new(MemoryOutbox::new(MESSAGES_TABLE)),
        }
    }
}

impl MemoryMessages {
    /// Makes the table fail every creation after the next `creates` (a fan-out dying half-way,
    /// DynamoDB throttled); `None` makes it whole again.
    pub fn fail_after(&self, creates: Option<usize>) {
        lock(&self.table).creates_left = creates;
    }

    /// The table's outbox.
    pub fn outbox(&self) -> &MemoryOutbox {
        &self.outbox
    }

    fn tell(&self, events: impl IntoIterator<Item = Event>) {
        let mut items = lock(&self.outbox.items);
        for event in events {
            if !items.iter().any(|(id, _)| id == event.id()) {
                items.push((event.id().to_owned(), super::OutboxItem { event: Some(event) }));
            }
        }
    }
}

/// `record` as the table keeps it: a due time only in the states the tick looks at.
fn stored(mut record: MessageRecord) -> MessageRecord {
    record.due_at = record.due_at.filter(|_| record.state.is_cancellable());
    record
}

/// What an idempotency key created, if anything; a conflict for another body.
fn owner(keys: &HashMap<String, Key>, key: &str, body_hash: &str) -> Result<Option<String>, CreateError> {
    match keys.get(key) {
        None => Ok(None),
        Some(k) if k.body_hash == body_hash => Ok(Some(k.id.clone())),
        Some(_) => Err(CreateError::IdempotencyConflict),
    }
}

fn missing(what: &str) -> CreateError {
    CreateError::Store(StoreError::Corrupt(format!("idempotency record points at no {what}")))
}

impl Table {
    fn tally(&mut self, campaign: Option<&String>) -> Option<&mut CampaignTally> {
        campaign.map(|c| self.tallies.entry(c.clone()).or_default())
    }

    /// Writes `from → next` (or, for a status that moved nothing, `next` as it is) with what it
    /// carries: the wamid lookup, the counters, a first pricing and its allowance. The event
    /// to tell, when the state moved to one the business hears about.
    fn write(
        &mut self,
        from: MessageState,
        next: &MessageRecord,
        entry: &HistoryEntry,
        new_wamid: Option<&str>,
        priced: Option<&StatusUpdate>,
    ) -> Option<Event> {
        self.messages.insert(next.id.clone(), stored(next.clone()));
        if let Some(wamid) = new_wamid {
            self.wamids.insert(wamid.to_owned(), next.id.clone());
        }
        let moved = from != next.state;
        if let Some(tally) = self.tally(next.campaign_id.as_ref()) {
            if moved {
                *tally.states.entry(next.state).or_default() += 1;
                *tally.states.entry(from).or_default() -= 1;
            }
            if let (Some(pricing), Some(_)) = (&next.pricing, priced) {
                let count: &mut PricedCount = tally.pricing.entry(pricing.category().to_owned()).or_default();
                count.priced += 1;
                count.billable += i64::from(pricing.billable());
                *count.types.entry(pricing.kind().to_owned()).or_default() += 1;
                if let Some(estimate) = &next.estimated_cost {
                    count.estimated += 1;
                    *count.estimated_cost.entry(estimate.currency.clone()).or_default() += estimate.amount;
                }
            }
        }
        if let Some(allowance) = priced.and_then(|u| u.allowance.as_deref()) {
            *self.usage.entry(allowance.to_owned()).or_default() += 1;
        }
        if moved { Event::of_move(next, entry) } else { None }
    }
}

impl MessageIntake for MemoryMessages {
    async fn create(&self, new: &NewMessage) -> Result<MessageRecord, CreateError> {
        let told = {
            let mut table = lock(&self.table);
            if let Some(left) = table.creates_left.as_mut() {
                if *left == 0 {
                    return Err(CreateError::Store(StoreError::Unavailable("the table fails (fail_after)".into())));
                }
                *left -= 1;
            }
            if let Some(key) = &new.idempotency_key
                && let Some(id) = owner(&table.keys, key, &new.body_hash)?
            {
                return table.messages.get(&id).cloned().ok_or_else(|| missing("message"));
            }
            let record = &new.record;
            if table.messages.contains_key(&record.id) {
                return Err(CreateError::Store(StoreError::Corrupt(format!("message {} exists", record.id))));
            }
            table.messages.insert(record.id.clone(), stored(record.clone()));
            if let Some(key) = &new.idempotency_key {
                table.keys.insert(key.clone(), Key { id: record.id.clone(), body_hash: new.body_hash.clone() });
            }
            if let Some(tally) = table.tally(record.campaign_id.as_ref()) {
                *tally.states.entry(record.state).or_default() += 1;
            }
            record.history.last().and_then(|entry| Event::of_move(record, entry))
        };
        self.tell(told);
        Ok(new.record.clone())
    }

    async fn replay(&self, idempotency_key: &str, body_hash: &str) -> Result<Option<MessageRecord>, CreateError> {
        let table = lock(&self.table);
        match owner(&table.keys, idempotency_key, body_hash)? {
            None => Ok(None),
            Some(id) => table.messages.get(&id).cloned().map(Some).ok_or_else(|| missing("message")),
        }
    }
}

impl MessageReader for MemoryMessages {
    async fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.table).messages.get(id).cloned())
    }

    async fn campaign_tally(&self, campaign_id: &str) -> Result<CampaignTally, StoreError> {
        let table = lock(&self.table);
        let held = table.tallies.get(campaign_id);
        let states = MessageState::ALL
            .into_iter()
            .map(|state| (state, held.and_then(|t| t.states.get(&state).copied()).unwrap_or(0)))
            .collect();
        Ok(CampaignTally { states, pricing: held.map(|t| t.pricing.clone()).unwrap_or_default() })
    }

    async fn allowance_used(&self, allowance: &str) -> Result<u64, StoreError> {
        Ok(lock(&self.table).usage.get(allowance).copied().unwrap_or(0))
    }

    async fn campaign_messages(
        &self,
        campaign_id: &str,
        state: Option<MessageState>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        let table = lock(&self.table);
        let mut matching = table
            .messages
            .values()
            .filter(|m| m.campaign_id.as_deref() == Some(campaign_id))
            .filter(|m| after.is_none_or(|a| m.id.as_str() > a))
            .filter(|m| state.is_none_or(|s| m.state == s));
        let messages: Vec<MessageRecord> = matching.by_ref().take(limit.max(1)).cloned().collect();
        let next = if matching.next().is_some() { messages.last().map(|m| m.id.clone()) } else { None };
        Ok(MessagePage { messages, next })
    }

    async fn campaign_status(&self, campaign_id: &str) -> Result<Option<CampaignStatus>, StoreError> {
        Ok(lock(&self.table).campaigns.get(campaign_id).map(|c| c.status))
    }
}

impl MessageMoves for MemoryMessages {
    async fn transition(
        &self,
        id: &str,
        from: &[MessageState],
        to: MessageState,
        at: Timestamp,
        details: TransitionDetails,
    ) -> Result<Moved, StoreError> {
        let (moved, told) = {
            let mut table = lock(&self.table);
            let Some(current) = table.messages.get(id).cloned() else { return Ok(Moved::No(None)) };
            if !from.contains(&current.state) {
                return Ok(Moved::No(Some(current.state)));
            }
            let (next, entry) = current.moved(to, at, &details);
            let told = table.write(current.state, &next, &entry, details.wamid.as_deref(), None);
            (Moved::Yes(Box::new(next)), told)
        };
        self.tell(told);
        Ok(moved)
    }

    async fn transition_from(
        &self,
        current: &MessageRecord,
        to: MessageState,
        at: Timestamp,
        details: TransitionDetails,
    ) -> Result<Moved, StoreError> {
        let (moved, told) = {
            let mut table = lock(&self.table);
            match table.messages.get(&current.id).map(|m| m.state) {
                Some(state) if state == current.state => {
                    let (next, entry) = current.moved(to, at, &details);
                    let told = table.write(current.state, &next, &entry, details.wamid.as_deref(), None);
                    (Moved::Yes(Box::new(next)), told)
                }
                other => (Moved::No(other), None),
            }
        };
        self.tell(told);
        Ok(moved)
    }
}

impl StatusLedger for MemoryMessages {
    async fn apply_status(&self, id: &str, update: &StatusUpdate) -> Result<Option<Transition>, StoreError> {
        let (transition, told) = {
            let mut table = lock(&self.table);
            let Some(current) = table.messages.get(id).cloned() else { return Ok(None) };
            let StatusOutcome { next, entry, transition, new_wamid, priced, .. } =
                match polite_domain::status::outcome(&current, update) {
                    Ok(outcome) => outcome,
                    Err(answer) => return Ok(Some(answer)),
                };
            let told = table.write(current.state, &next, &entry, new_wamid.as_deref(), priced.then_some(update));
            (transition, told)
        };
        self.tell(told);
        Ok(Some(transition))
    }

    async fn message_for_wamid(&self, wamid: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.table).wamids.get(wamid).cloned())
    }
}

impl DueIndex for MemoryMessages {
    async fn due(&self, shard: u8, now: Timestamp, limit: i32) -> Result<Vec<Due>, StoreError> {
        let table = lock(&self.table);
        let messages = table.messages.values().filter_map(|m| {
            let at = m.due_at.filter(|at| *at <= now && due_shard(&m.id) == shard)?;
            Some((at, Due::Message(m.id.clone())))
        });
        let chunks = table.chunks.iter().filter_map(|((campaign_id, index), (_, _, at))| {
            let due = *at <= now && due_shard(&format!("{campaign_id}#{index}")) == shard;
            due.then(|| (*at, Due::Chunk { campaign_id: campaign_id.clone(), index: *index }))
        });
        let exports = table.exports.iter().filter_map(|((campaign_id, export_id), (_, at))| {
            let at = at.filter(|at| *at <= now && due_shard(&format!("{campaign_id}#{export_id}")) == shard)?;
            Some((at, Due::Export { campaign_id: campaign_id.clone(), export_id: export_id.clone() }))
        });
        let mut due: Vec<(Timestamp, Due)> = messages.chain(chunks).chain(exports).collect();
        due.sort();
        Ok(due.into_iter().take(usize::try_from(limit).unwrap_or(0)).map(|(_, d)| d).collect())
    }

    async fn set_aside(&self, id: &str, until: Timestamp) -> Result<(), StoreError> {
        if let Some(message) = lock(&self.table).messages.get_mut(id)
            && message.due_at.is_some()
        {
            message.due_at = Some(until);
        }
        Ok(())
    }
}

impl MessageEraser for MemoryMessages {
    async fn erase_person(&self, contact: &ContactRef, at: Timestamp) -> Result<usize, StoreError> {
        let (in_flight, told) = {
            let mut table = lock(&self.table);
            let theirs: Vec<MessageRecord> = table.messages.values().filter(|m| m.to == *contact).cloned().collect();
            let (mut in_flight, mut told) = (0, Vec::new());
            for record in theirs {
                if record.state == MessageState::Sending {
                    in_flight += 1;
                    continue;
                }
                if record.state.is_waiting() {
                    let details = TransitionDetails { reason: Some("erased".into()), ..TransitionDetails::default() };
                    let (next, entry) = record.moved(MessageState::Suppressed, at, &details);
                    told.extend(table.write(record.state, &next, &entry, None, None));
                }
                for wamid in record.wamid.iter().chain(&record.refused_wamids) {
                    table.wamids.remove(wamid);
                }
                table.messages.remove(&record.id);
            }
            (in_flight, told)
        };
        self.tell(told);
        Ok(in_flight)
    }
}

impl CampaignStore for MemoryMessages {
    async fn create_campaign(&self, new: &NewCampaign) -> Result<CampaignRecord, CreateError> {
        let mut table = lock(&self.table);
        if let Some(key) = &new.idempotency_key
            && let Some(id) = owner(&table.campaign_keys, key, &new.body_hash)?
        {
            return table.campaigns.get(&id).cloned().ok_or_else(|| missing("campaign"));
        }
        let record = &new.record;
        table.campaigns.insert(record.id.clone(), record.clone());
        if let Some(key) = &new.idempotency_key {
            table.campaign_keys.insert(key.clone(), Key { id: record.id.clone(), body_hash: new.body_hash.clone() });
        }
        for chunk in &new.chunks {
            table.chunks.insert((record.id.clone(), chunk.index), (chunk.clone(), record.clone(), record.created_at));
        }
        Ok(record.clone())
    }

    async fn campaign_replay(
        &self,
        idempotency_key: &str,
        body_hash: &str,
    ) -> Result<Option<CampaignRecord>, CreateError> {
        let table = lock(&self.table);
        match owner(&table.campaign_keys, idempotency_key, body_hash)? {
            None => Ok(None),
            Some(id) => table.campaigns.get(&id).cloned().map(Some).ok_or_else(|| missing("campaign")),
        }
    }

    async fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        Ok(lock(&self.table).campaigns.get(id).cloned())
    }

    async fn claim_chunk(
        &self,
        campaign_id: &str,
        index: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<(CampaignRecord, CampaignChunk)>, StoreError> {
        let mut table = lock(&self.table);
        match table.chunks.get_mut(&(campaign_id.to_owned(), index)) {
            Some((chunk, campaign, due)) if *due <= now => {
                *due = lease_until;
                Ok(Some((campaign.clone(), chunk.clone())))
            }
            _ => Ok(None),
        }
    }

    async fn finish_chunk(&self, campaign_id: &str, index: u32) -> Result<(), StoreError> {
        lock(&self.table).chunks.remove(&(campaign_id.to_owned(), index));
        Ok(())
    }

    async fn schedule_chunk(
        &self,
        campaign: &CampaignRecord,
        chunk: &CampaignChunk,
        due: Timestamp,
    ) -> Result<(), StoreError> {
        lock(&self.table).chunks.insert((campaign.id.clone(), chunk.index), (chunk.clone(), campaign.clone(), due));
        Ok(())
    }

    async fn advance_reader(
        &self,
        campaign_id: &str,
        from: &Reader,
        to: &Reader,
        due: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut table = lock(&self.table);
        let key = (campaign_id.to_owned(), AUDIENCE_CHUNK);
        match table.chunks.get_mut(&key) {
            Some((chunk, _, at)) if chunk.reader.as_ref() == Some(from) => {
                chunk.reader = Some(to.clone());
                *at = due;
            }
            _ => return Ok(false),
        }
        if to.cursor.done {
            table.chunks.remove(&key);
        }
        let campaign = table
            .campaigns
            .get_mut(campaign_id)
            .ok_or_else(|| StoreError::Corrupt("a reader without its campaign".into()))?;
        campaign.accepted = usize::try_from(to.accepted).unwrap_or(usize::MAX);
        campaign.rejected = usize::try_from(to.rejected).unwrap_or(usize::MAX);
        if let Some(audience) = campaign.audience.as_mut() {
            audience.read = to.cursor.lines;
            audience.done = to.cursor.done;
        }
        Ok(true)
    }

    async fn set_campaign_status(
        &self,
        campaign_id: &str,
        from: &[CampaignStatus],
        to: CampaignStatus,
    ) -> Result<StatusChange, StoreError> {
        let mut table = lock(&self.table);
        Ok(match table.campaigns.get_mut(campaign_id) {
            None => StatusChange::Unknown,
            Some(campaign) if from.contains(&campaign.status) => {
                campaign.status = to;
                StatusChange::Changed(Box::new(campaign.clone()))
            }
            Some(campaign) => StatusChange::Refused(campaign.status),
        })
    }
}

impl ExportStore for MemoryMessages {
    async fn create_export(&self, job: &ExportJob) -> Result<(), StoreError> {
        let key = (job.campaign_id.clone(), job.id.clone());
        lock(&self.table).exports.insert(key, (job.clone(), Some(job.created_at)));
        Ok(())
    }

    async fn export(&self, campaign_id: &str, export_id: &str) -> Result<Option<ExportJob>, StoreError> {
        let key = (campaign_id.to_owned(), export_id.to_owned());
        Ok(lock(&self.table).exports.get(&key).map(|(job, _)| job.clone()))
    }

    async fn claim_export(
        &self,
        campaign_id: &str,
        export_id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ExportJob>, StoreError> {
        let mut table = lock(&self.table);
        match table.exports.get_mut(&(campaign_id.to_owned(), export_id.to_owned())) {
            Some((job, due)) if due.is_some_and(|at| at <= now) => {
                *due = Some(lease_until);
                Ok(Some(job.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn advance_export(&self, from: &ExportJob, to: &ExportJob, due: Timestamp) -> Result<bool, StoreError> {
        let mut table = lock(&self.table);
        match table.exports.get_mut(&(from.campaign_id.clone(), from.id.clone())) {
            Some((job, at)) if (job.files, job.all_files, job.done) == (from.files, from.all_files, from.done) => {
                *job = to.clone();
                *at = (!to.done).then_some(due);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl CampaignCompletion for MemoryMessages {
    async fn complete_if_done(&self, campaign_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        let tally = self.campaign_tally(campaign_id).await?;
        let told = {
            let mut table = lock(&self.table);
            let Some(campaign) = table.campaigns.get(campaign_id) else { return Ok(false) };
            if !campaign.may_complete(&tally) || !table.completed.insert(campaign_id.to_owned()) {
                return Ok(false);
            }
            Event::campaign_completed(campaign_id, &tally.counts(), at)
        };
        self.tell([told]);
        Ok(true)
    }
}

impl Outbox for MemoryMessages {
    async fn publish(&self, event: &Event, at: Timestamp) -> Result<(), StoreError> {
        self.outbox.publish(event, at).await
    }
}

impl PublishedEvents for MemoryMessages {
    async fn scrub(&self, table: &str, event_id: &str) -> Result<(), StoreError> {
        self.outbox.scrub(table, event_id).await
    }
}
