//! The ports' contracts (`polite_app::contract`) on the AWS adapters against moto: the same
//! suites the in-memory fakes pass (`shared/app/tests/contracts.rs`), so the fakes the use
//! cases are tested on cannot drift from what runs in AWS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_adapters::contacts::DynamoContacts;
use polite_adapters::queue::SqsQueue;
use polite_adapters::templates::DynamoTemplates;
use polite_app::contract;
use polite_tests::{Stack, drain};

#[tokio::test]
async fn sqs_keeps_the_event_queue_contract() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.queue("InboundEventsQueue");
    let queue = SqsQueue::new(sqs.clone(), url);
    contract::event_queue(&queue, || async { drain(&sqs, url).await.unwrap() }).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_template_store_contract() {
    let stack = Stack::create().await.unwrap();
    let templates = DynamoTemplates::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.table("TemplatesTable"));
    contract::template_store(&templates).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_send_log_contract() {
    let stack = Stack::create().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    contract::send_log(&DynamoContacts::new(dynamo, stack.table("ContactsTable"), b"test-contact-hash-key")).await;
}
