//! The domain-only story (`cargo run -p polite-domain --example story`): polite's rules, end to
//! end, on plain values. `make demo` tells the same story on the local stack.
//!
//! A business captures opt-ins, sends a marketing campaign to recipients in several time
//! zones, one recipient texts "PARAR" through a signed webhook, another taps "Stop
//! promotions", and Meta's statuses arrive duplicated and out of order. Everything below is
//! the real domain code the Lambda functions run.

#![allow(clippy::print_stdout, reason = "a demo prints its transcript")]

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use polite_domain::consent::{
    ConsentCategory, ConsentEvent, ConsentKeywords, ConsentSource, ConsentState, ConsentStatus,
};
use polite_domain::gate::{Decision, Outbound, Policy, Recipient, decide};
use polite_domain::message::{Category, MessageState, StatusValue, Transition};
use polite_domain::webhook::{self, EventKind, MessageContent};
use polite_domain::{IdError, WaId};

const APP_SECRET: &[u8] = b"demo-app-secret";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now: Timestamp = "2026-06-11T02:00:00Z".parse()?; // 22:00 in New York, 23:00 in São Paulo
    println!("polite demo — the domain rules end to end (now = {now})\n");

    let people = [
        ("Ana (São Paulo)", "+5511987654321"),
        ("Bob (New York)", "+12125551234"),
        ("Chen (Sydney mobile)", "+61412345678"),
        ("Dev (Mumbai)", "+919812345678"),
        ("Eve (Lisbon)", "+351912345678"),
    ];
    let mut contacts: BTreeMap<WaId, Recipient> = BTreeMap::new();

    println!("1. The business captures marketing opt-ins with evidence");
    for (name, number) in people {
        let id = WaId::parse(number)?;
        let event = ConsentEvent::from_business(
            &id,
            ConsentCategory::Marketing,
            ConsentStatus::OptedIn,
            ConsentSource::business("web_checkout")?,
            Some("Ticked 'Send me offers on WhatsApp from Acme' on /checkout".into()),
            "2025-11-01T12:00:00Z".parse()?, // before the PARAR below (event time orders consent)
            now,
        )?;
        println!("   {name:<22} {:<16} opted in  (event {})", id.masked(), event.id);
        contacts.insert(id, Recipient { consent: ConsentState::fold([&event]), ..Recipient::default() });
    }

    println!("\n2. Ana texts \"PARAR\"; the webhook is signed, verified and parsed");
    let body = include_bytes!("../tests/fixtures/webhook/inbound_text.json");
    let header = webhook::sign(APP_SECRET, body);
    webhook::verify_signature(APP_SECRET, body, Some(&header))?;
    let keywords = ConsentKeywords::default();
    for event in webhook::parse(body)?.events() {
        let EventKind::Message { message, .. } = event.kind else { continue };
        let MessageContent::Text { body } = message.content() else { continue };
        let from = WaId::parse(message.from.as_deref().ok_or(IdError::InvalidLength(0))?)?;
        if let Some(intent) = keywords.classify_text(body) {
            let events = ConsentEvent::from_keyword(intent, &message.id, message.sent_at(now), now);
            let contact = contacts.entry(from.clone()).or_default();
            for e in &events {
                contact.consent.apply(e);
            }
            println!("   signature ok; {} said {body:?} → {intent:?} for marketing and utility", from.masked());
        }
    }

    println!("\n3. Bob taps the template's \"Stop promotions\" button (payload OPTOUT_MARKETING)");
    let bob = WaId::parse("+12125551234")?;
    if keywords.is_optout_button(Some("OPTOUT_MARKETING"), Some("Stop promotions")) {
        let e = ConsentEvent::from_button("wamid.bob-tap", now - SignedDuration::from_mins(5), now);
        contacts.entry(bob.clone()).or_default().consent.apply(&e);
        println!("   {} → marketing opted out", bob.masked());
    }

    println!("\n4. A marketing campaign goes to everyone; the gate decides per recipient");
    let policy = Policy::default();
    for (name, number) in people {
        let to = WaId::parse(number)?;
        let recipient = contacts.get(&to).cloned().unwrap_or_default();
        let msg = Outbound { to: to.into(), category: Category::Marketing, free_form: false, expires_at: None };
        let out = decide(&msg, &recipient, &policy, now, SignedDuration::from_secs(42));
        let zone = out.zone.map(|z| format!(" [zone {}: {:?}]", z.zones.join("+"), z.basis)).unwrap_or_default();
        let verdict = match out.decision {
            Decision::Send => "SEND now".to_owned(),
            Decision::Defer { until, reason } => format!("DEFER until {until} ({reason:?})"),
            Decision::Suppress { reason } => format!("SUPPRESS ({reason:?})"),
            Decision::Expire => "EXPIRE".to_owned(),
        };
        println!("   {name:<22} {verdict}{zone}");
    }

    println!("\n5. Meta's statuses for Eve's message arrive duplicated and out of order");
    let mut state = MessageState::Sending;
    let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
    *counts.entry(state.as_str()).or_default() += 1;
    for status in ["read", "sent", "delivered", "read", "failed", "sent"] {
        let t = state.apply_status(&StatusValue::parse(status));
        match t {
            Transition::Moved { from, to } => {
                *counts.entry(from.as_str()).or_default() -= 1;
                *counts.entry(to.as_str()).or_default() += 1;
                state = to;
                println!("   {status:<10} moves {from} → {to}");
            }
            Transition::Ignored(why) => println!("   {status:<10} ignored ({why:?})"),
        }
    }
    counts.retain(|_, n| *n != 0);
    println!("   final state: {state}; campaign counters: {counts:?}");
    println!("\nDone: opt-outs honoured at once, nobody messaged in their night, numbers exact.");
    Ok(())
}
