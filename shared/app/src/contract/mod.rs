//! The ports' contracts as test suites: what every implementation of a port must do. Each
//! suite runs on the in-memory fake ([`crate::fakes`], in this crate's tests) and on the AWS
//! adapter (against moto, in `tests/tests/contracts.rs`), so a use case tested on a fake
//! behaves the same in AWS. A suite panics, naming the broken promise, when one does not hold.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test suites: a panic is their failure report"
)]

pub mod campaigns;
pub mod contacts;
pub mod messages;

use std::future::Future;

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::audience_file::{AudienceCursor, AudienceFile, FileFormat};
use polite_domain::caps::{Reservation, SentRecord};
use polite_domain::consent_import::{ImportJob, PartOutcome};
use polite_domain::events::Event;
use polite_domain::message::Category;
use polite_domain::ports::{
    AudienceFiles, EventBus, EventQueue, ImportStore, MAX_MESSAGE_BYTES, Outbox, PublishedEvents, QueueError,
    QueueMessage, ReportFiles, SendLog, TemplateCatalog, TemplateStore, WhatsAppApi,
};
use polite_domain::template::{TemplateKey, TemplateUpdate};
use polite_domain::whatsapp::{Content, Endpoint, Outbound};

fn message(i: usize, delay_seconds: u32) -> QueueMessage {
    QueueMessage { id: format!("e{i}"), body: format!("{{\"v\":1,\"n\":{i}}}"), delay_seconds }
}

/// [`EventQueue`]: every message is queued; an entry the queue refuses (a delay over 900 s, a
/// body over [`MAX_MESSAGE_BYTES`]) is refused alone, named in [`QueueError::Partial`], and the
/// others are queued all the same. `received` reads (and removes) the bodies on the queue.
///
/// # Panics
/// When the queue breaks the contract.
pub async fn event_queue<Q, R, F>(queue: &Q, received: R)
where
    Q: EventQueue + Sync,
    R: Fn() -> F,
    F: Future<Output = Vec<String>>,
{
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all: Vec<QueueMessage> = (0..25).map(|i| message(i, 0)).collect();
    let expected = sorted(all.iter().map(|m| m.body.clone()).collect());
    assert!(queue.send_all(all).await.is_ok(), "25 messages (three batches of SQS's 10) are queued");
    assert_eq!(sorted(received().await), expected, "each message arrives once");

    let mut mixed: Vec<QueueMessage> = (0..12).map(|i| message(i, 0)).collect();
    mixed[3].delay_seconds = 901;
    mixed[7].body = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_MESSAGE_BYTES));
    let Err(QueueError::Partial { failed }) = queue.send_all(mixed.clone()).await else {
        panic!("a delay over 900 s and an oversized body are refused, the rest queued")
    };
    let mut refused: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
    refused.sort_unstable();
    assert_eq!(refused, ["e3", "e7"], "exactly the refused entries are named");
    let delay = failed.iter().find(|f| f.id == "e3").map(|f| f.reason.as_str()).unwrap_or_default();
    assert!(delay.contains("DelaySeconds"), "the reason says why: {delay}");
    let others = sorted(mixed.iter().filter(|m| m.id != "e3" && m.id != "e7").map(|m| m.body.clone()).collect());
    assert_eq!(sorted(received().await), others, "the other entries are queued");

    assert!(queue.send_all(Vec::new()).await.is_ok(), "nothing to queue is no error");
}

