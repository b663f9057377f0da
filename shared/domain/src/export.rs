//! A campaign's per-recipient report exported to S3, for campaigns too large to page through
//! `GET /v1/campaigns/{id}/messages`.
//!
//! An export is a job the scheduler tick works through a page at a time, as DynamoDB's own
//! export to S3 does: each page of the campaign's messages (in creation order, [`EXPORT_PAGE`]
//! at a time) becomes one data file, `exports/<campaign>/<export>/part-00000.csv` (or
//! `.jsonl`), and when the last is written a `manifest.json` lists them with the row count.
//! The job's cursor (the last message id written) moves with one conditional write after each
//! file, so a tick that dies half-way leaves the job where it was: the next one writes the
//! same file again (same key, the same messages) and nobody is listed twice.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::message::MessageState;
use crate::record::MessageRecord;

/// Messages per data file: a file is one step of the tick (a few queries of the campaign
/// index) and ~1–2 MB.
pub const EXPORT_PAGE: usize = 5_000;

/// The export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// Comma-separated values with a header line in each file ([`COLUMNS`]).
    #[serde(rename = "csv")]
    Csv,
    /// One JSON object per line, with the fields of [`COLUMNS`].
    #[serde(rename = "jsonl")]
    JsonLines,
}

impl ExportFormat {
    /// The data files' extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }

    /// The data files' `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/x-ndjson",
        }
    }
}

/// The columns of a row, in order (the CSV header; the JSON Lines fields).
pub const COLUMNS: [&str; 13] = [
    "message_id",
    "to",
    "state",
    "reason",
    "error_code",
    "error_title",
    "category",
    "wamid",
    "created_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
];

/// One recipient's line: their message as the report shows it, flat.
#[derive(Debug, Serialize)]
pub struct ReportRow<'a> {
    pub message_id: &'a str,
    pub to: String,
    pub state: MessageState,
    pub reason: Option<&'a str>,
    pub error_code: Option<i64>,
    pub error_title: Option<&'a str>,
    pub category: crate::message::Category,
    pub wamid: Option<&'a str>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
}

impl<'a> ReportRow<'a> {
    /// The row of a stored message; the times are when it first reached each state.
    pub fn of(record: &'a MessageRecord) -> Self {
        let first = |state: &str| record.history.iter().find(|h| h.state == state).map(|h| h.at);
        ReportRow {
            message_id: &record.id,
            to: record.to.to_string(),
            state: record.state,
            reason: record.reason.as_deref(),
            error_code: record.error.as_ref().map(|e| e.code),
            error_title: record.error.as_ref().map(|e| e.title.as_str()),
            category: record.category,
            wamid: record.wamid.as_deref(),
            created_at: record.created_at,
            sent_at: first("sent"),
            delivered_at: first("delivered"),
            read_at: first("read"),
            failed_at: first("failed"),
        }
    }
}

