//! contacts-api's use cases: a person as the API knows them, a business-side consent capture,
//! and erasure — of the person, every identity of theirs, and every message to any of them.

use jiff::Timestamp;
use polite_domain::ContactRef;
use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use polite_domain::audience_file::{AudienceCursor, AudienceFile, PART_BYTES};
use polite_domain::capture::{ImportRejection, Importable};
use polite_domain::consent::ConsentEvent;
use polite_domain::consent_import::{self, ImportJob, ImportNudge, NudgeAction, PartOutcome};
use polite_domain::contact::{ConsentAppend, ContactRecord};
use polite_domain::ports::{
    AudienceFiles, ContactEraser, ContactReader, ContactWriter, EventQueue, ImportStore, MessageEraser, ReportFiles,
    StoreError,
};

/// The person `contact` finds, as the API shows them: `None` for someone polite never heard
/// of — or erased with nothing since (only the tombstone is left: "never message them").
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn known<S: ContactReader + Sync>(
    store: &S,
    contact: &ContactRef,
) -> Result<Option<ContactRecord>, StoreError> {
    let record = store.get(contact).await?;
    Ok(record.filter(|c| {
        let empty = c.consent.marketing.is_none()
            && c.consent.utility.is_none()
            && c.timezone.is_none()
            && c.quiet_hours.is_none()
            && c.locale.is_none()
            && c.last_inbound_at.is_none();
        !(c.erased && empty)
    }))
}

/// Records a business-side consent capture for `contact` and answers the person as stored.
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn capture<S: ContactReader + ContactWriter + Sync>(
    store: &S,
    contact: &ContactRef,
    event: &ConsentEvent,
) -> Result<Option<ContactRecord>, StoreError> {
    store.append_consent(contact, event).await?;
    store.get(contact).await
}

/// What an import recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// New ledger events.
    pub recorded: usize,
    /// Of those, the ones that are now their category's current consent (the others are kept
    /// in the ledger, with a newer event deciding).
    pub current: usize,
    /// Records already in the ledger (a replay): nothing changed.
    pub already_recorded: usize,
    /// Records the store failed on (`not_recorded`): sending them again is safe.
    pub failed: Vec<ImportRejection>,
}

/// People whose records are recorded at once (each person's in `occurred_at` order).
const IMPORT_CONCURRENCY: usize = 16;

/// Records an import's checked records, several people at once and each person's in the
/// order they happened (the ledger orders them by `occurred_at` whatever the order they are
/// recorded in; in order, fewer writes are made current only to lose to the next). A record
/// the store fails on is reported, the others go on.
pub async fn import<S: ContactWriter + Sync>(store: &S, records: Vec<Importable>) -> Imported {
    let mut people: BTreeMap<String, Vec<Importable>> = BTreeMap::new();
    for record in records {
        people.entry(record.contact.to_string()).or_default().push(record);
    }
    let results: Vec<Imported> = futures_util::stream::iter(people.into_values())
        .map(|mut theirs| async move {
            theirs.sort_by_key(|r| (r.event.occurred_at, r.index));
            let mut done = Imported::default();
            for record in theirs {
                match store.append_consent(&record.contact, &record.event).await {
                    Ok(ConsentAppend::Recorded { changed }) => {
                        done.recorded += 1;
                        done.current += usize::from(changed);
                    }
                    Ok(ConsentAppend::Duplicate) => done.already_recorded += 1,
                    Err(e) => {
                        tracing::warn!(contact = %record.contact.masked(), error = %e, "consent record not recorded");
                        done.failed.push(ImportRejection {
                            index: record.index,
                            contact: Some(record.contact.to_string()),
                            reason: "not_recorded",
                            field: None,
                            detail: format!("{e}; send it again (recording is idempotent)"),
                        });
                    }
                }
            }
            done
        })
        .buffer_unordered(IMPORT_CONCURRENCY)
        .collect()
        .await;
    let mut total = Imported::default();
    for part in results {
        total.recorded += part.recorded;
        total.current += part.current;
        total.already_recorded += part.already_recorded;
        total.failed.extend(part.failed);
    }
    total.failed.sort_by_key(|f| f.index);
    total
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Every identity of the person, tombstoned.
    pub identities: Vec<ContactRef>,
    /// Messages left because Meta may be taking them this instant (`sending`): statuses settle
    /// them, and erasing again forgets them.
    pub in_flight: usize,
}

/// Erases the person `contact` finds — the tombstones first, so nothing is sent to them from
/// then on whatever is left — and then every message to any identity of theirs. Idempotent,
/// and for an unknown contact too: the tombstone is what the caller asked for.
///
/// # Errors
/// [`StoreError`] when a store fails (erasing again finishes the job).
pub async fn erase<S, M>(store: &S, messages: &M, contact: &ContactRef, now: Timestamp) -> Result<Erased, StoreError>
where
    S: ContactEraser + Sync,
    M: MessageEraser + Sync,
{
    let identities = store.erase(contact).await?;
    let mut in_flight = 0;
    for identity in &identities {
        in_flight += messages.erase_person(identity, now).await?;
    }
    Ok(Erased { identities, in_flight })
}

