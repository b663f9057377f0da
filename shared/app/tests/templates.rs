//! The template registry's use cases on in-memory fakes (no moto, no simulator): Meta's list
//! loaded page by page, template webhooks applied as the intake queues them, each aspect
//! moving only forward in time.

use jiff::Timestamp;
use polite_app::fakes::{MemoryCatalog, MemoryQueue, MemoryTemplates};
use polite_app::intake::{Queues, queue};
use polite_app::templates::{MAX_PAGES, Registry, RegistryError};
use polite_domain::message::Category;
use polite_domain::ports::prelude::*;
use polite_domain::template::{ListedTemplate, TemplateKey};
use polite_domain::webhook;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn listed(name: &str, category: &str, status: &str) -> ListedTemplate {
    ListedTemplate {
        id: Some(format!("{}", name.len())),
        name: name.into(),
        language: "en_US".into(),
        status: Some(status.into()),
        category: Some(category.into()),
        quality_score: None,
        components: Vec::new(),
        parameter_format: None,
    }
}

fn registry(templates: Vec<ListedTemplate>, page_size: usize) -> Registry<MemoryTemplates, MemoryCatalog> {
    Registry { store: MemoryTemplates::default(), catalog: Some(MemoryCatalog::new(templates, page_size)) }
}

/// What webhook-intake queues on template-events for a template webhook sent at `time`.
async fn queued(change: serde_json::Value, field: &str, time: i64) -> Vec<String> {
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": "900100200300", "time": time, "changes": [{"field": field, "value": change}]}]});
    let queues = Queues::open(|_| MemoryQueue::default());
    let text = body.to_string();
    let routed = webhook::route(text.as_bytes(), at("2026-12-03T12:00:00Z"));
    assert!(Box::pin(queue(&queues, &routed, "req")).await.is_ok());
    queues.templates.take_bodies()
}

#[tokio::test]
async fn a_load_reads_every_page_records_the_load_and_a_second_changes_nothing() {
    let names: Vec<String> = (0..7).map(|n| format!("t{n}")).collect();
    let r = registry(names.iter().map(|n| listed(n, "UTILITY", "APPROVED")).collect(), 3);
    let now = at("2026-12-03T12:00:00Z");
    let loaded = r.load(now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((loaded.listed, loaded.changed), (7, 7));
    assert_eq!(r.store.loaded_at().await.ok(), Some(Some(now)));
    let again = r.load(at("2026-12-03T13:00:00Z")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.listed, again.changed), (7, 0), "nothing new");
    let t3 = r.store.template(&TemplateKey::new("t3", "en_US")).await.ok().flatten();
    assert_eq!(t3.and_then(|t| t.category_at(now)), Some(Category::Utility));
}

#[tokio::test]
async fn a_load_keeps_each_templates_variables_and_a_webhook_leaves_them() {
    let mut offer = listed("spring_offer", "MARKETING", "APPROVED");
    offer.parameter_format = Some("NAMED".into());
    offer.components = vec![json!({"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off until Sunday"})];
    let r = registry(vec![offer], 10);
    r.load(at("2026-12-03T12:00:00Z")).await.unwrap_or_else(|e| panic!("{e}"));
    let key = TemplateKey::new("spring_offer", "en_US");
    let shape = |r: Option<polite_domain::template::TemplateRecord>| r.and_then(|t| t.shape).map(|s| (s.named, s.body));
    let expected = Some((true, vec!["first_name".to_owned(), "discount".to_owned()]));
    assert_eq!(shape(r.store.template(&key).await.ok().flatten()), expected);
    // A later status webhook carries no components: the variables stay.
    let paused = json!({"event": "PAUSED", "message_template_id": 1, "message_template_name": "spring_offer",
        "message_template_language": "en_US", "reason": "LOW_QUALITY"});
    for body in queued(paused, "message_template_status_update", 1_796_302_800).await {
        r.apply_record(&body).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let after = r.store.template(&key).await.ok().flatten();
    assert_eq!(after.as_ref().and_then(|t| t.status.clone()), Some("PAUSED".into()));
    assert_eq!(shape(after), expected);
}

#[tokio::test]
async fn a_list_that_never_ends_is_refused_and_not_recorded_as_loaded() {
    let r = registry((0..=MAX_PAGES).map(|n| listed(&format!("t{n}"), "MARKETING", "APPROVED")).collect(), 1);
    assert!(matches!(r.load(at("2026-12-03T12:00:00Z")).await, Err(RegistryError::TooManyPages)));
    assert_eq!(r.store.loaded_at().await.ok(), Some(None));
    let none: Registry<MemoryTemplates, MemoryCatalog> = Registry { store: MemoryTemplates::default(), catalog: None };
    assert!(matches!(none.load(at("2026-12-03T12:00:00Z")).await, Err(RegistryError::NoCatalog)));
}

#[tokio::test]
async fn a_webhook_pauses_a_template_and_an_older_list_does_not_undo_it() {
    let r = registry(vec![listed("spring_sale", "MARKETING", "APPROVED")], 100);
    let paused = json!({"event": "PAUSED", "message_template_id": 1, "message_template_name": "spring_sale",
        "message_template_language": "en_US", "reason": "NONE"});
    // Paused at 12:00:00 (the entry's time); the list was read a minute earlier.
    for body in queued(paused, "message_template_status_update", 1_796_299_200).await {
        r.apply_record(&body).await.unwrap_or_else(|e| panic!("{e}"));
    }
    r.load(at("2026-12-03T11:59:00Z")).await.unwrap_or_else(|e| panic!("{e}"));
    let record = r.store.template(&TemplateKey::new("spring_sale", "en_US")).await.ok().flatten();
    assert_eq!(record.and_then(|t| t.status), Some("PAUSED".into()), "the newer webhook holds");
}

#[tokio::test]
async fn a_record_that_is_not_a_template_change_is_refused() {
    let r = registry(Vec::new(), 100);
    let status = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "700800900"},
        "statuses": [{"id": "wamid.S", "status": "sent", "timestamp": "1796299200", "recipient_id": "5511987654321"}]});
    let queues = Queues::open(|_| MemoryQueue::default());
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": "900100200300", "changes": [{"field": "messages", "value": status}]}]});
    let text = body.to_string();
    let routed = webhook::route(text.as_bytes(), at("2026-12-03T12:00:00Z"));
    assert!(Box::pin(queue(&queues, &routed, "req")).await.is_ok());
    let statuses = queues.statuses.take_bodies();
    assert_eq!(statuses.len(), 1);
    assert!(matches!(r.apply_record(&statuses[0]).await, Err(RegistryError::UnexpectedKind(_))));
}