/// One data file's bytes: `records` as rows in `format` (a CSV file starts with its header).
///
/// # Errors
/// When a row cannot be written (it cannot with these types; the writer's error is kept).
pub fn render(format: ExportFormat, records: &[MessageRecord]) -> Result<Vec<u8>, String> {
    match format {
        ExportFormat::Csv => {
            // The header is written here, not by `serialize`: an empty file has one too.
            let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
            out.write_record(COLUMNS).map_err(|e| e.to_string())?;
            for record in records {
                out.serialize(ReportRow::of(record)).map_err(|e| e.to_string())?;
            }
            out.into_inner().map_err(|e| e.to_string())
        }
        ExportFormat::JsonLines => {
            let mut out = Vec::new();
            for record in records {
                serde_json::to_writer(&mut out, &ReportRow::of(record)).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

/// An export of one campaign's report: what was asked, and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    /// `exp_<uuid v7>`: unique within the campaign, and safe in an S3 key.
    pub id: String,
    pub campaign_id: String,
    pub format: ExportFormat,
    /// Only the messages in this state (none: every message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
    /// The last message id written (none before the first file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Data files written.
    pub files: u32,
    /// Rows written.
    pub rows: u64,
    /// Every data file is written (the manifest is next).
    #[serde(default)]
    pub all_files: bool,
    /// The manifest is written too: the export is complete.
    pub done: bool,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

impl ExportJob {
    /// A new export `id` of `campaign_id`'s report, nothing written yet.
    pub fn new(
        id: String,
        campaign_id: &str,
        format: ExportFormat,
        state: Option<MessageState>,
        now: Timestamp,
    ) -> Self {
        ExportJob {
            id,
            campaign_id: campaign_id.to_owned(),
            format,
            state,
            cursor: None,
            files: 0,
            rows: 0,
            all_files: false,
            done: false,
            created_at: now,
            finished_at: None,
        }
    }

    /// Where its files go in the bucket: `exports/<campaign>/<export>/`.
    pub fn prefix(&self) -> String {
        format!("exports/{}/{}/", self.campaign_id, self.id)
    }

    /// The key of data file `n` (from 0).
    pub fn file_key(&self, n: u32) -> String {
        format!("{}part-{n:05}.{}", self.prefix(), self.format.extension())
    }

    /// The key of the manifest, written last.
    pub fn manifest_key(&self) -> String {
        format!("{}manifest.json", self.prefix())
    }

    /// The job after one more file of `rows` rows, whose last message is `last`; `more`:
    /// whether messages may follow it.
    #[must_use]
    pub fn after_file(&self, rows: usize, last: Option<String>, more: bool) -> Self {
        ExportJob {
            cursor: last.or_else(|| self.cursor.clone()),
            files: self.files + 1,
            rows: self.rows + rows as u64,
            all_files: !more,
            ..self.clone()
        }
    }

    /// The job when the page after its last file is empty: every file is written.
    #[must_use]
    pub fn with_all_files(&self) -> Self {
        ExportJob { all_files: true, ..self.clone() }
    }

    /// The job once its manifest is written.
    #[must_use]
    pub fn finished(&self, now: Timestamp) -> Self {
        ExportJob { done: true, finished_at: Some(now), ..self.clone() }
    }

    /// The manifest, written at `now`: what was exported and the files that hold it, in order.
    pub fn manifest(&self, bucket: &str, now: Timestamp) -> serde_json::Value {
        let files: Vec<String> = (0..self.files).map(|n| format!("s3://{bucket}/{}", self.file_key(n))).collect();
        serde_json::json!({
            "export_id": self.id,
            "campaign_id": self.campaign_id,
            "format": self.format,
            "state": self.state,
            "columns": COLUMNS,
            "rows": self.rows,
            "files": files,
            "created_at": self.created_at,
            "finished_at": now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HistoryEntry, SendError};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn message(id: &str, to: &str, state: MessageState) -> MessageRecord {
        let mut record: MessageRecord = serde_json::from_value(serde_json::json!({
            "id": id, "to": to, "category": "marketing",
            "payload": {"template": {"name": "offer", "language": "en"}},
            "state": state, "created_at": "2026-12-10T09:00:00Z", "history": []
        }))
        .unwrap();
        record.history = vec![
            HistoryEntry { state: "queued".into(), at: at("2026-12-10T09:00:01Z"), reason: None },
            HistoryEntry { state: "sent".into(), at: at("2026-12-10T10:00:02Z"), reason: None },
        ];
        record
    }

    #[test]
    fn a_csv_file_has_the_header_then_one_line_per_recipient_with_the_first_time_of_each_state() {
        let mut failed = message("msg_2", "+5511987654321", MessageState::Failed);
        failed.error = Some(SendError { code: 131_026, title: "Message undeliverable, \"really\"".into() });
        failed.history.push(HistoryEntry { state: "failed".into(), at: at("2026-12-10T10:00:09Z"), reason: None });
        let bytes = render(ExportFormat::Csv, &[message("msg_1", "+16505551234", MessageState::Sent), failed]).unwrap();
        let mut file = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(file.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rows: Vec<csv::StringRecord> = file.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "msg_1");
        assert_eq!(&rows[0][1], "16505551234");
        assert_eq!(&rows[0][2], "sent");
        assert_eq!(&rows[0][9], "2026-12-10T10:00:02Z");
        assert_eq!(&rows[0][12], "");
        assert_eq!(&rows[1][4], "131026");
        assert_eq!(&rows[1][5], "Message undeliverable, \"really\"");
        assert_eq!(&rows[1][12], "2026-12-10T10:00:09Z");
    }

    #[test]
    fn a_json_lines_file_has_one_object_per_recipient_with_every_column() {
        let bytes = render(ExportFormat::JsonLines, &[message("msg_1", "+16505551234", MessageState::Sent)]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1);
        let row: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let fields: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        let mut columns = COLUMNS.to_vec();
        columns.sort_unstable();
        assert_eq!(fields, columns);
        assert_eq!(row["state"], "sent");
        assert_eq!(row["sent_at"], "2026-12-10T10:00:02Z");
        assert!(row["read_at"].is_null());
    }

    #[test]
    fn files_are_numbered_under_the_export_and_the_manifest_lists_each_once() {
        let job = ExportJob::new("exp_1".into(), "cmp_1", ExportFormat::Csv, None, at("2026-12-10T11:00:00Z"));
        assert_eq!(job.file_key(0), "exports/cmp_1/exp_1/part-00000.csv");
        let one = job.after_file(5_000, Some("msg_5000".into()), true);
        assert_eq!((one.files, one.rows, one.cursor.as_deref(), one.all_files), (1, 5_000, Some("msg_5000"), false));
        let two = one.after_file(12, Some("msg_5012".into()), false);
        assert_eq!((two.files, two.rows, two.all_files, two.done), (2, 5_012, true, false));
        let manifest = two.manifest("bucket", at("2026-12-10T11:01:00Z"));
        assert_eq!(manifest["rows"], 5_012);
        assert_eq!(
            manifest["files"],
            serde_json::json!([
                "s3://bucket/exports/cmp_1/exp_1/part-00000.csv",
                "s3://bucket/exports/cmp_1/exp_1/part-00001.csv"
            ])
        );
        assert!(two.finished(at("2026-12-10T11:01:00Z")).done);
        // An empty page after a full file: no file more.
        let last = one.with_all_files();
        assert_eq!((last.files, last.all_files), (1, true));
    }
}
