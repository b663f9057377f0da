//! A campaign to an audience file, on in-memory fakes: the file is read a part at a time, a
//! fan-out that dies half-way is picked up where the reader stood without a duplicate, and
//! every line ends counted once — accepted with its own values, or rejected.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryAudiences, MemoryContacts, MemoryMessages, MemoryQueue, MemoryTemplates};
use polite_app::scheduler::campaigns::Controlled;
use polite_app::scheduler::{Scheduler, tick};
use polite_domain::campaign::{CampaignRecord, CampaignRequest, CampaignSettings, Control};
use polite_domain::events::Event;
use polite_domain::message::MessageState;
use polite_domain::ports::prelude::*;

const BUCKET: &str = "acme-audiences";
const PEOPLE: usize = 12_000;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A shop's export: a header, one line per person with their first name, every 1000th line a
/// number that is not one, a blank line, and person 5 listed again at the end.
fn export() -> String {
    let mut text = String::from("to,first_name\n");
    for n in 0..PEOPLE {
        if n % 1000 == 999 {
            text.push_str("not-a-number,Nobody\n");
        } else {
            writeln!(text, "+55119876{n:05},Person {n}").unwrap_or_else(|e| panic!("{e}"));
        }
        if n == 10 {
            text.push('\n');
        }
    }
    text.push_str("+5511987600005,Person 5 again\n");
    text
}

type Fakes = Scheduler<MemoryMessages, MemoryContacts, MemoryQueue, MemoryTemplates, MemoryAudiences>;

