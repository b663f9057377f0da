//! A consent import from a file on S3 (`POST /v1/consents:import` with `{"s3": …}`), for lists
//! of any size: the records of [`crate::capture`], one per line (CSV with a header naming the
//! fields, or JSON Lines), read a part at a time ([`crate::audience_file`]) by consent-updater.
//!
//! The import is a job in the contacts table. Each part is one queue message on inbound-events
//! ([`ImportNudge`]: the import and the part it expects); the job, read consistently, says
//! where the part starts. A part's valid records are recorded (idempotently: the ledger keeps
//! each event once, ordered by `occurred_at`), its result file written, and the job moved on
//! with one conditional write on its part count — only then is the next part's message sent.
//! A message for a part already done is a duplicate and changes nothing (or, if the chain
//! has stood still since, sends the next part's message again: one was lost). Every result is
//! decided by the record alone (accepted, or rejected with a reason), so a part read twice
//! writes the same result file.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::audience_file::{AudienceCursor, AudienceFile, Line};
use crate::capture::{CheckedImport, ImportRejection, Importable};

/// How long an import may stand still at a part before a message for the part before it sends
/// the part's message again (longer than a part takes; shorter than the queue's redelivery).
pub const STALLED_AFTER: SignedDuration = SignedDuration::from_mins(2);

/// An import from a file, and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    /// `imp_<uuid v7>`.
    pub id: String,
    pub file: AudienceFile,
    /// Where the next part starts.
    pub cursor: AudienceCursor,
    /// Parts read (the next part's number).
    pub parts: u32,
    /// Records recorded now or before (a replay), and rejected.
    pub accepted: u64,
    pub rejected: u64,
    /// Of the accepted, the new ledger events and those already in it (as the part's
    /// accepted read found them).
    pub recorded: u64,
    pub already_recorded: u64,
    /// Every part read and the summary written.
    pub done: bool,
    pub created_at: Timestamp,
    /// When the job last moved.
    pub updated_at: Timestamp,
}

/// The queue message that asks for one part of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportNudge {
    pub import_id: String,
    pub part: u32,
}

/// What to do with an [`ImportNudge`], given the job as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NudgeAction {
    /// Read the part.
    Read,
    /// The part was read and the import has stood still since: the next part's message was
    /// lost; send it again.
    SendNext(ImportNudge),
    /// Nothing: a duplicate, an import done, or unknown.
    Nothing,
}

