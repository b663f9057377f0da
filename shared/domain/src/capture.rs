//! Business-side consent captures: one (`PUT /v1/contacts/{contact}/consent`) or many at once
//! (`POST /v1/consents:import`), checked by the same rules.
//!
//! Each becomes a [`ConsentEvent`] whose id covers the contact and every field sent, so a
//! replayed record is the same event and the ledger records it once. Events are ordered by
//! `occurred_at` ([`crate::consent::ConsentState::apply`]): an old opt-in imported today
//! never overrides a newer STOP, whatever order the records arrive in.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ContactRef;
use crate::consent::{ConsentCategory, ConsentError, ConsentEvent, ConsentSource, ConsentStatus};
use crate::invalid::{Invalid, invalid};

/// How far in the future a business may date a consent capture (clock skew), no more.
pub const FUTURE_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// The most records one inline import takes.
pub const MAX_INLINE_RECORDS: usize = 1_000;

/// One capture as the business sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub category: ConsentCategory,
    pub status: ConsentStatus,
    pub source: String,
    #[serde(default)]
    pub evidence: Option<String>,
    /// When the customer gave or withdrew consent (required: see [`Capture::check`]).
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
}

impl Capture {
    /// The ledger event of this capture for `contact`, recorded at `now`.
    ///
    /// # Errors
    /// [`Invalid`] naming the field: a bad `source`, `evidence` over 2 000 characters, or an
    /// `occurred_at` missing (dated "now", a CRM's re-sync of an old opt-in would outrank a
    /// STOP the person sent in between) or in the future.
    pub fn check(self, contact: &ContactRef, now: Timestamp) -> Result<ConsentEvent, Invalid> {
        let source = ConsentSource::business(&self.source)
            .map_err(|e| invalid("source", format!("{e} (e.g. \"web_checkout\")")))?;
        let occurred_at = self.occurred_at.ok_or_else(|| {
            invalid(
                "occurred_at",
                "is required: when the customer gave or withdrew consent (RFC 3339, e.g. \"2026-11-20T10:00:00Z\")",
            )
        })?;
        if occurred_at > now + FUTURE_SKEW {
            return Err(invalid("occurred_at", "is in the future; send when the customer gave or withdrew consent"));
        }
        ConsentEvent::from_business(contact, self.category, self.status, source, self.evidence, occurred_at, now)
            .map_err(|e| match e {
                ConsentError::EvidenceTooLong => invalid("evidence", e.to_string()),
                ConsentError::InvalidSource => invalid("source", e.to_string()),
            })
    }
}

/// The body of `POST /v1/consents:import`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Each `{contact, category, status, source, evidence?, occurred_at}`; read one by one, so
    /// a bad record is rejected alone.
    pub records: Vec<serde_json::Value>,
}

/// One record of an import as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    contact: String,
    category: ConsentCategory,
    status: ConsentStatus,
    source: String,
    #[serde(default)]
    evidence: Option<String>,
    #[serde(default)]
    occurred_at: Option<Timestamp>,
}

/// A record that can be recorded: its place in the request, whom it is for, and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Importable {
    pub index: usize,
    pub contact: ContactRef,
    pub event: ConsentEvent,
}

/// A record not recorded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRejection {
    /// Its place in `records` (from 0); in a file's result, its line (from 1).
    pub index: usize,
    /// The contact as sent, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `invalid_record` (a field is missing, unknown or wrong: `field` names it),
    /// `invalid_contact`, or `not_recorded` (the store failed: send it again — recording is
    /// idempotent).
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub detail: String,
}

/// An import's records, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedImport {
    pub records: Vec<Importable>,
    pub rejected: Vec<ImportRejection>,
}

impl ImportRequest {
    /// Checks every record at `now`; a bad one is rejected alone.
    ///
    /// # Errors
    /// [`Invalid`] on `records` when there are none or more than [`MAX_INLINE_RECORDS`].
    pub fn check(self, now: Timestamp) -> Result<CheckedImport, Invalid> {
        if self.records.is_empty() {
            return Err(invalid("records", "must list at least one consent record"));
        }
        if self.records.len() > MAX_INLINE_RECORDS {
            return Err(invalid(
                "records",
                format!(
                    "lists {} records; one request takes at most {MAX_INLINE_RECORDS}: send them in several requests (each record is recorded once, whatever the order)",
                    self.records.len()
                ),
            ));
        }
        let mut records = Vec::with_capacity(self.records.len());
        let mut rejected = Vec::new();
        for (index, raw) in self.records.into_iter().enumerate() {
            match check_one(index, raw, now) {
                Ok(record) => records.push(record),
                Err(rejection) => rejected.push(rejection),
            }
        }
        Ok(CheckedImport { records, rejected })
    }
}