/// What reading consent imports' parts needs beside the contacts table: the files (read from
/// the audience bucket, results written under `imports/`) and the queue each next part's
/// message goes to (inbound-events).
#[derive(Debug)]
pub struct Importer<A, Q> {
    pub files: A,
    pub queue: Q,
}

/// Why an import from a file could not go on (the queue message is retried).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the contact store failed")]
    Store(#[from] StoreError),
    #[error("the next part could not be queued")]
    Queue(#[from] polite_domain::ports::QueueError),
    /// Records the store failed on: the part is read again (recording is idempotent).
    #[error("{0} records of the part were not recorded")]
    NotRecorded(usize),
}

/// The queue message asking for `nudge`'s part.
fn nudge_message(nudge: &ImportNudge) -> Result<polite_domain::ports::QueueMessage, StoreError> {
    let body = polite_domain::envelope::encode(polite_domain::envelope::kinds::CONSENT_IMPORT_PART, nudge)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(polite_domain::ports::QueueMessage { id: format!("part{}", nudge.part), body, delay_seconds: 0 })
}

/// Starts an import of `file` (checked, in the bucket polite reads): the job, then the first
/// part's message on `queue` (inbound-events, which consent-updater reads).
///
/// # Errors
/// [`ImportError`] when the job cannot be stored or the message queued (the caller asks
/// again: a new import; the one left behind never starts).
pub async fn start_import<S, Q>(
    store: &S,
    queue: &Q,
    file: AudienceFile,
    now: Timestamp,
) -> Result<ImportJob, ImportError>
where
    S: ImportStore + Sync,
    Q: EventQueue + Sync,
{
    let job = ImportJob::new(format!("imp_{}", uuid::Uuid::now_v7().simple()), file, now);
    store.create_import(&job).await?;
    queue.send_all(vec![nudge_message(&job.nudge())?]).await?;
    tracing::info!(import_id = %job.id, "consent import started");
    Ok(job)
}

/// What a part's message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartDone {
    /// The part was read: the job after it.
    Read(ImportJob),
    /// The import had stood still after this part: the next part's message was sent again.
    Resent,
    /// Nothing to do (a duplicate, an import done or unknown).
    Nothing,
}

/// Reads the part `nudge` asks for — if the import is still there — records its valid
/// records, writes its result file (and with the last part the summary), moves the import on
/// and queues the next part's message.
///
/// # Errors
/// [`ImportError`] when the file, a store or the queue fails: nothing has moved, and the
/// message's redelivery reads the part again.
pub async fn import_part<S, A, Q>(
    store: &S,
    files: &A,
    queue: &Q,
    nudge: &ImportNudge,
    now: Timestamp,
) -> Result<PartDone, ImportError>
where
    S: ContactWriter + ImportStore + Sync,
    A: AudienceFiles + ReportFiles + Sync,
    Q: EventQueue + Sync,
{
    let Some(job) = store.import_job(&nudge.import_id).await? else { return Ok(PartDone::Nothing) };
    match job.on_nudge(nudge.part, now) {
        NudgeAction::Read => {}
        NudgeAction::SendNext(next) => {
            queue.send_all(vec![nudge_message(&next)?]).await?;
            tracing::warn!(import_id = %job.id, part = next.part, "the import stood still: its next part asked again");
            return Ok(PartDone::Resent);
        }
        NudgeAction::Nothing => return Ok(PartDone::Nothing),
    }
    let bucket = files.export_bucket().map_err(|e| StoreError::Unavailable(e.into()))?.to_owned();
    let part = files.read_part(&job.file, job.cursor.offset, PART_BYTES).await?;
    let (lines, next) = if let Some(part) = part {
        let read = job.file.read_records(&job.cursor, &part.bytes, part.size);
        (read.lines, read.next)
    } else {
        // The file is gone (deleted, or never there): the import ends with what was read.
        tracing::error!(import_id = %job.id, file = %job.file, "the import file is not there");
        (Vec::new(), AudienceCursor { done: true, ..job.cursor.clone() })
    };
    let checked = consent_import::check_lines(lines, now);
    let results = consent_import::result_file(&checked);
    let valid = checked.records.len() as u64;
    let outcome = import(store, checked.records).await;
    if !outcome.failed.is_empty() {
        return Err(ImportError::NotRecorded(outcome.failed.len()));
    }
    files.put_file(&job.result_key(job.parts), results, "application/x-ndjson").await?;
    let part = PartOutcome {
        accepted: valid,
        rejected: checked.rejected.len() as u64,
        recorded: outcome.recorded as u64,
        already_recorded: outcome.already_recorded as u64,
    };
    let moved = job.after_part(next, &part, now);
    if moved.done {
        let summary = moved.summary(&bucket).to_string().into_bytes();
        files.put_file(&moved.summary_key(), summary, "application/json").await?;
    }
    if !store.advance_import(&job, &moved).await? {
        tracing::info!(import_id = %job.id, part = job.parts, "another reading of the part moved the import first");
        return Ok(PartDone::Nothing);
    }
    if !moved.done {
        queue.send_all(vec![nudge_message(&moved.nudge())?]).await?;
    }
    tracing::info!(
        import_id = %job.id,
        part = job.parts,
        lines = moved.cursor.lines,
        accepted = moved.accepted,
        rejected = moved.rejected,
        done = moved.done,
        "consent import part read"
    );
    Ok(PartDone::Read(moved))
}
