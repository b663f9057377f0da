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

/// moto as the dev stack runs it keeps each index query's items in a map it updates on every
/// write (`moto_server.py`): a query must see each kind of write as DynamoDB's index would —
/// a put, an update that moves or removes the index key, a delete, a batch write, a
/// transaction, and not a cancelled one.
#[tokio::test]
async fn an_index_query_sees_every_write_as_it_is_now() {
    use aws_sdk_dynamodb::types::{
        AttributeValue, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
    };
    let stack = Stack::create().await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.table("MessagesTable").to_owned();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let item = |id: &str, shard: &str| {
        std::collections::HashMap::from([
            ("pk".to_owned(), s(&format!("M#{id}"))),
            ("sk".to_owned(), s("MSG")),
            ("due_shard".to_owned(), s(shard)),
            ("due_at".to_owned(), s(&format!("2026-12-10T10:00:0{}Z", id.len() % 10))),
        ])
    };
    let key = |id: &str| {
        std::collections::HashMap::from([("pk".to_owned(), s(&format!("M#{id}"))), ("sk".to_owned(), s("MSG"))])
    };
    let shard = |shard: &'static str| {
        let (ddb, table) = (ddb.clone(), table.clone());
        async move {
            let mut ids = due_index(&ddb, &table, shard, None).await;
            ids.sort();
            ids
        }
    };
    for (id, sh) in [("a", "1"), ("b", "1"), ("c", "2")] {
        ddb.put_item().table_name(&table).set_item(Some(item(id, sh))).send().await.unwrap();
    }
    assert_eq!((shard("1").await, shard("2").await), (vec!["a".into(), "b".into()], vec!["c".into()]));

    // An update moves one to another shard; another takes it out of the index.
    let update = |id: &'static str, expression: &'static str| {
        ddb.update_item().table_name(&table).set_key(Some(key(id))).update_expression(expression)
    };
    update("a", "SET due_shard = :s").expression_attribute_values(":s", s("2")).send().await.unwrap();
    update("b", "REMOVE due_shard, due_at").send().await.unwrap();
    // A refused update changes nothing.
    let refused = update("c", "SET due_shard = :s")
        .expression_attribute_values(":s", s("3"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!((shard("1").await, shard("2").await), (Vec::<String>::new(), vec!["a".into(), "c".into()]));
    assert_eq!(shard("3").await, Vec::<String>::new());

    // A put over an item replaces its index entry; a delete removes it; a batch does both.
    ddb.put_item().table_name(&table).set_item(Some(item("c", "3"))).send().await.unwrap();
    ddb.delete_item().table_name(&table).set_key(Some(key("a"))).send().await.unwrap();
    let put =
        WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item("d", "1"))).build().unwrap());
    let delete =
        WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key("c"))).build().unwrap());
    ddb.batch_write_item().request_items(&table, vec![put.build(), delete.build()]).send().await.unwrap();
    assert_eq!(
        (shard("1").await, shard("2").await, shard("3").await),
        (vec!["d".into()], Vec::<String>::new(), Vec::<String>::new())
    );

    // A transaction's writes are indexed; a cancelled one's are not.
    let transaction = |condition: &str| {
        let put = Put::builder().table_name(&table).set_item(Some(item("e", "4"))).build().unwrap();
        let moved = Update::builder()
            .table_name(&table)
            .set_key(Some(key("d")))
            .update_expression("SET due_shard = :s")
            .condition_expression(condition)
            .expression_attribute_values(":s", s("4"))
            .build()
            .unwrap();
        ddb.transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(moved).build())
    };
    assert!(transaction("attribute_not_exists(pk)").send().await.is_err(), "cancelled");
    assert_eq!((shard("1").await, shard("4").await), (vec!["d".into()], Vec::<String>::new()));
    transaction("attribute_exists(pk)").send().await.unwrap();
    assert_eq!((shard("1").await, shard("4").await), (Vec::<String>::new(), vec!["d".into(), "e".into()]));
}

/// The same moto keeps only what an index query's range condition keeps before it sorts.
#[tokio::test]
async fn an_index_query_keeps_what_its_range_condition_keeps_in_order() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::create().await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.table("MessagesTable").to_owned();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    // Written out of order, one in another shard, one out of the index.
    for (id, shard, at) in [
        ("f", Some("5"), "2026-12-10T10:07:00Z"),
        ("g", Some("5"), "2026-12-10T10:01:00Z"),
        ("h", Some("5"), "2026-12-10T10:04:00Z"),
        ("i", Some("6"), "2026-12-10T10:02:00Z"),
        ("j", None, "2026-12-10T10:03:00Z"),
    ] {
        let mut item = std::collections::HashMap::from([
            ("pk".to_owned(), s(&format!("M#{id}"))),
            ("sk".to_owned(), s("MSG")),
            ("due_at".to_owned(), s(at)),
        ]);
        if let Some(shard) = shard {
            item.insert("due_shard".to_owned(), s(shard));
        }
        ddb.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    }
    let due_by = |at| due_index(&ddb, &table, "5", Some(at));
    assert_eq!(due_by("2026-12-10T10:05:00Z").await, ["g", "h"], "in due_at order");
    assert_eq!(due_by("2026-12-10T10:30:00Z").await, ["g", "h", "f"]);
    assert_eq!(due_by("2026-12-10T09:59:00Z").await, Vec::<String>::new());
}

/// The message ids (`M#<id>` without the prefix) a `DueIndex` query of `shard` answers, in its
/// order; only those due by `due_by` when given.
async fn due_index(ddb: &aws_sdk_dynamodb::Client, table: &str, shard: &str, due_by: Option<&str>) -> Vec<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut query = ddb
        .query()
        .table_name(table)
        .index_name("DueIndex")
        .key_condition_expression("due_shard = :s")
        .expression_attribute_values(":s", AttributeValue::S(shard.to_owned()));
    if let Some(at) = due_by {
        query = query
            .key_condition_expression("due_shard = :s AND due_at <= :t")
            .expression_attribute_values(":t", AttributeValue::S(at.to_owned()));
    }
    let out = query.send().await.unwrap();
    out.items()
        .iter()
        .filter_map(|i| i.get("pk")?.as_s().ok().map(|pk| pk.trim_start_matches("M#").to_owned()))
        .collect()
}
