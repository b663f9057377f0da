//! consent-updater's use case on in-memory fakes (no moto, no simulator): webhooks as the
//! intake queues them, applied to the contacts store — STOP by keyword and by WhatsApp's own
//! control, the window, the events told, a confirmation reply sent once, replays changing
//! nothing.

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryContacts, MemoryQueue, MemoryWhatsApp};
use polite_app::inbound::{Confirmations, Updater};
use polite_app::intake::{Queues, queue};
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentKeywords, ConsentStatus};
use polite_domain::inbound::ConfirmationTexts;
use polite_domain::ports::prelude::*;
use polite_domain::webhook;
use serde_json::{Value, json};

const ANA: &str = "5511987654321";

fn updater() -> Updater<MemoryContacts, MemoryWhatsApp> {
    let texts = ConfirmationTexts { opt_out: Some("Done: no more promotions.".into()), opt_in: None };
    Updater {
        store: MemoryContacts::new(b"test-key"),
        keywords: ConsentKeywords::default(),
        confirmations: Some(Confirmations { api: MemoryWhatsApp::default(), texts }),
        send_memory: SignedDuration::from_hours(24 * 7),
    }
}

fn ana() -> ContactRef {
    ContactRef::parse(ANA).unwrap_or_else(|e| panic!("{e}"))
}

fn webhook_of(field: &str, value: &Value) -> Vec<u8> {
    let mut value = value.clone();
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": "700800900"});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100200300", "changes": [{"field": field, "value": value}]}]})
        .to_string()
        .into_bytes()
}

fn text(id: &str, body: &str, at: Timestamp) -> Vec<u8> {
    webhook_of(
        "messages",
        &json!({
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": ANA}],
            "messages": [{"from": ANA, "id": id, "timestamp": at.as_second().to_string(), "type": "text", "text": {"body": body}}]
        }),
    )
}

/// What the intake puts on inbound-events for `body`, applied at `now`.
async fn deliver(u: &Updater<MemoryContacts, MemoryWhatsApp>, body: &[u8], now: Timestamp) {
    let queues = Queues::open(|_| MemoryQueue::default());
    assert!(Box::pin(queue(&queues, &webhook::route(body, now), "req")).await.is_ok());
    for record in queues.inbound.take_bodies() {
        u.apply_record(&record, now).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

fn detail_types(u: &Updater<MemoryContacts, MemoryWhatsApp>) -> Vec<String> {
    let events = u.store.outbox().items().into_iter().filter_map(|(_, e)| e);
    events.map(|e| e.detail_type.as_str().to_owned()).collect()
}

#[tokio::test]
async fn a_stop_keyword_opts_out_of_everything_confirms_once_and_a_replay_changes_nothing() {
    let u = updater();
    let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let now = at + SignedDuration::from_secs(2);
    let stop = text("wamid.STOP1", "STOP", at);
    deliver(&u, &stop, now).await;

    let person = u.store.get(&ana()).await.ok().flatten().unwrap_or_else(|| panic!("Ana is stored"));
    for category in [ConsentCategory::Marketing, ConsentCategory::Utility] {
        assert_eq!(person.consent.status(category), Some(ConsentStatus::OptedOut), "{category:?}");
    }
    assert_eq!(person.last_inbound_at, Some(at), "the window opened");
    let sent = u.confirmations.as_ref().map(|c| c.api.sent()).unwrap_or_default();
    assert_eq!(sent.len(), 1, "one confirmation");
    assert_eq!((sent[0].to.clone(), sent[0].reply_to.as_deref()), (ana(), Some("wamid.STOP1")));
    let told = detail_types(&u);
    assert_eq!(told.iter().filter(|t| *t == "consent.changed").count(), 2, "{told:?}");
    assert_eq!(told.iter().filter(|t| *t == "inbound.message").count(), 1, "{told:?}");

    // Meta retries the webhook: nothing changes, nothing more is sent or told.
    deliver(&u, &stop, now + SignedDuration::from_mins(5)).await;
    assert_eq!(u.confirmations.as_ref().map(|c| c.api.sent().len()), Some(1));
    assert_eq!(detail_types(&u).len(), told.len());
    assert_eq!(u.store.consent_history(&ana()).await.map(|h| h.len()).ok(), Some(2));
}

#[tokio::test]
async fn whatsapps_own_stop_control_opts_out_of_marketing_only() {
    let u = updater();
    let now: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let stop = webhook_of(
        "user_preferences",
        &json!({
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": ANA}],
            "user_preferences": [{"wa_id": ANA, "detail": "User requested to stop marketing messages",
                "category": "marketing_messages", "value": "stop", "timestamp": now.as_second() - 5}]
        }),
    );
    deliver(&u, &stop, now).await;
    let person = u.store.get(&ana()).await.ok().flatten().unwrap_or_else(|| panic!("Ana is stored"));
    assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    assert_eq!(person.consent.status(ConsentCategory::Utility), None);
    assert_eq!(u.confirmations.as_ref().map(|c| c.api.sent().len()), Some(0), "WhatsApp shows its own");
}

#[tokio::test]
async fn an_older_stop_arriving_after_a_newer_opt_in_does_not_win() {
    let u = updater();
    let t0: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let later = t0 + SignedDuration::from_hours(1);
    deliver(&u, &text("wamid.START", "START", later), later).await;
    deliver(&u, &text("wamid.STOP", "STOP", t0), later + SignedDuration::from_mins(1)).await;
    let person = u.store.get(&ana()).await.ok().flatten().unwrap_or_else(|| panic!("Ana is stored"));
    assert_eq!(person.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedIn));
    assert_eq!(person.last_inbound_at, Some(later), "the window never moves back");
    assert_eq!(u.store.consent_history(&ana()).await.map(|h| h.len()).ok(), Some(4), "both kept, each category");
}