/// [`AudienceFiles`]: a file reads back part by part, exactly, with its size; a read past
/// its end is empty; a file that is not there is `None`. `put` stores a file.
///
/// # Panics
/// When the store breaks the contract.
pub async fn audience_files<A, P, F>(files: &A, bucket: &str, put: P)
where
    A: AudienceFiles + Sync,
    P: Fn(String, Vec<u8>) -> F,
    F: Future<Output = ()>,
{
    let text: Vec<u8> = (0..2_000).flat_map(|n| format!("+55119876{n:05},Person {n}\n").into_bytes()).collect();
    put("spring.csv".into(), text.clone()).await;
    let file = |key: &str| AudienceFile { bucket: bucket.to_owned(), key: key.to_owned(), format: FileFormat::Csv };
    let spring = file("spring.csv");
    let mut read = Vec::new();
    while (read.len() as u64) < text.len() as u64 {
        let part = files.read_part(&spring, read.len() as u64, 10_000).await.unwrap().expect("the file is there");
        assert_eq!(part.size, text.len() as u64, "each part says the file's size");
        assert!(!part.bytes.is_empty() && part.bytes.len() <= 10_000, "at most the length asked: {}", part.bytes.len());
        read.extend(part.bytes);
    }
    assert_eq!(read, text, "the parts make the file, byte for byte");
    let past = files.read_part(&spring, text.len() as u64, 10_000).await.unwrap().expect("the file is there");
    assert_eq!((past.bytes.len(), past.size), (0, text.len() as u64), "nothing past the end");
    put("empty.csv".into(), Vec::new()).await;
    let empty = files.read_part(&file("empty.csv"), 0, 10_000).await.unwrap().expect("an empty file is there");
    assert_eq!((empty.bytes.len(), empty.size), (0, 0));
    assert_eq!(files.read_part(&file("missing.csv"), 0, 10).await.unwrap(), None, "no such file");
    assert!(files.reads_from(bucket).is_ok(), "its bucket");
    assert!(files.reads_from("someone-elses-bucket").is_err(), "no other");
}

/// [`ReportFiles`]: an export's file is written to the export bucket whole, read back byte
/// for byte, and a file written again is replaced (a step repeated after a lost answer).
///
/// # Panics
/// When the files break the contract.
pub async fn report_files<A>(files: &A)
where
    A: AudienceFiles + ReportFiles + Sync,
{
    let bucket = files.export_bucket().expect("an export bucket").to_owned();
    let key = "exports/cmp_1/exp_1/part-00000.csv";
    let file = AudienceFile { bucket, key: key.to_owned(), format: FileFormat::Csv };
    let first: Vec<u8> = (0..5_000).flat_map(|n| format!("msg_{n},+55119876{n:05},sent\n").into_bytes()).collect();
    for bytes in [first, b"message_id\n".to_vec()] {
        files.put_file(key, bytes.clone(), "text/csv; charset=utf-8").await.unwrap();
        let part = files.read_part(&file, 0, 1 << 20).await.unwrap().expect("the file is there");
        assert_eq!(part.bytes, bytes, "the file as last written, whole");
    }
}

/// [`ImportStore`]: an import stored once, read back as written, and moved only from the part
/// count it is at (a second reading of the same part is refused).
///
/// # Panics
/// When the store breaks the contract.
pub async fn import_store<S: ImportStore + Sync>(store: &S) {
    let file = AudienceFile { bucket: "acme-audiences".into(), key: "consent.csv".into(), format: FileFormat::Csv };
    let job = ImportJob::new("imp_1".into(), file, at(0));
    store.create_import(&job).await.unwrap();
    assert_eq!(store.import_job("imp_1").await.unwrap().as_ref(), Some(&job), "as stored");
    assert_eq!(store.import_job("imp_9").await.unwrap(), None);
    let cursor = AudienceCursor { offset: 4_096, lines: 1_001, ..AudienceCursor::default() };
    let part = PartOutcome { accepted: 998, rejected: 2, recorded: 990, already_recorded: 8 };
    let one = job.after_part(cursor, &part, at(5));
    assert!(store.advance_import(&job, &one).await.unwrap());
    assert!(!store.advance_import(&job, &one).await.unwrap(), "the part was read already");
    assert_eq!(store.import_job("imp_1").await.unwrap(), Some(one));
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + second).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn category(name: &str, category: Category, second: i64) -> TemplateUpdate {
    TemplateUpdate {
        key: TemplateKey::new(name, "en_US"),
        id: Some("1".into()),
        status: None,
        reason: None,
        category: Some(category),
        pending_category: None,
        quality: None,
        shape: None,
        at: at(second),
    }
}

