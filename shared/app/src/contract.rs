//! The ports' contracts as test suites: what every implementation of a port must do. Each
//! suite runs on the in-memory fake ([`crate::fakes`], in this crate's tests) and on the AWS
//! adapter (against moto, in `tests/tests/contracts.rs`), so a use case tested on a fake
//! behaves the same in AWS. A suite panics, naming the broken promise, when one does not hold.

use std::future::Future;

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::caps::{Reservation, SentRecord};
use polite_domain::message::Category;
use polite_domain::ports::{EventQueue, MAX_MESSAGE_BYTES, QueueError, QueueMessage, SendLog, TemplateStore};
use polite_domain::template::{TemplateKey, TemplateUpdate};

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
