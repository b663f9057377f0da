//! contacts-api's use cases: a person as the API knows them, a business-side consent capture,
//! and erasure — of the person, every identity of theirs, and every message to any of them.

use jiff::Timestamp;
use polite_domain::ContactRef;
use polite_domain::consent::ConsentEvent;
use polite_domain::contact::ContactRecord;
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