/// [`TemplateStore`]: a template is created by its first update; an update changes only what
/// it is newer for (a late, older one changes nothing and says so); reads are strongly
/// consistent; [`TemplateStore::templates`] lists by name then language; the last complete
/// load is remembered. The store must be empty.
///
/// # Panics
/// When the store breaks the contract.
pub async fn template_store<S: TemplateStore + Sync>(store: &S) {
    let key = TemplateKey::new("spring_sale", "en_US");
    assert_eq!(store.template(&key).await.ok(), Some(None), "an unknown template is None");
    assert_eq!(store.loaded_at().await.ok(), Some(None), "never loaded");

    assert_eq!(store.apply_template(&category("spring_sale", Category::Marketing, 10)).await.ok(), Some(true));
    let stored = store.template(&key).await.ok().flatten().unwrap_or_else(|| panic!("created by its update"));
    assert_eq!(stored.category_at(at(11)), Some(Category::Marketing));
    assert_eq!(
        store.apply_template(&category("spring_sale", Category::Marketing, 10)).await.ok(),
        Some(false),
        "a replay changes nothing"
    );
    assert_eq!(
        store.apply_template(&category("spring_sale", Category::Utility, 5)).await.ok(),
        Some(false),
        "an older update changes nothing"
    );
    assert_eq!(
        store.template(&key).await.ok().flatten().and_then(|t| t.category_at(at(11))),
        Some(Category::Marketing)
    );
    assert_eq!(store.apply_template(&category("spring_sale", Category::Utility, 20)).await.ok(), Some(true));
    assert_eq!(store.template(&key).await.ok().flatten().and_then(|t| t.category_at(at(21))), Some(Category::Utility));

    assert_eq!(store.apply_template(&category("autumn_sale", Category::Marketing, 30)).await.ok(), Some(true));
    let names: Vec<String> =
        store.templates().await.unwrap_or_default().into_iter().map(|t| t.key.name.clone()).collect();
    assert_eq!(names, ["autumn_sale", "spring_sale"], "by name, then language");

    store.mark_loaded(at(40)).await.unwrap_or_else(|e| panic!("mark_loaded: {e}"));
    assert_eq!(store.loaded_at().await.ok(), Some(Some(at(40))));
}

/// [`SendLog`]: a reservation holds only on the history it was decided on (a second sender
/// that read the same version is told [`Reservation::Raced`]), and is idempotent on the
/// message id; an echo is recorded once per key and moves the version; a released send no
/// longer counts; sends are read since a time, oldest first, to the second. The log must be
/// empty.
///
/// # Panics
/// When the log breaks the contract.
pub async fn send_log<L: SendLog + Sync>(log: &L) {
    let ana = ContactRef::parse("+5511987654321").unwrap_or_else(|e| panic!("{e}"));
    let bea = ContactRef::parse("+5511912340001").unwrap_or_else(|e| panic!("{e}"));
    let keep = SignedDuration::from_hours(24 * 7);
    let sent = |second: i64| SentRecord { category: Category::Marketing, at: at(second) };
    let read = |person: ContactRef| async move { log.recent_sends(&person, at(0)).await.unwrap_or_default() };

    let first = read(ana.clone()).await;
    assert!(first.sends.is_empty(), "an unknown person has sent nothing");
    assert_eq!(log.reserve_send(&ana, "msg_1", sent(10), keep, &first).await.ok(), Some(Reservation::Reserved));
    assert_eq!(
        log.reserve_send(&ana, "msg_2", sent(11), keep, &first).await.ok(),
        Some(Reservation::Raced),
        "a send decided on a history that moved"
    );
    assert_eq!(
        log.reserve_send(&ana, "msg_1", sent(10), keep, &first).await.ok(),
        Some(Reservation::Reserved),
        "a redelivered job's reservation is already there"
    );
    let now = read(ana.clone()).await;
    assert_eq!(now.sends, [sent(10)]);
    assert_ne!(now.version, first.version, "the version moved");
    assert_eq!(log.reserve_send(&ana, "msg_2", sent(12), keep, &now).await.ok(), Some(Reservation::Reserved));

    log.record_sent(&ana, "wamid.ECHO", sent(5), keep).await.unwrap_or_else(|e| panic!("record_sent: {e}"));
    log.record_sent(&ana, "wamid.ECHO", sent(5), keep).await.unwrap_or_else(|e| panic!("record_sent again: {e}"));
    let with_echo = read(ana.clone()).await;
    assert_eq!(with_echo.sends, [sent(5), sent(10), sent(12)], "oldest first; the echo once");
    assert_eq!(
        log.reserve_send(&ana, "msg_3", sent(13), keep, &now).await.ok(),
        Some(Reservation::Raced),
        "an echo moves the version too"
    );
    let since = log.recent_sends(&ana, at(11)).await.unwrap_or_default();
    assert_eq!(since.sends, [sent(12)], "only the sends since the time asked");

    log.release_send(&ana, "msg_2").await.unwrap_or_else(|e| panic!("release_send: {e}"));
    assert_eq!(read(ana.clone()).await.sends, [sent(5), sent(10)], "a released send no longer counts");

    let subsecond = SentRecord { category: Category::Utility, at: at(50) + SignedDuration::from_millis(700) };
    let bea_read = read(bea.clone()).await;
    assert!(bea_read.sends.is_empty(), "each person has a log of their own");
    assert_eq!(log.reserve_send(&bea, "msg_9", subsecond, keep, &bea_read).await.ok(), Some(Reservation::Reserved));
    let bea_sends = read(bea).await.sends;
    assert_eq!(bea_sends, [SentRecord { category: Category::Utility, at: at(50) }], "kept to the second");
}

