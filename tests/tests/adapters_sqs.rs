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
