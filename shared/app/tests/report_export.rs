//! A campaign's report exported to files, on in-memory fakes: the export waits for the
//! audience file to be read, writes a file a step, and a step whose write lands but whose
//! answer is lost writes the same file again — every recipient is in exactly one file, and
//! the manifest lists the files and the rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{EXPORT_BUCKET, MemoryAudiences, MemoryContacts, MemoryMessages, MemoryQueue, MemoryTemplates};
use polite_app::scheduler::export::ExportError;
use polite_app::scheduler::{Scheduler, tick};
use polite_domain::campaign::{CampaignRequest, CampaignSettings};
use polite_domain::export::{COLUMNS, ExportFormat};
use polite_domain::message::MessageState;

const BUCKET: &str = "acme-audiences";
const PEOPLE: usize = 11_000;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

type Fakes = Scheduler<MemoryMessages, MemoryContacts, MemoryQueue, MemoryTemplates, MemoryAudiences>;

/// A scheduler and a campaign to a file of [`PEOPLE`] (nothing read yet); its id.
async fn campaign() -> (Fakes, MemoryMessages, String) {
    let files = MemoryAudiences::default();
    let mut text = String::from("to\n");
    for n in 0..PEOPLE {
        writeln!(text, "+55119876{n:05}").unwrap_or_else(|e| panic!("{e}"));
    }
    files.put(BUCKET, "all.csv", text);
    let messages = MemoryMessages::default();
    let s = Scheduler::on(
        messages.clone(),
        MemoryContacts::new(b"test-key"),
        MemoryTemplates::default(),
        MemoryQueue::default(),
        CampaignSettings::default(),
    )
    .with_audiences(files);
    let request: CampaignRequest = serde_json::from_value(serde_json::json!({
        "name": "winter", "category": "utility",
        "template": {"name": "winter_notice", "language": "pt_BR"},
        "audience": {"s3": format!("s3://{BUCKET}/all.csv")}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let campaign = request.validate(now()).unwrap_or_else(|e| panic!("{e:?}"));
    let ready = s.personalise(&campaign).await.unwrap_or_else(|e| panic!("{e}"));
    let record = s.create_campaign(&campaign, &ready, "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    (s, messages, record.id)
}

fn file(s: &Fakes, key: &str) -> String {
    let bytes = s.audiences.get(EXPORT_BUCKET, key).unwrap_or_else(|| panic!("{key} was not written"));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_export_waits_for_the_file_then_lists_every_recipient_once_though_a_step_died_after_its_write() {
    let (s, messages, campaign_id) = campaign().await;
    let export = s.start_export(&campaign_id, ExportFormat::Csv, None, now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!export.job.done && export.manifest.is_none());
    assert_eq!(export.location, format!("s3://{EXPORT_BUCKET}/exports/{campaign_id}/{}/", export.job.id));

    // The file is read half-way (the table fails the 5 001st creation): the export waits.
    messages.fail_after(Some(5_000));
    tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let waiting = s.export_view(&campaign_id, &export.job.id).await.ok().flatten();
    assert_eq!(waiting.map(|v| (v.job.files, v.job.done)), Some((0, false)), "nothing written while the file is read");
    assert!(s.audiences.get(EXPORT_BUCKET, &export.job.file_key(0)).is_none());

    // The file is read to the end; the export's second file is written but its answer lost.
    messages.fail_after(None);
    s.audiences.lose_answers_after(Some(1));
    let later = now() + SignedDuration::from_mins(6);
    let first = tick::run(&s, later).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.export_files, 1, "{first:?}");
    let stopped = s.export_view(&campaign_id, &export.job.id).await.ok().flatten();
    assert_eq!(stopped.map(|v| (v.job.files, v.job.rows)), Some((1, 5_000)), "the lost answer moved nothing");

    // Within the lease nothing happens; after it, the same second file again, and the rest.
    s.audiences.lose_answers_after(None);
    let held = tick::run(&s, later + SignedDuration::from_mins(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held.export_files, 0, "{held:?}");
    let rest = tick::run(&s, later + SignedDuration::from_mins(6)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rest.export_files, 3, "two files and the manifest: {rest:?}");

    let done = s.export_view(&campaign_id, &export.job.id).await.ok().flatten().unwrap_or_else(|| panic!("it reads"));
    assert!(done.job.done && done.job.finished_at.is_some());
    assert_eq!((done.job.files, done.job.rows), (3, PEOPLE as u64));
    let manifest_key = export.job.manifest_key();
    assert_eq!(done.manifest, Some(format!("s3://{EXPORT_BUCKET}/{manifest_key}")));
    let manifest: serde_json::Value = serde_json::from_str(&file(&s, &manifest_key)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["rows"], PEOPLE);
    let listed = manifest["files"].as_array().map(Vec::len);
    assert_eq!(listed, Some(3));

    // Every recipient in exactly one line of one file, each with their message.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for n in 0..3 {
        let text = file(&s, &export.job.file_key(n));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> =
            reader.headers().unwrap_or_else(|e| panic!("{e}")).iter().map(str::to_owned).collect();
        assert_eq!(header, COLUMNS);
        for row in reader.records() {
            let row = row.unwrap_or_else(|e| panic!("{e}"));
            let before = seen.insert(row[1].to_owned(), row[0].to_owned());
            assert!(before.is_none(), "{} twice", &row[1]);
        }
    }
    assert_eq!(seen.len(), PEOPLE);
    for n in [0, 4_999, 5_000, PEOPLE - 1] {
        assert!(seen.contains_key(&format!("55119876{n:05}")), "person {n} missing");
    }
}

#[tokio::test]
async fn an_export_of_one_state_lists_only_its_messages_and_an_unknown_campaign_has_none() {
    let (s, _messages, campaign_id) = campaign().await;
    tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let export = s
        .start_export(&campaign_id, ExportFormat::JsonLines, Some(MessageState::Failed), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tick::run(&s, now() + SignedDuration::from_secs(1)).await.unwrap_or_else(|e| panic!("{e}"));
    let done = s.export_view(&campaign_id, &export.job.id).await.ok().flatten().unwrap_or_else(|| panic!("it reads"));
    assert!(done.job.done, "{done:?}");
    // None failed: one empty file, and the manifest.
    assert_eq!((done.job.files, done.job.rows), (1, 0));
    assert_eq!(file(&s, &export.job.file_key(0)), "");

    let unknown = s.start_export("cmp_nobody", ExportFormat::Csv, None, now()).await;
    assert!(matches!(unknown, Err(ExportError::UnknownCampaign)), "{unknown:?}");
}