fn completed(campaign: usize) -> Event {
    let counts = std::collections::BTreeMap::from([("delivered".to_owned(), 1)]);
    Event::campaign_completed(&format!("cmp_{campaign}"), &counts, at(60))
}

/// [`EventBus`]: every event put arrives once, however many are put at once (EventBridge
/// takes ten per call). `received` reads (and removes) the ids (`detail.id`) of the events
/// that arrived.
///
/// # Panics
/// When the bus breaks the contract.
pub async fn event_bus<B, R, F>(bus: &B, received: R)
where
    B: EventBus + Sync,
    R: Fn() -> F,
    F: Future<Output = Vec<String>>,
{
    let events: Vec<Event> = (0..23).map(completed).collect();
    bus.put(&events).await.unwrap_or_else(|e| panic!("put: {e}"));
    let mut ids = received().await;
    ids.sort();
    let mut expected: Vec<String> = events.iter().map(|e| e.id().to_owned()).collect();
    expected.sort();
    assert_eq!(ids, expected, "each event arrives once");
    bus.put(&[]).await.unwrap_or_else(|e| panic!("nothing to put is no error: {e}"));
}

/// [`Outbox`] and [`PublishedEvents`] of the table `table`: an event is written once, however
/// often it is published (a retried fact publishes nothing more); scrubbing drops its detail
/// and keeps its id as the marker, so publishing it again still writes nothing; scrubbing an
/// unknown id is no error. `items` reads the outbox: each item's event id and whether it
/// still holds the detail.
///
/// # Panics
/// When the outbox breaks the contract.
pub async fn outbox<O, R, F>(outbox: &O, table: &str, items: R)
where
    O: Outbox + PublishedEvents + Sync,
    R: Fn() -> F,
    F: Future<Output = Vec<(String, bool)>>,
{
    let (first, second) = (completed(1), completed(2));
    for event in [&first, &second, &first] {
        outbox.publish(event, at(60)).await.unwrap_or_else(|e| panic!("publish: {e}"));
    }
    let mut held = items().await;
    held.sort();
    let ids = |held: &[(String, bool)]| held.iter().map(|(id, detail)| (id.clone(), *detail)).collect::<Vec<_>>();
    let mut expected = vec![(first.id().to_owned(), true), (second.id().to_owned(), true)];
    expected.sort();
    assert_eq!(ids(&held), expected, "one item per event, with its detail");

    outbox.scrub(table, first.id()).await.unwrap_or_else(|e| panic!("scrub: {e}"));
    outbox.scrub(table, "no-such-event").await.unwrap_or_else(|e| panic!("scrubbing an unknown id: {e}"));
    outbox.publish(&first, at(61)).await.unwrap_or_else(|e| panic!("publish again: {e}"));
    let mut after = items().await;
    after.sort();
    let mut expected = vec![(first.id().to_owned(), false), (second.id().to_owned(), true)];
    expected.sort();
    assert_eq!(ids(&after), expected, "scrubbed: the marker stays, the detail does not come back");
}

