//! Audiences from a file: `POST /v1/campaigns` with `"audience": {"s3": "s3://bucket/key"}`.
//!
//! One recipient per line, in **CSV** — a header naming `to` and each template parameter
//! (`to,first_name,offer`); a value left empty is left out — or **JSON Lines**, each line what
//! the inline list takes (`"+5511987654321"`, or `{"to", "parameters" | "components"}`). The
//! key's extension says which (`.csv`; `.jsonl`, `.ndjson`) unless `format` does.
//!
//! The file is read in parts of at most [`PART_BYTES`] and [`PART_LINES`] recipients from where
//! the last part stopped (an [`AudienceCursor`] stored with the campaign), each part ending at
//! a complete line:
//! memory stays the same whatever the file's size, and a fan-out that dies half-way starts
//! again from the cursor. Lines are numbered from 1; blank lines are skipped; a CSV value may
//! be quoted but may not hold a line break; a line longer than [`PART_BYTES`] is rejected.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::invalid::{Invalid, invalid};

/// The most one read of the file takes.
pub const PART_BYTES: u64 = 256 * 1024;

/// The most recipient lines one part holds: a part's messages are all created before the
/// fan-out looks at its time budget again, so a part is bounded in work as well as in bytes
/// (256 KB of short lines would be 6 000 recipients).
pub const PART_LINES: usize = 1_000;

/// How the file's lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    JsonLines,
}

/// `audience` as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceRequest {
    /// `s3://bucket/key`.
    pub s3: String,
    #[serde(default)]
    pub format: Option<FileFormat>,
}

/// A checked audience file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceFile {
    pub bucket: String,
    pub key: String,
    pub format: FileFormat,
}

impl AudienceRequest {
    /// The file the request names.
    ///
    /// # Errors
    /// [`Invalid`] on `audience.s3` for anything but `s3://<bucket>/<key>` (a bucket name
    /// S3 allows, a key of 1–1 024 bytes), and on `audience.format` when the key's extension
    /// does not say it.
    pub fn check(self) -> Result<AudienceFile, Invalid> {
        let rest = self.s3.strip_prefix("s3://").ok_or_else(|| {
            invalid("audience.s3", "must be s3://<bucket>/<key>, e.g. s3://acme-audiences/spring.csv")
        })?;
        let (bucket, key) =
            rest.split_once('/').ok_or_else(|| invalid("audience.s3", "names no object: s3://<bucket>/<key>"))?;
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(invalid("audience.s3", format!("'{bucket}' is not an S3 bucket name")));
        }
        if key.is_empty() || key.len() > 1024 {
            return Err(invalid("audience.s3", "the object key must be 1–1024 bytes"));
        }
        let extension = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let format = match (self.format, extension.as_deref()) {
            (Some(format), _) => format,
            (None, Some("csv")) => FileFormat::Csv,
            (None, Some("jsonl" | "ndjson")) => FileFormat::JsonLines,
            (None, _) => {
                return Err(invalid(
                    "audience.format",
                    "the key's extension is neither .csv nor .jsonl/.ndjson: say \"csv\" or \"json_lines\"",
                ));
            }
        };
        Ok(AudienceFile { bucket: bucket.to_owned(), key: key.to_owned(), format })
    }
}

impl std::fmt::Display for AudienceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// How far a file has been read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceCursor {
    /// Where the next part starts (bytes from the start of the file).
    pub offset: u64,
    /// Lines read so far: the next line is `lines + 1`.
    pub lines: u64,
    /// The CSV header, once read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Vec<String>>,
    /// The last part ended inside a line too long to read: the next part skips to its end.
    #[serde(default)]
    pub skipping: bool,
    /// The whole file has been read.
    pub done: bool,
}

/// One line of the file: a recipient entry (as the inline list takes them), or why the line
/// could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub number: u64,
    pub entry: Result<Value, String>,
}

/// What a part of the file held, and the cursor after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub lines: Vec<Line>,
    pub next: AudienceCursor,
}

/// What a file's lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Campaign recipients: a CSV header names `to` and the template's parameters; a line is
    /// an entry as the inline list takes them.
    Recipients,
    /// Records of named fields (a consent import's): a CSV header names them, `contact`
    /// among them; a line is the object of its non-empty values.
    Records,
}

impl AudienceFile {
    /// The lines of `bytes` — the part of the file that starts at `cursor.offset`, of a file
    /// of `size` bytes — up to its last complete line (all of it at the file's end).
    pub fn read(&self, cursor: &AudienceCursor, bytes: &[u8], size: u64) -> Part {
        self.read_as(Shape::Recipients, cursor, bytes, size)
    }

