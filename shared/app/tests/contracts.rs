//! The ports' contracts (`polite_app::contract`) on the in-memory fakes; `tests/tests/contracts.rs`
//! runs the same suites on the AWS adapters against moto.

use polite_app::contract;
use polite_app::fakes::{
    MemoryAudiences, MemoryBus, MemoryCatalog, MemoryContacts, MemoryOutbox, MemoryQueue, MemorySendLog,
    MemoryTemplates, MemoryWhatsApp,
};
use polite_domain::template::ListedTemplate;

#[tokio::test]
async fn the_memory_queue_keeps_the_event_queue_contract() {
    let queue = MemoryQueue::default();
    contract::event_queue(&queue, || async { queue.take_bodies() }).await;
}

#[tokio::test]
async fn the_memory_audiences_keep_the_audience_files_contract() {
    let files = MemoryAudiences::default();
    contract::audience_files(&files, "acme-audiences", async |key, bytes| files.put("acme-audiences", &key, bytes))
        .await;
}

#[tokio::test]
async fn the_memory_contacts_keep_the_import_store_contract() {
    contract::import_store(&MemoryContacts::new(b"test-key")).await;
}

#[tokio::test]
async fn the_memory_audiences_keep_the_report_files_contract() {
    contract::report_files(&MemoryAudiences::default()).await;
}

#[tokio::test]
async fn the_memory_templates_keep_the_template_store_contract() {
    contract::template_store(&MemoryTemplates::default()).await;
}

#[tokio::test]
async fn the_memory_send_log_keeps_the_send_log_contract() {
    contract::send_log(&MemorySendLog::default()).await;
}

#[tokio::test]
async fn the_memory_bus_keeps_the_event_bus_contract() {
    let bus = MemoryBus::default();
    contract::event_bus(&bus, || async { bus.take().iter().map(|e| e.id().to_owned()).collect() }).await;
}

#[tokio::test]
async fn the_memory_outbox_keeps_the_outbox_contract() {
    let outbox = MemoryOutbox::new("ContactsTable");
    contract::outbox(&outbox, "ContactsTable", || async {
        outbox.items().into_iter().map(|(id, event)| (id, event.is_some())).collect()
    })
    .await;
}

#[tokio::test]
async fn the_memory_whatsapp_keeps_the_whatsapp_api_contract() {
    contract::whatsapp_api(&MemoryWhatsApp::default()).await;
}

#[tokio::test]
async fn the_memory_catalog_keeps_the_template_catalog_contract() {
    let listed = contract::catalog_templates()
        .into_iter()
        .map(|(name, language, category)| ListedTemplate {
            id: None,
            name,
            language,
            status: Some("APPROVED".into()),
            category: Some(category.as_str().to_ascii_uppercase()),
            quality_score: None,
            components: Vec::new(),
            parameter_format: None,
        })
        .collect();
    contract::template_catalog(&MemoryCatalog::new(listed, 100)).await;
}

/// The contacts store's contract, case by case, on the fake.
mod memory_contacts {
    use super::MemoryContacts;

    polite_app::contact_store_contract!(async || MemoryContacts::new(b"test-tombstone-key"));
}

/// The messages store's contract, case by case, on the fake.
mod memory_messages {
    use polite_app::fakes::MemoryMessages;

    polite_app::message_store_contract!(async || MemoryMessages::default());
}

/// The campaign store's contract, case by case, on the fake.
mod memory_campaigns {
    use polite_app::fakes::MemoryMessages;

    polite_app::campaign_store_contract!(async || MemoryMessages::default());
}
