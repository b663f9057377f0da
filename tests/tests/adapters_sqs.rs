//! SQS adapter and template-provisioned queues, against moto.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use polite_adapters::queue::SqsQueue;
use polite_domain::ports::{EventQueue, FailedEntry, QueueError, QueueMessage};
use polite_tests::{Stack, drain};

fn message(i: usize, delay_seconds: u32) -> QueueMessage {
    QueueMessage { id: format!("e{i}"), body: format!("{{\"v\":1,\"n\":{i}}}"), delay_seconds }
}

#[tokio::test]
async fn queues_are_created_from_the_template_with_their_redrive_policies() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    for (queue, dlq) in
        [("InboundEventsQueue", "InboundEventsDLQ"), ("StatusEventsQueue", "StatusEventsDLQ"), ("SendQueue", "SendDLQ")]
    {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(stack.queue(queue))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs = attrs.attributes().unwrap();
        let policy: serde_json::Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
        assert!(policy["deadLetterTargetArn"].as_str().unwrap().ends_with(&format!("-{dlq}")), "{queue}: {policy}");
        assert_eq!(policy["maxReceiveCount"].as_i64(), Some(5), "{queue}");
        assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "180");
    }
}

#[tokio::test]
async fn a_batch_of_25_with_one_refused_entry_queues_the_other_24_and_names_the_refused_one() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = SqsQueue::new(sqs.clone(), stack.queue("InboundEventsQueue"));
    // SQS refuses a DelaySeconds over 900 for that entry alone (SenderFault).
    let messages: Vec<QueueMessage> = (0..25).map(|i| message(i, if i == 13 { 901 } else { 0 })).collect();

    let err = queue.send_all(messages).await.unwrap_err();

    let QueueError::Partial { failed } = err else { panic!("expected a partial failure, got {err}") };
    assert_eq!(failed.iter().map(|f: &FailedEntry| f.id.as_str()).collect::<Vec<_>>(), ["e13"]);
    assert!(failed[0].reason.contains("DelaySeconds"), "{}", failed[0].reason);
    let received: BTreeSet<String> =
        drain(&sqs, stack.queue("InboundEventsQueue")).await.unwrap().into_iter().collect();
    let expected: BTreeSet<String> = (0..25).filter(|i| *i != 13).map(|i| message(i, 0).body).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_delayed_message_is_invisible_until_its_delay_passes() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.queue("SendQueue");
    SqsQueue::new(sqs.clone(), url).send_all(vec![message(1, 2)]).await.unwrap();

    let now = sqs.receive_message().queue_url(url).send().await.unwrap();
    assert!(now.messages().is_empty(), "visible before its delay");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = sqs.receive_message().queue_url(url).wait_time_seconds(1).send().await.unwrap();
    assert_eq!(later.messages().len(), 1);
}

#[tokio::test]
async fn a_message_received_five_times_moves_to_the_dead_letter_queue() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.queue("StatusEventsQueue");
    SqsQueue::new(sqs.clone(), url).send_all(vec![message(7, 0)]).await.unwrap();

    // A consumer that keeps failing: each receive makes it visible again at once.
    for _ in 0..5 {
        let out = sqs.receive_message().queue_url(url).visibility_timeout(0).send().await.unwrap();
        assert_eq!(out.messages().len(), 1);
    }
    let sixth = sqs.receive_message().queue_url(url).send().await.unwrap();
    assert!(sixth.messages().is_empty(), "still on the work queue after maxReceiveCount");
    assert_eq!(drain(&sqs, stack.queue("StatusEventsDLQ")).await.unwrap(), [message(7, 0).body]);
}

/// A batch delete as the event source mappings (and the dev stack's pollers) make it, on the
/// moto the tests and the dev stack run (`moto_server.py` deletes a batch in one pass): the
/// received entries go, one deleted before is fine, an unknown handle is named, and what was
/// not deleted is still there.
#[tokio::test]
async fn a_batch_delete_removes_what_it_names_and_names_an_unknown_handle() {
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.queue("StatusEventsQueue");
    SqsQueue::new(sqs.clone(), url).send_all((0..6).map(|i| message(i, 0)).collect()).await.unwrap();
    let mut received = Vec::new();
    while received.len() < 6 {
        let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        received.extend(out.messages().iter().cloned());
    }
    let entry = |id: &str, handle: &str| {
        DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle(handle).build().unwrap()
    };
    let handle = |i: usize| received[i].receipt_handle().unwrap().to_owned();
    sqs.delete_message().queue_url(url).receipt_handle(handle(0)).send().await.unwrap();

    let out = sqs
        .delete_message_batch()
        .queue_url(url)
        .entries(entry("again", &handle(0)))
        .entries(entry("a", &handle(1)))
        .entries(entry("b", &handle(2)))
        .entries(entry("unknown", "not-a-receipt-handle"))
        .send()
        .await
        .unwrap();

    let deleted: BTreeSet<&str> =
        out.successful().iter().map(aws_sdk_sqs::types::DeleteMessageBatchResultEntry::id).collect();
    assert_eq!(deleted, BTreeSet::from(["again", "a", "b"]));
    let failed: Vec<(&str, &str)> = out.failed().iter().map(|f| (f.id(), f.code())).collect();
    assert_eq!(failed, [("unknown", "ReceiptHandleIsInvalid")]);
    // The three not named come back once their visibility runs out; the deleted never.
    for m in &received[3..] {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let left: BTreeSet<String> = drain(&sqs, url).await.unwrap().into_iter().collect();
    let expected: BTreeSet<String> = received[3..].iter().map(|m| m.body().unwrap().to_owned()).collect();
    assert_eq!(left, expected);
}
