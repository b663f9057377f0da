//! Tables provisioned from the template, against moto.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_tests::Stack;

#[tokio::test]
async fn tables_are_created_from_the_template_with_their_index_and_ttl() {
    let stack = Stack::create().await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let messages = ddb.describe_table().table_name(stack.table("MessagesTable")).send().await.unwrap();
    let table = messages.table().unwrap();
    let gsi: Vec<&str> = table.global_secondary_indexes().iter().filter_map(|g| g.index_name()).collect();
    assert_eq!(gsi, ["DueIndex", "CampaignIndex"]);
    // Epoch-second numbers both: the send log's `expires_at`; the idempotency and wamid
    // items' `ttl` (a message's own `expires_at` is its send deadline, a string).
    for (logical, attribute) in [("ContactsTable", "expires_at"), ("MessagesTable", "ttl")] {
        let ttl = ddb.describe_time_to_live().table_name(stack.table(logical)).send().await.unwrap();
        let attr = ttl.time_to_live_description().and_then(|d| d.attribute_name());
        assert_eq!(attr, Some(attribute), "{logical}");
    }
}

#[tokio::test]
async fn two_stacks_do_not_share_resources() {
    let (a, b) = (Stack::create().await.unwrap(), Stack::create().await.unwrap());
    assert_ne!(a.table("ContactsTable"), b.table("ContactsTable"));
    assert_ne!(a.queue("SendQueue"), b.queue("SendQueue"));
}
