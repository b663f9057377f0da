//! `make bench`: webhook verify+parse against its floor, and gate decisions per second.
//!
//! The floor for a payload is what no implementation can avoid: HMAC-SHA256 over the bytes
//! plus one pass of serde_json that builds nothing (`IgnoredAny`). polite's verify+parse
//! also builds the typed events and walks them; the target is within 2× of the floor.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use polite_domain::WaId;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};
use polite_domain::gate::{Outbound, Policy, Recipient, decide};
use polite_domain::message::Category;
use polite_domain::webhook;
use sha2::Sha256;

const SECRET: &[u8] = b"bench-app-secret";

fn webhook_benches(c: &mut Criterion) {
    for n in [1usize, 10, 100] {
        let body = webhook::samples::statuses(n);
        let header = webhook::sign(SECRET, &body);
        let mut group = c.benchmark_group(format!("webhook/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("floor", n), |b| {
            b.iter(|| {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
                mac.update(black_box(&body));
                let tag = mac.finalize();
                let _: serde::de::IgnoredAny = serde_json::from_slice(black_box(&body)).unwrap();
                black_box(tag);
            });
        });
        group.bench_function(BenchmarkId::new("verify_parse", n), |b| {
            b.iter(|| {
                webhook::verify_signature(SECRET, black_box(&body), Some(&header)).unwrap();
                let parsed = webhook::parse(black_box(&body)).unwrap();
                black_box(parsed.events().filter(|e| e.kind.is_status()).count());
            });
        });
        group.bench_function(BenchmarkId::new("verify_route", n), |b| {
            b.iter(|| {
                webhook::verify_signature(SECRET, black_box(&body), Some(&header)).unwrap();
                let routed = webhook::route(black_box(&body), Timestamp::UNIX_EPOCH);
                let bodies: Vec<Vec<u8>> = routed
                    .statuses
                    .iter()
                    .map(|e| {
                        let mut out = Vec::with_capacity(e.data.get().len() + 192);
                        serde_json::to_writer(&mut out, e).unwrap();
                        out
                    })
                    .collect();
                black_box(bodies);
            });
        });
        group.finish();
    }
}

fn gate_benches(c: &mut Criterion) {
    let at = Timestamp::from_second(1_780_000_000).unwrap();
    let event = ConsentEvent::from_business(
        &WaId::parse("+12125551234").unwrap(),
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        ConsentSource::business("bench").unwrap(),
        None,
        at,
        at,
    )
    .unwrap();
    let recipient = Recipient { consent: ConsentState::fold([&event]), ..Recipient::default() };
    let policy = Policy::default();
    let cases = [
        ("send_single_zone", "+12125551234", "2026-06-10T16:00:00Z"),
        ("defer_single_zone", "+12125551234", "2026-06-11T02:00:00Z"),
        ("defer_eight_zones", "+61412345678", "2026-06-10T22:00:00Z"),
    ];
    let mut group = c.benchmark_group("gate");
    group.throughput(Throughput::Elements(1));
    for (name, to, now) in cases {
        let msg = Outbound {
            to: WaId::parse(to).unwrap().into(),
            category: Category::Marketing,
            free_form: false,
            expires_at: None,
        };
        let now: Timestamp = now.parse().unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(decide(black_box(&msg), &recipient, &policy, now, SignedDuration::from_secs(30))));
        });
        // As the sender sees it: the number arrives as text with each message, so
        // libphonenumber's parse is paid once per decision.
        group.bench_function(format!("{name}_fresh_number"), |b| {
            b.iter(|| {
                let msg = Outbound { to: WaId::parse(black_box(to)).unwrap().into(), ..msg.clone() };
                black_box(decide(&msg, &recipient, &policy, now, SignedDuration::from_secs(30)))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, webhook_benches, gate_benches);
criterion_main!(benches);