impl ImportJob {
    /// A new import `id` of `file`, nothing read.
    pub fn new(id: String, file: AudienceFile, now: Timestamp) -> Self {
        ImportJob {
            id,
            file,
            cursor: AudienceCursor::default(),
            parts: 0,
            accepted: 0,
            rejected: 0,
            recorded: 0,
            already_recorded: 0,
            done: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The message for the next part.
    pub fn nudge(&self) -> ImportNudge {
        ImportNudge { import_id: self.id.clone(), part: self.parts }
    }

    /// What a message for `part` should do at `now`.
    pub fn on_nudge(&self, part: u32, now: Timestamp) -> NudgeAction {
        if self.done {
            NudgeAction::Nothing
        } else if part == self.parts {
            NudgeAction::Read
        } else if part + 1 == self.parts && now - STALLED_AFTER >= self.updated_at {
            NudgeAction::SendNext(self.nudge())
        } else {
            NudgeAction::Nothing
        }
    }

    /// Where part `n`'s results go: `imports/<id>/result-00000.jsonl`.
    pub fn result_key(&self, n: u32) -> String {
        format!("imports/{}/result-{n:05}.jsonl", self.id)
    }

    /// Where the summary goes, written with the last part.
    pub fn summary_key(&self) -> String {
        format!("imports/{}/result.json", self.id)
    }

    /// The job after a part that ended at `next`, with its records' outcomes; done when the
    /// file is.
    #[must_use]
    pub fn after_part(&self, next: AudienceCursor, part: &PartOutcome, now: Timestamp) -> Self {
        ImportJob {
            done: next.done,
            cursor: next,
            parts: self.parts + 1,
            accepted: self.accepted + part.accepted,
            rejected: self.rejected + part.rejected,
            recorded: self.recorded + part.recorded,
            already_recorded: self.already_recorded + part.already_recorded,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The summary of a finished import: its counts and its result files, in order.
    pub fn summary(&self, bucket: &str) -> serde_json::Value {
        let files: Vec<String> = (0..self.parts).map(|n| format!("s3://{bucket}/{}", self.result_key(n))).collect();
        serde_json::json!({
            "import_id": self.id,
            "file": self.file.to_string(),
            "lines": self.cursor.lines,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "recorded": self.recorded,
            "already_recorded": self.already_recorded,
            "results": files,
            "created_at": self.created_at,
            "finished_at": self.updated_at,
        })
    }
}

/// What one part's records came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartOutcome {
    pub accepted: u64,
    pub rejected: u64,
    pub recorded: u64,
    pub already_recorded: u64,
}

/// The records of a part's lines, each checked on its own at `now`; a record's index is its
/// line number.
pub fn check_lines(lines: Vec<Line>, now: Timestamp) -> CheckedImport {
    let mut records = Vec::with_capacity(lines.len());
    let mut rejected = Vec::new();
    for line in lines {
        let index = usize::try_from(line.number).unwrap_or(usize::MAX);
        match line.entry {
            Ok(raw) => match crate::capture::check_one(index, raw, now) {
                Ok(record) => records.push(record),
                Err(rejection) => rejected.push(rejection),
            },
            Err(problem) => rejected.push(ImportRejection {
                index,
                contact: None,
                reason: "invalid_record",
                field: None,
                detail: problem,
            }),
        }
    }
    CheckedImport { records, rejected }
}

/// One line of a result file.
#[derive(Debug, Serialize)]
struct ResultLine<'a> {
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<String>,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// A part's result file: one JSON line per record, in line order — `accepted`, or `rejected`
/// with its reason (as the inline import answers).
pub fn result_file(checked: &CheckedImport) -> Vec<u8> {
    let accepted = checked.records.iter().map(|r: &Importable| ResultLine {
        line: r.index,
        contact: Some(r.contact.to_string()),
        result: "accepted",
        reason: None,
        field: None,
        detail: None,
    });
    let rejected = checked.rejected.iter().map(|r| ResultLine {
        line: r.index,
        contact: r.contact.clone(),
        result: "rejected",
        reason: Some(r.reason),
        field: r.field,
        detail: Some(&r.detail),
    });
    let mut lines: Vec<ResultLine<'_>> = accepted.chain(rejected).collect();
    lines.sort_by_key(|l| l.line);
    let mut out = Vec::new();
    for line in lines {
        // A struct of strings and numbers always serialises.
        if serde_json::to_writer(&mut out, &line).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]
mod tests {
    use super::*;
    use crate::audience_file::AudienceRequest;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn job() -> ImportJob {
        let file = AudienceRequest { s3: "s3://acme-audiences/consent.csv".into(), format: None }.check().unwrap();
        ImportJob::new("imp_1".into(), file, at("2026-12-01T12:00:00Z"))
    }

    #[test]
    fn each_line_is_checked_alone_and_the_result_file_lists_every_line_once_in_order() {
        let text = "contact,category,status,source,occurred_at\n\
                    +5511987654321,marketing,opted_in,crm_sync,2026-11-03T10:00:00Z\n\
                    not-a-number,marketing,opted_in,crm_sync,2026-11-03T10:00:00Z\n\
                    +12125551234,utility,opted_out,crm_sync,2026-11-04T10:00:00Z\n\
                    +12125551234,utility\n";
        let job = job();
        let read = job.file.read_records(&job.cursor, text.as_bytes(), text.len() as u64);
        let checked = check_lines(read.lines, at("2026-12-01T12:00:00Z"));
        assert_eq!(checked.records.iter().map(|r| r.index).collect::<Vec<_>>(), [2, 4]);
        let results: Vec<serde_json::Value> = String::from_utf8(result_file(&checked))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let summary: Vec<(u64, &str, Option<&str>)> = results
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["result"].as_str().unwrap(), r["reason"].as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, "accepted", None),
                (3, "rejected", Some("invalid_contact")),
                (4, "accepted", None),
                (5, "rejected", Some("invalid_record"))
            ]
        );
        assert_eq!(results[0]["contact"], "5511987654321");
    }

    #[test]
    fn a_nudge_reads_its_part_once_and_sends_the_next_again_only_when_the_import_stood_still() {
        let job = job();
        let now = at("2026-12-01T12:00:00Z");
        assert_eq!(job.on_nudge(0, now), NudgeAction::Read);
        let part = PartOutcome { accepted: 3, rejected: 1, recorded: 2, already_recorded: 1 };
        let cursor = AudienceCursor { offset: 100, lines: 5, ..AudienceCursor::default() };
        let one = job.after_part(cursor, &part, now);
        assert_eq!((one.parts, one.accepted, one.rejected, one.done), (1, 3, 1, false));
        assert_eq!(one.on_nudge(0, now + SignedDuration::from_secs(5)), NudgeAction::Nothing, "a duplicate");
        let stalled = now + STALLED_AFTER;
        assert_eq!(one.on_nudge(0, stalled), NudgeAction::SendNext(ImportNudge { import_id: "imp_1".into(), part: 1 }));
        assert_eq!(one.on_nudge(1, now), NudgeAction::Read);
        let last = AudienceCursor { offset: 200, lines: 9, done: true, ..AudienceCursor::default() };
        let done = one.after_part(last, &part, now);
        assert!(done.done);
        assert_eq!(done.on_nudge(2, stalled), NudgeAction::Nothing, "done");
        assert_eq!(
            done.summary("b")["results"],
            serde_json::json!(["s3://b/imports/imp_1/result-00000.jsonl", "s3://b/imports/imp_1/result-00001.jsonl"])
        );
        assert_eq!(done.summary("b")["accepted"], 6);
    }
}
