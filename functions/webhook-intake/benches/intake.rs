//! `make bench`: events per second through webhook-intake's whole POST path — the handler
//! itself: size check, signature, route, one envelope per event — with queues that accept and
//! drop every message. `bench_summary.py` prints it next to the domain benchmark's floor
//! (HMAC-SHA256 + a serde pass that builds nothing) for the same bytes; the target is at least
//! 50 % of the floor's rate.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code: a panic is the failure report")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use polite_app::intake::{Outgoing, Queues};
use polite_domain::ports::{EventQueue, QueueError, QueueMessage};
use polite_domain::webhook;
use webhook_intake::{Intake, handle};

const SECRET: &str = "bench-app-secret";

/// A queue that takes everything and keeps nothing: the benchmark measures intake, not SQS.
struct Discard;

impl EventQueue for Discard {
    async fn send_all(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        black_box(messages);
        Ok(())
    }
}

fn post(body: &[u8], signature: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/webhook")
        .header(webhook::SIGNATURE_HEADER, signature)
        .body(Body::Binary(body.to_vec()))
        .unwrap()
}

fn intake_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let intake = Intake {
        app_secret: SECRET.into(),
        verify_token: "unused".into(),
        queues: Queues { inbound: Discard, statuses: Discard, templates: Discard, parking: Discard },
    };
    for n in [1usize, 10, 100] {
        let body = webhook::samples::statuses(n);
        let signature = webhook::sign(SECRET.as_bytes(), &body);
        let mut group = c.benchmark_group(format!("intake/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("handler", n), |b| {
            // The request (a copy of the body, as lambda_http hands it over) is built outside
            // the measurement.
            b.iter_batched(
                || post(&body, &signature),
                |req| {
                    let response = rt.block_on(handle(&intake, req));
                    assert_eq!(response.status(), StatusCode::OK);
                    black_box(response)
                },
                criterion::BatchSize::SmallInput,
            );
        });
        // The same work without the HTTP request and response around it.
        group.bench_function(BenchmarkId::new("verify_route_encode", n), |b| {
            b.iter(|| {
                webhook::verify_signature(SECRET.as_bytes(), black_box(&body), Some(&signature)).unwrap();
                let routed = webhook::route(black_box(&body), jiff::Timestamp::UNIX_EPOCH);
                black_box(Outgoing::of(&routed, "bench").unwrap())
            });
        });
        group.finish();
    }
}

criterion_group!(benches, intake_benches);
criterion_main!(benches);
