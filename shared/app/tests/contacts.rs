//! contacts-api's use cases on in-memory fakes (no moto): erasure tombstones every identity
//! of the person and forgets every message to any of them — a waiting one suppressed first, so
//! campaign counts stay exact; a message in flight waits for the next erasure.

use jiff::Timestamp;
use polite_app::contacts::{self, Erased, PartDone};
use polite_app::fakes::{EXPORT_BUCKET, MemoryAudiences, MemoryContacts, MemoryMessages, MemoryQueue};
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::consent_import::{ImportJob, ImportNudge};
use polite_domain::envelope::kinds;
use polite_domain::message::{Category, MessageState as S};
use polite_domain::people::Observation;
use polite_domain::ports::prelude::*;
use polite_domain::record::{MessageRecord, NewMessage};
use polite_domain::{BusinessScopedUserId, WaId};

fn now() -> Timestamp {
    "2026-12-03T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn id(s: &str) -> ContactRef {
    ContactRef::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

async fn message(messages: &MemoryMessages, n: u32, to: &str, state: S) {
    let payload = polite_domain::request::Payload::Template(serde_json::json!({"name": "spring_sale"}));
    let mut record = MessageRecord::new(format!("msg_{n}"), id(to), Category::Marketing, payload, state, now());
    record.campaign_id = Some("cmp_1".into());
    let new = NewMessage { record, idempotency_key: None, body_hash: String::new() };
    messages.create(&new).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn erasure_takes_every_identity_and_every_message_but_one_in_flight() {
    let (store, messages) = (MemoryContacts::new(b"test-key"), MemoryMessages::default());
    let (phone, user) = ("+5511987654321", "BR.13491208655302741918");
    let source = ConsentSource::business("web").unwrap_or_else(|e| panic!("{e}"));
    let opt_in = ConsentEvent::from_business(
        &id(phone),
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        source,
        None,
        now(),
        now(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(contacts::capture(&store, &id(phone), &opt_in).await.ok().flatten().is_some());
    let together = Observation::Together {
        phone: WaId::parse(phone).ok(),
        user: BusinessScopedUserId::parse(user).ok(),
        parent: None,
        at: now(),
    };
    store.observe(&together).await.unwrap_or_else(|e| panic!("{e}"));
    message(&messages, 1, phone, S::Queued).await;
    message(&messages, 2, user, S::Sent).await;
    message(&messages, 3, phone, S::Sending).await;

    let Erased { identities, in_flight } =
        contacts::erase(&store, &messages, &id(user), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(identities.len(), 2, "{identities:?}");
    assert_eq!(in_flight, 1, "the message being sent stays");
    for n in [1, 2] {
        assert_eq!(messages.get(&format!("msg_{n}")).await.ok().flatten(), None, "msg_{n} forgotten");
    }
    let tally = messages.campaign_tally("cmp_1").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((tally.count(S::Queued), tally.count(S::Suppressed)), (0, 1), "the waiting one counted as suppressed");
    for by in [phone, user] {
        assert_eq!(contacts::known(&store, &id(by)).await.ok(), Some(None), "{by}: erased, nothing since");
        assert!(store.get(&id(by)).await.ok().flatten().is_some_and(|c| c.erased), "{by}: still do-not-contact");
    }
    assert!(messages.campaign("cmp_9").await.ok().flatten().is_none());
    // Its statuses settle the one in flight; erasing again forgets it.
    let from = [S::Sending];
    let details = polite_domain::message::TransitionDetails::default();
    messages.transition("msg_3", &from, S::Sent, now(), details).await.unwrap_or_else(|e| panic!("{e}"));
    let again = contacts::erase(&store, &messages, &id(phone), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.in_flight, 0);
    assert_eq!(messages.get("msg_3").await.ok().flatten(), None);
}

#[tokio::test]
async fn a_number_polite_never_saw_is_erased_too() {
    let (store, messages) = (MemoryContacts::new(b"test-key"), MemoryMessages::default());
    let erased = contacts::erase(&store, &messages, &id("+14155550100"), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(erased, Erased { identities: vec![id("+14155550100")], in_flight: 0 });
    assert!(store.get(&id("+14155550100")).await.ok().flatten().is_some_and(|c| c.erased), "never message them");
}

/// The `n`th pseudo-random number of a test (stable across runs).
fn pick(n: usize, salt: &str) -> u64 {
    polite_domain::ids::stable_hash(&format!("{salt}:{n}"))
}

/// `records` consent records for `people` people, as a CRM exports them (every field of its
/// own, so no two are the same event), dated over a month in no particular order.
fn crm_export(records: usize, people: usize) -> Vec<serde_json::Value> {
    let start: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    (0..records)
        .map(|k| {
            let at = start + jiff::SignedDuration::from_secs(i64::try_from(pick(k, "at") % 2_592_000).unwrap_or(0));
            serde_json::json!({
                "contact": format!("+551190{:07}", k % people),
                "category": if pick(k, "category").is_multiple_of(3) { "utility" } else { "marketing" },
                "status": if pick(k, "status").is_multiple_of(2) { "opted_in" } else { "opted_out" },
                "source": "crm_sync",
                "evidence": format!("crm row {k}"),
                "occurred_at": at.to_string(),
            })
        })
        .collect()
}

/// Imports `records` in requests of at most 1 000: what was recorded, summed.
async fn import_all(store: &MemoryContacts, records: &[serde_json::Value]) -> contacts::Imported {
    let mut total = contacts::Imported::default();
    for batch in records.chunks(polite_domain::capture::MAX_INLINE_RECORDS) {
        let request = polite_domain::capture::ImportRequest { records: batch.to_vec() };
        let checked = request.check(now()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(checked.rejected.is_empty(), "{:?}", checked.rejected.first());
        let done = contacts::import(store, checked.records).await;
        total.recorded += done.recorded;
        total.current += done.current;
        total.already_recorded += done.already_recorded;
        total.failed.extend(done.failed);
    }
    total
}

#[tokio::test]
async fn an_import_of_ten_thousand_replayed_twice_among_stops_leaves_exactly_the_consent_the_order_defines() {
    let store = MemoryContacts::new(b"test-key");
    ten_thousand_replayed_twice_among_stops(&store, async |records| {
        let done = import_all(&store, records).await;
        assert!(done.failed.is_empty(), "{:?}", done.failed.first());
        (done.recorded, done.already_recorded)
    })
    .await;
}

#[tokio::test]
async fn the_same_from_a_file_on_s3_read_a_part_a_message() {
    let store = MemoryContacts::new(b"test-key");
    let (files, queue) = (MemoryAudiences::default(), MemoryQueue::default());
    let imports = std::cell::Cell::new(0);
    ten_thousand_replayed_twice_among_stops(&store, async |records| {
        imports.set(imports.get() + 1);
        let key = format!("consent-{}.jsonl", imports.get());
        let lines: Vec<String> = records.iter().map(ToString::to_string).collect();
        files.put(EXPORT_BUCKET, &key, lines.join("\n"));
        let job = file_import(&store, &files, &queue, &key).await;
        assert_eq!((job.accepted, job.rejected), (records.len() as u64, 0));
        let parts = usize::try_from(job.parts).unwrap_or(0);
        assert!(parts >= 10, "a part is at most 1 000 records: {parts}");
        // Every record's line in exactly one result file, accepted.
        let mut lines = Vec::new();
        for n in 0..job.parts {
            let results = files.get(EXPORT_BUCKET, &job.result_key(n)).unwrap_or_else(|| panic!("result {n}"));
            for line in String::from_utf8(results).unwrap_or_default().lines() {
                let result: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                assert_eq!(result["result"], "accepted", "{result}");
                lines.push(result["line"].as_u64().unwrap_or(0));
            }
        }
        assert_eq!(lines, (1..=records.len() as u64).collect::<Vec<_>>());
        let summary = files.get(EXPORT_BUCKET, &job.summary_key()).unwrap_or_default();
        let summary: serde_json::Value = serde_json::from_slice(&summary).unwrap_or_default();
        assert_eq!(summary["accepted"], records.len());
        (usize::try_from(job.recorded).unwrap_or(0), usize::try_from(job.already_recorded).unwrap_or(0))
    })
    .await;
}

/// Imports the file `key` as consent-updater does, message after message — each delivered
/// twice, and the 3rd lost once — until the import is done; the job then.
async fn file_import(store: &MemoryContacts, files: &MemoryAudiences, queue: &MemoryQueue, key: &str) -> ImportJob {
    let file =
        polite_domain::audience_file::AudienceRequest { s3: format!("s3://{EXPORT_BUCKET}/{key}"), format: None }
            .check()
            .unwrap_or_else(|e| panic!("{e:?}"));
    let job = contacts::start_import(store, queue, file, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut clock = now();
    let mut delivered = 0;
    loop {
        let bodies = queue.take_bodies();
        if bodies.is_empty() {
            let stalled = store.import_job(&job.id).await.ok().flatten().unwrap_or_else(|| panic!("the job"));
            if stalled.done {
                return stalled;
            }
            // The last message was lost: its predecessor's redelivery, later, asks again.
            clock += polite_domain::consent_import::STALLED_AFTER;
            let again = ImportNudge { import_id: job.id.clone(), part: stalled.parts - 1 };
            let done = contacts::import_part(store, files, queue, &again, clock).await;
            assert_eq!(done.ok(), Some(PartDone::Resent));
            continue;
        }
        for body in bodies {
            let nudge: ImportNudge =
                polite_domain::envelope::decode(kinds::CONSENT_IMPORT_PART, &body).unwrap_or_else(|e| panic!("{e}"));
            delivered += 1;
            if delivered == 3 {
                continue;
            }
            for _ in 0..2 {
                contacts::import_part(store, files, queue, &nudge, clock).await.unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// Done-when 2 of the issue, with `import` recording records and answering what it recorded
/// and what was already recorded.
async fn ten_thousand_replayed_twice_among_stops(
    store: &MemoryContacts,
    import: impl AsyncFn(&[serde_json::Value]) -> (usize, usize),
) {
    const PEOPLE: usize = 1_000;
    let export = crm_export(10_000, PEOPLE);
    let person = |p: usize| id(&format!("+551190{p:07}"));
    // A STOP every 7th person sends on WhatsApp, at a time among their records' (some of their
    // records are older, some newer), recorded as consent-updater records it.
    let stop_at = |p: usize| {
        let start: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
        start + jiff::SignedDuration::from_secs(i64::try_from(pick(p, "stop") % 2_592_000).unwrap_or(0))
    };
    let stops: Vec<(ContactRef, Vec<ConsentEvent>)> = (0..PEOPLE)
        .step_by(7)
        .map(|p| {
            let wamid = format!("wamid.STOP{p}");
            let events =
                ConsentEvent::from_keyword(polite_domain::consent::KeywordIntent::OptOut, &wamid, stop_at(p), now());
            (person(p), events)
        })
        .collect();
    let (first_half, second_half) = stops.split_at(stops.len() / 2);
    let stop = async |part: &[(ContactRef, Vec<ConsentEvent>)]| {
        for (who, events) in part {
            for event in events {
                store.append_consent(who, event).await.unwrap_or_else(|e| panic!("{e}"));
            }
        }
    };

    stop(first_half).await;
    let first = import(&export).await;
    stop(second_half).await;
    // Replayed twice: as sent, then backwards.
    let again = import(&export).await;
    let mut backwards = export.clone();
    backwards.reverse();
    let third = import(&backwards).await;
    stop(first_half).await;

    assert_eq!(first, (10_000, 0));
    assert_eq!(again, (0, 10_000), "a replay records nothing");
    assert_eq!(third, (0, 10_000));

    // The rule, written out: per person and category, the latest event wins, an opt-out on a
    // tie (then the event id) — whatever order they were recorded in.
    let mut events: std::collections::BTreeMap<ContactRef, Vec<ConsentEvent>> = std::collections::BTreeMap::new();
    for batch in export.chunks(polite_domain::capture::MAX_INLINE_RECORDS) {
        let checked = polite_domain::capture::ImportRequest { records: batch.to_vec() }.check(now());
        for record in checked.unwrap_or_else(|e| panic!("{e:?}")).records {
            events.entry(record.contact).or_default().push(record.event);
        }
    }
    for (who, stop_events) in &stops {
        events.entry(who.clone()).or_default().extend(stop_events.iter().cloned());
    }
    let mut opted_out = 0;
    for (who, theirs) in &events {
        let stored = store.get(who).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("{who} stored"));
        for category in [ConsentCategory::Marketing, ConsentCategory::Utility] {
            let winner = theirs
                .iter()
                .filter(|e| e.category == category)
                .max_by(|a, b| (a.occurred_at, a.status, &a.id).cmp(&(b.occurred_at, b.status, &b.id)));
            let expected = winner.map(|e| (e.status, e.occurred_at, e.id.clone()));
            let slot = match category {
                ConsentCategory::Marketing => &stored.consent.marketing,
                ConsentCategory::Utility => &stored.consent.utility,
            };
            let held = slot.as_ref().map(|c| (c.status, c.changed_at, c.event_id.clone()));
            assert_eq!(held, expected, "{who} {category:?}");
            opted_out += usize::from(held.is_some_and(|h| h.0 == ConsentStatus::OptedOut));
        }
        let ledger = store.consent_history(who).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ledger.len(), theirs.len(), "{who}: every event once");
    }
    assert_eq!(events.len(), PEOPLE);
    assert!(opted_out > 0 && opted_out < 2 * PEOPLE, "a mix, not one answer for all: {opted_out}");
}