/// One record at `index` (its place in a request, or its line in a file), checked at `now`.
pub(crate) fn check_one(index: usize, raw: serde_json::Value, now: Timestamp) -> Result<Importable, ImportRejection> {
    let sent_contact = raw.get("contact").and_then(serde_json::Value::as_str).map(str::to_owned);
    match check_record(raw, now) {
        Ok((contact, event)) => Ok(Importable { index, contact, event }),
        Err((reason, field, detail)) => Err(ImportRejection { index, contact: sent_contact, reason, field, detail }),
    }
}

type Refusal = (&'static str, Option<&'static str>, String);

fn check_record(raw: serde_json::Value, now: Timestamp) -> Result<(ContactRef, ConsentEvent), Refusal> {
    let record: Record = serde_json::from_value(raw).map_err(|e| ("invalid_record", None, e.to_string()))?;
    let contact =
        ContactRef::parse(&record.contact).map_err(|e| ("invalid_contact", Some("contact"), e.to_string()))?;
    let capture = Capture {
        category: record.category,
        status: record.status,
        source: record.source,
        evidence: record.evidence,
        occurred_at: record.occurred_at,
    };
    let event = capture.check(&contact, now).map_err(|e| ("invalid_record", Some(e.field), e.problem))?;
    Ok((contact, event))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn request(records: serde_json::Value) -> ImportRequest {
        let serde_json::Value::Array(records) = records else { panic!("a list") };
        ImportRequest { records }
    }

    #[test]
    fn each_bad_record_is_rejected_alone_with_its_reason() {
        let checked = request(serde_json::json!([
            {"contact": "+5511987654321", "category": "marketing", "status": "opted_in", "source": "crm", "occurred_at": "2026-01-01T00:00:00Z"},
            {"contact": "not a number", "category": "marketing", "status": "opted_in", "source": "crm", "occurred_at": "2026-01-01T00:00:00Z"},
            {"contact": "+5511987654321", "category": "marketing", "status": "opted_in", "source": "crm"},
            {"contact": "+5511987654321", "category": "gossip", "status": "opted_in", "source": "crm", "occurred_at": "2026-01-01T00:00:00Z"},
            {"contact": "+5511987654321", "category": "marketing", "status": "opted_in", "source": "crm", "occurred_at": "2027-01-01T00:00:00Z"},
            "just text",
        ]))
        .check(now())
        .unwrap();
        assert_eq!(checked.records.len(), 1);
        let reasons: Vec<(usize, &str, Option<&str>)> =
            checked.rejected.iter().map(|r| (r.index, r.reason, r.field)).collect();
        assert_eq!(
            reasons,
            [
                (1, "invalid_contact", Some("contact")),
                (2, "invalid_record", Some("occurred_at")),
                (3, "invalid_record", None),
                (4, "invalid_record", Some("occurred_at")),
                (5, "invalid_record", None),
            ]
        );
        assert_eq!(checked.rejected[0].contact.as_deref(), Some("not a number"));
    }

    #[test]
    fn the_same_record_twice_is_the_same_event() {
        let record = serde_json::json!({"contact": "+5511987654321", "category": "marketing", "status": "opted_out",
            "source": "crm", "evidence": "form 12", "occurred_at": "2026-01-01T00:00:00Z"});
        let checked = request(serde_json::json!([record, record])).check(now()).unwrap();
        assert_eq!(checked.records[0].event.id, checked.records[1].event.id);
        let later = request(serde_json::json!([record])).check(now() + SignedDuration::from_hours(1)).unwrap();
        assert_eq!(later.records[0].event.id, checked.records[0].event.id, "whenever it is imported");
    }

    #[test]
    fn an_empty_or_oversized_import_is_refused_whole() {
        assert_eq!(request(serde_json::json!([])).check(now()).map_err(|e| e.field), Err("records"));
        let many: Vec<serde_json::Value> = (0..=MAX_INLINE_RECORDS).map(|_| serde_json::json!({})).collect();
        let refused = request(serde_json::Value::Array(many)).check(now()).unwrap_err();
        assert!(refused.problem.contains("at most 1000"), "{}", refused.problem);
    }
}