/// A scheduler reading `files`, and a marketing campaign to the file `key` stored on it
/// (nothing read yet).
async fn file_campaign(files: MemoryAudiences, key: &str) -> (Fakes, MemoryMessages, CampaignRecord) {
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
        "name": "spring", "category": "marketing",
        "template": {"name": "spring_sale", "language": "pt_BR"},
        "audience": {"s3": format!("s3://{BUCKET}/{key}")}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let campaign = request.validate(now()).unwrap_or_else(|e| panic!("{e:?}"));
    let ready = s.personalise(&campaign).await.unwrap_or_else(|e| panic!("{e}"));
    let record = s.create_campaign(&campaign, &ready, "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    (s, messages, record)
}

#[tokio::test]
async fn a_file_of_twelve_thousand_is_read_in_parts_and_a_fan_out_dying_half_way_duplicates_no_one() {
    let files = MemoryAudiences::default();
    let text = export();
    assert!(text.len() > 256 * 1024, "more than one part: {} bytes", text.len());
    files.put(BUCKET, "spring.csv", text.clone());
    let (s, messages, record) = file_campaign(files, "spring.csv").await;
    assert_eq!((record.accepted, record.chunks), (0, 1), "nothing read yet: one reader");

    // The first fan-out dies half-way through its fourth part (of 1 000 lines), after 3 500
    // messages: the reader stays after the third.
    messages.fail_after(Some(3_500));
    let first = tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    // Three parts read whole (three of their lines invalid), the fourth's messages left behind.
    assert_eq!((first.chunks, first.fan_out.created), (3, 2_997), "{first:?}");
    let report = s.report(&record.id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    let audience = report.audience.clone().unwrap_or_else(|| panic!("a file campaign shows its file"));
    assert_eq!(
        (audience.read, audience.done, report.messages),
        (3_002, false, 3_500),
        "a header, a repeat and three parts"
    );

    // Within its lease nothing happens; after it the part is read again, then the rest.
    messages.fail_after(None);
    let held = tick::run(&s, now() + SignedDuration::from_mins(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held.fan_out.created, 0, "{held:?}");
    let later = now() + SignedDuration::from_mins(6);
    let rest = tick::run(&s, later).await.unwrap_or_else(|e| panic!("{e}"));
    let invalid = PEOPLE / 1000;
    let accepted = PEOPLE - invalid;
    assert_eq!((rest.fan_out.existing, rest.fan_out.created), (503, accepted - 3_500), "{rest:?}");

    let report = s.report(&record.id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    let audience = report.audience.clone().unwrap_or_else(|| panic!("its file"));
    let lines = (text.lines().count()) as u64;
    assert_eq!((audience.read, audience.done), (lines, true), "every line read");
    assert_eq!((report.accepted, report.rejected), (Some(accepted), Some(invalid + 1)), "the repeat of person 5 too");
    assert_eq!(usize::try_from(report.messages).ok(), Some(accepted), "one message per person");

    // Each person once, with their own name.
    let mut people = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = messages.campaign_messages(&record.id, None, cursor.as_deref(), 500).await;
        let page = page.unwrap_or_else(|e| panic!("{e}"));
        for m in &page.messages {
            assert!(people.insert(m.to.to_string()), "{} twice", m.to);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(people.len(), accepted);
    let ana = messages.campaign_messages(&record.id, None, None, 8).await.unwrap_or_else(|e| panic!("{e}"));
    let seventh =
        ana.messages.iter().find(|m| m.to.to_string() == "5511987600007").unwrap_or_else(|| panic!("person 7"));
    let payload = serde_json::to_string(&seventh.payload).unwrap_or_default();
    assert!(payload.contains("Person 7"), "their own values: {payload}");

    // Read to the end: no more fan-out, ever.
    let after = tick::run(&s, later + SignedDuration::from_mins(10)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((after.fan_out.created, after.fan_out.existing), (0, 0));
}

/// `POST /v1/campaigns` answers without reading the file: a part is up to 1 000 recipients'
/// messages, work the request must not wait for (on the dev stack's moto, more than a minute).
/// The tick reads it, the first within a minute.
#[tokio::test]
async fn the_request_reads_none_of_the_file_and_the_tick_reads_it_all() {
    let files = MemoryAudiences::default();
    files.put(BUCKET, "spring.csv", export());
    let (s, _messages, record) = file_campaign(files, "spring.csv").await;
    let inline = s.fan_out_within(&record, std::time::Duration::from_mins(1), now()).await;
    assert_eq!(inline.created, 0, "{inline:?}");
    let report = s.report(&record.id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    assert_eq!((report.messages, report.audience.map(|a| a.read)), (0, Some(0)));
    let tick = tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tick.fan_out.created, PEOPLE - PEOPLE / 1000, "{tick:?}");
}

#[tokio::test]
async fn a_file_campaign_cancelled_before_it_is_read_ends_every_line_cancelled_and_completes() {
    let files = MemoryAudiences::default();
    let lines: Vec<String> = (0..50).map(|n| format!("\"+55119876{n:05}\"")).collect();
    files.put(BUCKET, "flash.jsonl", lines.join("\n"));
    let (s, messages, record) = file_campaign(files, "flash.jsonl").await;

    let cancelled = s.control(&record.id, Control::Cancel, std::time::Duration::from_secs(5), now()).await;
    let Ok(Controlled::Done { report, .. }) = cancelled else { panic!("{cancelled:?}") };
    assert_eq!(report.audience.map(|a| a.read), Some(0), "the request reads none of the file");
    // The tick reads it: each line's message is created cancelled.
    tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let report = s.report(&record.id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    let audience = report.audience.clone().unwrap_or_else(|| panic!("its file"));
    assert_eq!((audience.done, audience.accepted), (true, 50), "read to its end");
    assert_eq!(report.counts.get(&MessageState::Cancelled).copied(), Some(50), "each line's message cancelled");
    // Every message ended before the file did: completion is checked once it is read.
    let completed = Event::campaign_completed(&record.id, &std::collections::BTreeMap::new(), now());
    let outbox = messages.outbox().items();
    assert!(outbox.iter().any(|(id, _)| id == completed.id()), "campaign.completed is on its way");
    assert!(!messages.complete_if_done(&record.id, now()).await.unwrap_or(true), "once");
}