/// The template the WhatsApp contract sends.
pub const CONTRACT_TEMPLATE: &str = "order_shipped";

/// [`WhatsAppApi`]: a template to a phone number is accepted with a wamid of its own, the
/// answer naming the person as Meta does — their number and their business-scoped user id; a
/// send by that user id is accepted and answered with it; a user id Meta never showed the
/// business is refused (code 100). The API must accept [`CONTRACT_TEMPLATE`] (`en_US`).
///
/// # Panics
/// When the API breaks the contract.
pub async fn whatsapp_api<W: WhatsAppApi + Sync>(api: &W) {
    let template = serde_json::json!({"name": CONTRACT_TEMPLATE, "language": {"code": "en_US"}});
    let outbound = |to: &str, n: usize| Outbound {
        from: None,
        to: ContactRef::parse(to).unwrap_or_else(|e| panic!("{e}")),
        content: Content::Template(template.clone()),
        callback_data: Some(format!("msg_{n}")),
        reply_to: None,
        endpoint: Endpoint::Messages,
    };
    let first = api.send(&outbound("+5511987654321", 1)).await.unwrap_or_else(|e| panic!("a template goes: {e}"));
    let second = api.send(&outbound("+5511987654321", 2)).await.unwrap_or_else(|e| panic!("again: {e}"));
    assert!(first.wamid.starts_with("wamid.") && second.wamid.starts_with("wamid."), "{first:?} {second:?}");
    assert_ne!(first.wamid, second.wamid, "each send its own wamid");
    assert_eq!(first.wa_id.as_ref().map(|w| w.as_str().to_owned()), Some("5511987654321".to_owned()));
    let user = first.user_id.unwrap_or_else(|| panic!("the answer names the person's user id"));
    assert_eq!(second.user_id.as_ref(), Some(&user), "one person, one user id");

    let by_user = api.send(&outbound(user.as_str(), 3)).await.unwrap_or_else(|e| panic!("a send by user id: {e}"));
    assert_eq!(by_user.user_id.as_ref(), Some(&user));
    match api.send(&outbound("US.00000000000000000042", 4)).await {
        Err(polite_domain::whatsapp::SendFailure::Rejected { error, .. }) => assert_eq!(error.code, 100),
        other => panic!("a user id never shown is refused with 100: {other:?}"),
    }
}

/// The templates the catalog contract expects the catalog to hold, in its order: more than
/// one page (Meta serves 100 at most).
pub fn catalog_templates() -> Vec<(String, String, Category)> {
    (0..150)
        .map(|n| {
            let category = if n % 3 == 0 { Category::Marketing } else { Category::Utility };
            (format!("template_{n:03}"), if n % 2 == 0 { "en_US" } else { "pt_BR" }.to_owned(), category)
        })
        .collect()
}

/// [`TemplateCatalog`]: following the cursors from the first page lists every template of
/// [`catalog_templates`] exactly once, with its category and status, and the last page has
/// no cursor.
///
/// # Panics
/// When the catalog breaks the contract.
pub async fn template_catalog<C: TemplateCatalog + Sync>(catalog: &C) {
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = catalog.page(after.as_deref()).await.unwrap_or_else(|e| panic!("page {pages}: {e}"));
        pages += 1;
        assert!(pages < 100, "the cursors end");
        listed.extend(page.templates);
        match page.after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(pages >= 2, "more than one page");
    let mut got: Vec<(String, String, Option<String>, Option<String>)> = listed
        .into_iter()
        .map(|t| (t.name, t.language, t.category.map(|c| c.to_ascii_uppercase()), t.status))
        .collect();
    got.sort();
    let mut expected: Vec<(String, String, Option<String>, Option<String>)> = catalog_templates()
        .into_iter()
        .map(|(name, language, category)| {
            (name, language, Some(category.as_str().to_ascii_uppercase()), Some("APPROVED".to_owned()))
        })
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every template once");
}
