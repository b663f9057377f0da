//! Every event polite writes matches the JSON Schema committed for its `detail-type` in
//! `docs/events/` — the contract consumers code against.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::events::{DetailType, Event, EventContact, StateChange};
use serde_json::{Value, json};

fn schema(kind: DetailType) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/events/{}.schema.json", kind.as_str()));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn at() -> Timestamp {
    "2026-12-02T10:00:00Z".parse().unwrap()
}

fn every_kind() -> Vec<Event> {
    let ana = EventContact {
        id: "5511987654321".into(),
        wa_id: Some("5511987654321".into()),
        user_id: Some("BR.1A2B".into()),
    };
    let element = json!({"from": "5511987654321", "id": "wamid.X", "timestamp": "1764669600", "type": "text", "text": {"body": "Oi"}});
    let consent = ConsentEvent::from_business(
        &"5511987654321",
        ConsentCategory::Marketing,
        ConsentStatus::OptedIn,
        ConsentSource::business("web_checkout").unwrap(),
        Some("checkbox on /checkout".into()),
        at(),
        at(),
    )
    .unwrap();
    let change = StateChange {
        message_id: "msg_1".into(),
        campaign_id: None,
        state: "delivered".into(),
        reason: None,
        error: None,
        pricing: polite_domain::pricing::PricingRecord::from_meta(json!({"type": "regular", "category": "marketing"})),
        step: 4,
        at: at(),
    };
    let counts: BTreeMap<String, i64> = [("read".to_owned(), 7), ("failed".to_owned(), 1)].into_iter().collect();
    vec![
        Event::inbound_message(&ana, "wamid.X", "text", &element, Some("700800900"), Some(at()), at()),
        Event::consent_changed(&ana, &consent),
        Event::message_state_changed(&ana, &change),
        Event::campaign_completed("cmp_1", &counts, at()),
        Event::identity_linked(&ana, &["5511987654321".into(), "BR.1A2B".into()], at()),
        Event::contact_erased(&[polite_domain::ids::keyed_hash(b"k", "5511987654321")], at()),
    ]
}

#[test]
fn every_detail_type_matches_its_committed_schema() {
    let events = every_kind();
    let kinds: Vec<DetailType> = events.iter().map(|e| e.detail_type).collect();
    assert_eq!(kinds, DetailType::ALL, "one of each");
    for event in events {
        let validator = jsonschema::validator_for(&schema(event.detail_type)).unwrap();
        let errors: Vec<String> = validator.iter_errors(&event.detail).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}\n{}", event.detail_type.as_str(), event.detail);
    }
}

#[test]
fn a_schema_refuses_a_detail_that_breaks_it() {
    let mut event = every_kind().remove(1);
    event.detail["status"] = json!("maybe");
    let validator = jsonschema::validator_for(&schema(event.detail_type)).unwrap();
    assert!(!validator.is_valid(&event.detail), "the schemas do check");
}

#[test]
fn an_optional_field_without_a_value_is_absent_never_null() {
    for event in every_kind() {
        let nulls: Vec<&String> =
            event.detail.as_object().unwrap().iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k).collect();
        assert!(nulls.is_empty(), "{}: {nulls:?}", event.detail_type.as_str());
    }
    let mut changed = every_kind().remove(1);
    changed.detail["evidence"] = Value::Null;
    let validator = jsonschema::validator_for(&schema(changed.detail_type)).unwrap();
    assert!(!validator.is_valid(&changed.detail), "the schema refuses a null");
}