    /// [`Self::read`] for a file of records (a consent import): a CSV header names the fields
    /// (`contact` among them) and each line is the object of its non-empty values; a JSON
    /// Lines line is the record itself.
    pub fn read_records(&self, cursor: &AudienceCursor, bytes: &[u8], size: u64) -> Part {
        self.read_as(Shape::Records, cursor, bytes, size)
    }

    fn read_as(&self, shape: Shape, cursor: &AudienceCursor, bytes: &[u8], size: u64) -> Part {
        let mut next = cursor.clone();
        let at_end = cursor.offset + bytes.len() as u64 >= size;
        let mut start = 0;
        if cursor.skipping {
            let Some(i) = bytes.iter().position(|b| *b == b'\n') else {
                next.offset += bytes.len() as u64;
                next.done = at_end;
                return Part { lines: Vec::new(), next };
            };
            start = i + 1;
            next.skipping = false;
        }
        let rest = &bytes[start..];
        let (complete, consumed) = if at_end {
            (rest.strip_suffix(b"\n").unwrap_or(rest), rest.len())
        } else {
            let Some(i) = rest.iter().rposition(|b| *b == b'\n') else {
                if start > 0 {
                    // The end of a skipped line, then a line this part cuts: it starts the next.
                    next.offset = cursor.offset + start as u64;
                    return Part { lines: Vec::new(), next };
                }
                // A part with no line end in it: one line longer than a part.
                next.lines += 1;
                next.offset += bytes.len() as u64;
                next.skipping = true;
                let line = Line { number: next.lines, entry: Err(format!("longer than {PART_BYTES} bytes")) };
                return Part { lines: vec![line], next };
            };
            (&rest[..i], i + 1)
        };
        let mut lines = Vec::new();
        // Where the line after the current one starts, within `complete`.
        let mut after = 0;
        for raw in complete.split(|b| *b == b'\n').filter(|_| !complete.is_empty()) {
            if lines.len() == PART_LINES && after < complete.len() {
                // Full: the next part starts at this line.
                next.offset = cursor.offset + (start + after) as u64;
                return Part { lines, next };
            }
            after += raw.len() + 1;
            next.lines += 1;
            let number = next.lines;
            let Ok(text) = std::str::from_utf8(raw).map(str::trim) else {
                lines.push(Line { number, entry: Err("not UTF-8 text".into()) });
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let entry = match self.format {
                FileFormat::JsonLines => serde_json::from_str(text).map_err(|e| format!("not JSON: {e}")),
                FileFormat::Csv => match &next.header {
                    None => {
                        match header(text, shape) {
                            Ok(names) => next.header = Some(names),
                            Err(problem) => {
                                lines.push(Line { number, entry: Err(problem) });
                                next.done = true;
                                next.offset = cursor.offset + (start + consumed) as u64;
                                return Part { lines, next };
                            }
                        }
                        continue;
                    }
                    Some(names) if shape == Shape::Records => csv_record(names, text),
                    Some(names) => csv_entry(names, text),
                },
            };
            lines.push(Line { number, entry });
        }
        next.offset = cursor.offset + (start + consumed) as u64;
        next.done = at_end;
        Part { lines, next }
    }
}

/// The column names of a CSV header, which must name `to` (recipients) or `contact` (records).
fn header(text: &str, shape: Shape) -> Result<Vec<String>, String> {
    let names: Vec<String> = fields(text)?.into_iter().map(|n| n.trim().to_owned()).collect();
    if shape == Shape::Records {
        if !names.iter().any(|n| n == "contact") {
            return Err(format!(
                "the CSV header must name the record's fields, e.g. contact,category,status,source,evidence,occurred_at; it names {}",
                names.join(",")
            ));
        }
        return Ok(names);
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("to")) {
        return Err(format!(
            "the CSV header must name a `to` column (and one per template parameter), e.g. to,first_name; it names {}",
            names.join(",")
        ));
    }
    Ok(names)
}

/// One CSV line as a recipient entry: `{"to", "parameters"}` (just `to` without values).
fn csv_entry(names: &[String], text: &str) -> Result<Value, String> {
    let values = fields(text)?;
    if values.len() != names.len() {
        return Err(format!("{} values; the header names {} columns", values.len(), names.len()));
    }
    let mut to = None;
    let mut parameters = Map::new();
    for (name, value) in names.iter().zip(values) {
        if name.eq_ignore_ascii_case("to") {
            to = Some(value.trim().to_owned());
        } else if !value.is_empty() {
            parameters.insert(name.clone(), Value::String(value));
        }
    }
    let to = Value::String(to.unwrap_or_default());
    if parameters.is_empty() {
        return Ok(to);
    }
    Ok(serde_json::json!({"to": to, "parameters": parameters}))
}

/// One CSV line of records: the object of its non-empty values, by column name.
fn csv_record(names: &[String], text: &str) -> Result<Value, String> {
    let values = fields(text)?;
    if values.len() != names.len() {
        return Err(format!("{} values; the header names {} columns", values.len(), names.len()));
    }
    let record: Map<String, Value> = names
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| (name.clone(), Value::String(value.trim().to_owned())))
        .collect();
    Ok(Value::Object(record))
}

