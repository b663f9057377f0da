//! contacts-api's use cases on in-memory fakes (no moto): erasure tombstones every identity
//! of the person and forgets every message to any of them — a waiting one suppressed first, so
//! campaign counts stay exact; a message in flight waits for the next erasure.

use jiff::Timestamp;
use polite_app::contacts::{self, Erased};
use polite_app::fakes::{MemoryContacts, MemoryMessages};
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
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
