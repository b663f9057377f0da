//! The messages table adapter against moto: the contract every messages store keeps (the same
//! suite runs on the in-memory fake).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_adapters::messages::DynamoMessages;
use polite_tests::Stack;

async fn store() -> DynamoMessages {
    let stack = Stack::create().await.unwrap();
    DynamoMessages::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.table("MessagesTable"),
        b"test-contact-hash-key",
    )
}

polite_app::message_store_contract!(store);

/// The campaign store's contract, case by case, on DynamoDB.
mod campaigns {
    use super::store;

    polite_app::campaign_store_contract!(store);
}
