//! The ports' contracts (`polite_app::contract`) on the in-memory fakes; `tests/tests/contracts.rs`
//! runs the same suites on the AWS adapters against moto.

use polite_app::contract;
use polite_app::fakes::{MemoryQueue, MemorySendLog, MemoryTemplates};

#[tokio::test]
async fn the_memory_queue_keeps_the_event_queue_contract() {
    let queue = MemoryQueue::default();
    contract::event_queue(&queue, || async { queue.take_bodies() }).await;
}

#[tokio::test]
async fn the_memory_templates_keep_the_template_store_contract() {
    contract::template_store(&MemoryTemplates::default()).await;
}

#[tokio::test]
async fn the_memory_send_log_keeps_the_send_log_contract() {
    contract::send_log(&MemorySendLog::default()).await;
}
