//! The fuzz target's invariants over every input worth keeping: the fixtures' bodies, the
//! crash inputs `cargo fuzz` found (`fuzz/regressions/`, committed once fixed), and edge
//! cases written by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use std::path::PathBuf;

use common::{fixture, fixture_names};
use webhook_intake::invariants::route_and_encode;

#[test]
fn every_fixture_body_keeps_the_invariants() {
    for name in fixture_names() {
        let req = fixture(&name);
        route_and_encode(req.body().as_ref());
    }
}

#[test]
fn every_committed_fuzz_input_keeps_the_invariants() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        route_and_encode(&std::fs::read(&path).unwrap());
        seen += 1;
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}

#[test]
fn hand_written_edge_cases_keep_the_invariants() {
    let cases: &[&[u8]] = &[
        b"",
        b"\xff\xfe",
        b"null",
        b"[]",
        b"{}",
        br#"{"object":"whatsapp_business_account"}"#,
        br#"{"object":"whatsapp_business_account","entry":[]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{}}]}]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[1,"x",{}]}}]}]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":7,"messages":[{}]}}]}]}"#,
        br#"{"object":"page","entry":[]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"x","value":{"messages":[{}]}}]}]} trailing"#,
    ];
    for case in cases {
        route_and_encode(case);
    }
}
