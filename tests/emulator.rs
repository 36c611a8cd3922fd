//! The emulator the live tests run on (`scripts/moto_server.py`: moto, with DynamoDB requests one
//! at a time and `TransactWriteItems` evaluated as AWS documents it) keeps the contract the
//! fleet's group writes rely on. AWS (TransactWriteItems): "The actions are completed atomically so
//! that either all of them succeed or none of them succeeds", and a transaction is cancelled when
//! "a condition in one of the condition expressions is not met"; it may not include "multiple
//! operations on one item". A cancelled group is redone item by item by the fleet, so a
//! transaction that wrote part of itself would leave a dedup `done` without its state.

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ScalarAttributeType, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use support::*;

fn sv(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

async fn table(db: &Client, name: &str) {
    db.create_table()
        .table_name(name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("k")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("k")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

async fn value(db: &Client, table: &str, k: &str) -> Option<HashMap<String, AttributeValue>> {
    db.get_item()
        .table_name(table)
        .key("k", sv(k))
        .send()
        .await
        .unwrap()
        .item
}

fn set_v(table: &str, k: &str, v: &str, cond: Option<&str>) -> TransactWriteItem {
    let mut u = Update::builder()
        .table_name(table)
        .key("k", sv(k))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", sv(v));
    if let Some(c) = cond {
        u = u.condition_expression(c);
    }
    TransactWriteItem::builder()
        .update(u.build().unwrap())
        .build()
}

fn put_new(table: &str, k: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .item("k", sv(k))
                .item("v", sv("new"))
                .condition_expression("attribute_not_exists(k)")
                .build()
                .unwrap(),
        )
        .build()
}

async fn transact(db: &Client, items: Vec<TransactWriteItem>) -> Result<(), String> {
    db.transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("no code")
                .to_owned()
        })
}

#[tokio::test]
async fn a_transaction_is_applied_whole_or_not_at_all() {
    let db = clients().await.dynamodb;
    // Unique names: the emulator may be shared with earlier runs (BUCKETWARDEN_TEST_ENDPOINT).
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (a, b) = (&*format!("emu-tx-a-{run}"), &*format!("emu-tx-b-{run}"));
    table(&db, a).await;
    table(&db, b).await;
    transact(&db, vec![set_v(a, "x", "1", None)]).await.unwrap();

    // Every condition met: every write applied, across tables.
    transact(
        &db,
        vec![
            set_v(a, "x", "2", Some("attribute_exists(v)")),
            put_new(b, "y"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(value(&db, a, "x").await.unwrap()["v"], sv("2"));
    assert_eq!(value(&db, b, "y").await.unwrap()["v"], sv("new"));

    // One condition not met (y exists): cancelled, and the other write is not made either.
    let cancelled = transact(&db, vec![set_v(a, "x", "3", None), put_new(b, "y")]).await;
    assert_eq!(cancelled.unwrap_err(), "TransactionCanceledException");
    assert_eq!(value(&db, a, "x").await.unwrap()["v"], sv("2"));

    // A write that fails while being applied (an update the item cannot take: `v` is a string)
    // undoes the writes of the same transaction made before it.
    let bad = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(b)
                .key("k", sv("y"))
                .update_expression("SET v = v + :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .unwrap(),
        )
        .build();
    let failed = transact(&db, vec![set_v(a, "x", "4", None), put_new(b, "z"), bad]).await;
    assert!(failed.is_err());
    assert_eq!(value(&db, a, "x").await.unwrap()["v"], sv("2"));
    assert!(
        value(&db, b, "z").await.is_none(),
        "a new item was left behind"
    );

    // Two operations on one item: refused whole.
    let check = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(a)
                .key("k", sv("x"))
                .condition_expression("attribute_exists(k)")
                .build()
                .unwrap(),
        )
        .build();
    let twice = transact(&db, vec![check.clone(), set_v(a, "x", "5", None)]).await;
    assert_eq!(twice.unwrap_err(), "ValidationException");
    assert_eq!(value(&db, a, "x").await.unwrap()["v"], sv("2"));

    // A condition check on one item guards a write to another.
    transact(&db, vec![check, set_v(b, "y", "checked", None)])
        .await
        .unwrap();
    assert_eq!(value(&db, b, "y").await.unwrap()["v"], sv("checked"));
}