/// The values of one CSV line (quoted as spreadsheets quote them).
fn fields(text: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => Ok(record.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(format!("not CSV: {e}")),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]
mod tests {
    use super::*;

    fn file(key: &str) -> AudienceFile {
        AudienceRequest { s3: format!("s3://acme-audiences/{key}"), format: None }.check().unwrap()
    }

    /// Reads the whole of `text` in parts of `part` bytes, as the fan-out does.
    fn read_all(file: &AudienceFile, text: &str, part: usize) -> (Vec<Line>, AudienceCursor) {
        let bytes = text.as_bytes();
        let mut cursor = AudienceCursor::default();
        let mut lines = Vec::new();
        while !cursor.done {
            let from = usize::try_from(cursor.offset).unwrap();
            let to = (from + part).min(bytes.len());
            let read = file.read(&cursor, &bytes[from..to], bytes.len() as u64);
            assert!(read.next.offset > cursor.offset || read.next.done, "progress at {cursor:?}");
            lines.extend(read.lines);
            cursor = read.next;
        }
        (lines, cursor)
    }

    #[test]
    fn the_uri_and_the_format_are_checked() {
        assert_eq!(file("2026/spring.CSV").format, FileFormat::Csv);
        assert_eq!(file("spring.ndjson").format, FileFormat::JsonLines);
        let bad = |s3: &str| AudienceRequest { s3: s3.into(), format: None }.check().unwrap_err().field;
        assert_eq!(bad("https://acme/spring.csv"), "audience.s3");
        assert_eq!(bad("s3://acme-audiences"), "audience.s3");
        assert_eq!(bad("s3://Acme_Audiences/spring.csv"), "audience.s3");
        assert_eq!(bad("s3://acme-audiences/spring.txt"), "audience.format");
        let said = AudienceRequest { s3: "s3://acme-audiences/spring.txt".into(), format: Some(FileFormat::Csv) };
        assert_eq!(said.check().unwrap().to_string(), "s3://acme-audiences/spring.txt");
    }

    #[test]
    fn a_file_of_records_reads_each_line_as_the_object_of_its_named_values() {
        let text = "contact,category,status,source,evidence,occurred_at\n\
                    +5511987654321,marketing,opted_in,crm_sync,\"Form #3, ticked\",2026-11-03T10:00:00Z\n\
                    \n\
                    +12125551234,utility,opted_out,crm_sync,,2026-11-04T10:00:00Z\n\
                    too,few\n";
        let csv = file("consent.csv");
        for part in [120, 200, 4096] {
            let mut cursor = AudienceCursor::default();
            let mut lines = Vec::new();
            while !cursor.done {
                let from = usize::try_from(cursor.offset).unwrap();
                let to = (from + part).min(text.len());
                let read = csv.read_records(&cursor, &text.as_bytes()[from..to], text.len() as u64);
                lines.extend(read.lines);
                cursor = read.next;
            }
            let numbers: Vec<u64> = lines.iter().map(|l| l.number).collect();
            assert_eq!(numbers, [2, 4, 5], "part size {part}");
            assert_eq!(
                lines[0].entry.as_ref().unwrap(),
                &serde_json::json!({"contact": "+5511987654321", "category": "marketing", "status": "opted_in",
                    "source": "crm_sync", "evidence": "Form #3, ticked", "occurred_at": "2026-11-03T10:00:00Z"})
            );
            assert!(lines[1].entry.as_ref().unwrap().get("evidence").is_none(), "an empty value is left out");
            assert!(lines[2].entry.is_err());
        }
        let jsonl = file("consent.jsonl");
        let line = "{\"contact\":\"+5511987654321\",\"category\":\"marketing\"}\n";
        let read = jsonl.read_records(&AudienceCursor::default(), line.as_bytes(), line.len() as u64);
        assert_eq!(read.lines[0].entry.as_ref().unwrap()["category"], "marketing");
        let wrong = "to,first_name\n+5511987654321,Ana\n";
        let read = csv.read_records(&AudienceCursor::default(), wrong.as_bytes(), wrong.len() as u64);
        assert!(read.next.done && read.lines[0].entry.as_ref().unwrap_err().contains("contact"), "{read:?}");
    }

    #[test]
    fn csv_lines_become_entries_whatever_the_part_size() {
        let text = "to,first_name,offer\r\n+5511987654321,Ana,20% off\n\n\"+12125551234\",\"Bob, Jr.\",\n+351912345678\nnot,enough\n";
        let expected = vec![
            Line {
                number: 2,
                entry: Ok(
                    serde_json::json!({"to": "+5511987654321", "parameters": {"first_name": "Ana", "offer": "20% off"}}),
                ),
            },
            Line {
                number: 4,
                entry: Ok(serde_json::json!({"to": "+12125551234", "parameters": {"first_name": "Bob, Jr."}})),
            },
            Line { number: 5, entry: Err("1 values; the header names 3 columns".into()) },
            Line { number: 6, entry: Err("2 values; the header names 3 columns".into()) },
        ];
        // Any part longer than the longest line: lines cut between parts read the same.
        for part in [30, 33, 45, 1000] {
            let (lines, cursor) = read_all(&file("spring.csv"), text, part);
            assert_eq!(lines, expected, "in parts of {part}");
            assert_eq!((cursor.lines, cursor.offset), (6, text.len() as u64));
        }
    }

    #[test]
    fn a_csv_without_a_to_column_is_read_no_further() {
        let (lines, cursor) = read_all(&file("spring.csv"), "phone,name\n+5511987654321,Ana\n", 1000);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].entry.as_ref().unwrap_err().contains("`to` column"));
        assert!(cursor.done);
    }

    #[test]
    fn json_lines_without_a_final_line_end_and_a_line_too_long_are_read_as_they_are() {
        let long = format!("{{\"to\": \"+5511987654321\", \"parameters\": {{\"note\": \"{}\"}}}}", "x".repeat(40));
        let text = format!("\"+5511987654321\"\n{long}\n{{\"to\": \"+12125551234\"}}");
        let (lines, cursor) = read_all(&file("spring.jsonl"), &text, 30);
        let numbers: Vec<(u64, bool)> = lines.iter().map(|l| (l.number, l.entry.is_ok())).collect();
        assert_eq!(numbers, [(1, true), (2, false), (3, true)], "{lines:?}");
        assert_eq!(lines[2].entry, Ok(serde_json::json!({"to": "+12125551234"})));
        assert_eq!(cursor.lines, 3);
    }

    #[test]
    fn a_line_after_a_line_too_long_is_read_whole_even_when_a_part_cuts_it() {
        let long = format!("\"{}\"", "9".repeat(78));
        let text = format!("{long}\n\"+12125551234\"\n\"+5511987654321\"\n");
        let (lines, cursor) = read_all(&file("spring.jsonl"), &text, 30);
        let read: Vec<(u64, Option<Value>)> = lines.iter().map(|l| (l.number, l.entry.clone().ok())).collect();
        assert_eq!(
            read,
            [(1, None), (2, Some(Value::from("+12125551234"))), (3, Some(Value::from("+5511987654321")))],
            "{lines:?}"
        );
        assert_eq!(cursor.lines, 3);
    }

    /// A part's recipients are created before the next is read, and the fan-out's budget is
    /// looked at between parts: a part must be small enough in *work* as well as in bytes
    /// (a 256 KB part of short lines is 6 000 recipients, longer than the API's 5 s budget).
    #[test]
    fn a_part_ends_after_a_thousand_recipients_and_the_next_starts_at_the_line_after() {
        let text: String = std::iter::once("to,first_name\n".to_owned())
            .chain((0..2_500).map(|i| format!("+1212555{i:04},N{i}\n")))
            .collect();
        let file = file("big.csv");
        let first = file.read(&AudienceCursor::default(), text.as_bytes(), text.len() as u64);
        assert_eq!(first.lines.len(), 1_000);
        assert!(!first.next.done);
        assert_eq!(first.next.lines, 1_001, "the header and a thousand lines");
        let rest = &text.as_bytes()[usize::try_from(first.next.offset).unwrap()..];
        assert!(rest.starts_with(b"+12125551000,N1000\n"), "{}", String::from_utf8_lossy(&rest[..20]));
        let (lines, cursor) = read_all(&file, &text, usize::try_from(PART_BYTES).unwrap());
        let numbers: Vec<u64> = lines.iter().map(|l| l.number).collect();
        assert_eq!(numbers, (2..=2_501).collect::<Vec<_>>(), "every line once, in order");
        assert!(lines.iter().all(|l| l.entry.is_ok()));
        assert_eq!(cursor.lines, 2_501);
    }
}
