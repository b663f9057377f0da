//! A signed webhook flows through verification, parsing, the consent rules and the gate —
//! the path webhook-intake → consent-updater → message-sender will take.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentKeywords, ConsentSource, ConsentStatus};
use polite_domain::gate::{Decision, Outbound, Policy, Recipient, SuppressReason, decide};
use polite_domain::message::Category;
use polite_domain::webhook::{self, EventKind, MessageContent};

const SECRET: &[u8] = b"flow-secret";

fn inbound_text(from: &str, wamid: &str, at: Timestamp, body: &str) -> Vec<u8> {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "900", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": at.as_second().to_string(), "type": "text", "text": {"body": body}}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

/// What consent-updater does with one verified body: keyword events applied to the contact.
fn receive(body: &[u8], header: &str, contact: &mut Recipient, now: Timestamp) {
    webhook::verify_signature(SECRET, body, Some(header)).unwrap();
    let keywords = ConsentKeywords::default();
    for event in webhook::parse(body).unwrap().events() {
        let EventKind::Message { message, .. } = event.kind else { continue };
        contact.last_inbound_at = contact.last_inbound_at.max(Some(message.sent_at(now)));
        let MessageContent::Text { body } = message.content() else { continue };
        let Some(intent) = keywords.classify_text(body) else { continue };
        for e in ConsentEvent::from_keyword(intent, &message.id, message.sent_at(now), now) {
            contact.consent.apply(&e);
        }
    }
}

#[test]
fn a_stop_text_suppresses_the_already_queued_marketing_message_and_start_restores_it() {
    let ana = ContactRef::parse("+5511987654321").unwrap();
    let noon = Timestamp::from_second(1_780_000_000).unwrap(); // 2026-05-28 17:26Z, 14:26 in São Paulo
    let mut contact = Recipient::default();
    let opt_in = ConsentEvent::from_business(
        &ana,
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        ConsentSource::business("web_checkout").unwrap(),
        Some("checkbox".into()),
        noon - SignedDuration::from_hours(48),
        noon,
    )
    .unwrap();
    contact.consent.apply(&opt_in);
    let queued = Outbound { to: ana.clone(), category: Category::Marketing, free_form: false, expires_at: None };
    let policy = Policy::default();
    assert_eq!(decide(&queued, &contact, &policy, noon, SignedDuration::ZERO).decision, Decision::Send);

    let stop = inbound_text(ana.as_str(), "wamid.STOP1", noon - SignedDuration::from_mins(1), "Stop");
    receive(&stop, &webhook::sign(SECRET, &stop), &mut contact, noon);
    assert_eq!(
        decide(&queued, &contact, &policy, noon, SignedDuration::ZERO).decision,
        Decision::Suppress { reason: SuppressReason::OptedOut }
    );

    // Meta retries the same webhook days later: nothing changes.
    receive(&stop, &webhook::sign(SECRET, &stop), &mut contact, noon + SignedDuration::from_hours(72));
    assert_eq!(contact.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));

    let start = inbound_text(ana.as_str(), "wamid.START1", noon + SignedDuration::from_mins(1), "START");
    receive(&start, &webhook::sign(SECRET, &start), &mut contact, noon);
    let later = noon + SignedDuration::from_mins(2);
    assert_eq!(decide(&queued, &contact, &policy, later, SignedDuration::ZERO).decision, Decision::Send);
}

#[test]
fn a_tampered_body_is_refused_before_anything_is_read() {
    let body = inbound_text("5511987654321", "wamid.X", Timestamp::from_second(1_780_000_000).unwrap(), "STOP");
    let header = webhook::sign(SECRET, &body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'S').unwrap();
    tampered[at] = b's';
    assert_eq!(webhook::verify_signature(SECRET, &tampered, Some(&header)), Err(webhook::SignatureError::Mismatch));
}

#[test]
fn an_older_stop_replayed_after_a_newer_start_does_not_opt_the_user_out() {
    let mut contact = Recipient::default();
    let t0 = Timestamp::from_second(1_780_000_000).unwrap();
    let start = inbound_text("5511987654321", "wamid.START", t0 + SignedDuration::from_hours(1), "START");
    let stop = inbound_text("5511987654321", "wamid.STOP", t0, "STOP");
    receive(&start, &webhook::sign(SECRET, &start), &mut contact, t0);
    receive(&stop, &webhook::sign(SECRET, &stop), &mut contact, t0);
    assert!(contact.consent.is_opted_in(ConsentCategory::Marketing));
}
