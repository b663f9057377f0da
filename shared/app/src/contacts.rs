//! contacts-api's use cases: a person as the API knows them, a business-side consent capture,
//! and erasure — of the person, every identity of theirs, and every message to any of them.

use jiff::Timestamp;
use polite_domain::ContactRef;
use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use polite_domain::capture::{ImportRejection, Importable};
use polite_domain::consent::ConsentEvent;
use polite_domain::contact::{ConsentAppend, ContactRecord};
use polite_domain::ports::{ContactEraser, ContactReader, ContactWriter, MessageEraser, StoreError};

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
