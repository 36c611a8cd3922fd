//! Creating one of the fleet's DynamoDB tables when it is missing: a string hash key, on-demand
//! billing, and at most one global secondary index on a string key (and, if asked, a string range
//! key) projecting everything. Owns
//! table creation only (`bucketwarden init`); each table's type says its own key.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use crate::aws::error::{from_sdk, AwsError};

/// The shape of one table.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec<'a> {
    pub name: &'a str,
    /// The string hash key.
    pub key: &'a str,
    /// A global secondary index: its name and its string hash key.
    pub index: Option<(&'a str, &'a str)>,
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("complete")
}

fn hash_key(name: &str) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::Hash)
        .build()
        .expect("complete")
}

fn range_key(name: &str) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::Range)
        .build()
        .expect("complete")
}

/// Creates the table unless it exists; true when this call created it.
pub async fn create_if_missing(client: &Client, spec: TableSpec<'_>) -> Result<bool, AwsError> {
    create_with_index_range(client, spec, None).await
}

/// `create_if_missing` whose index (`spec.index`) also has a string range key, so a query on it
/// reads its items in that key's order.
pub async fn create_with_index_range(
    client: &Client,
    spec: TableSpec<'_>,
    index_range: Option<&str>,
) -> Result<bool, AwsError> {
    let mut req = client
        .create_table()
        .table_name(spec.name)
        .attribute_definitions(string_attribute(spec.key))
        .key_schema(hash_key(spec.key))
        .billing_mode(BillingMode::PayPerRequest);
    if let Some((index, key)) = spec.index {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(hash_key(key));
        req = req.attribute_definitions(string_attribute(key));
        if let Some(range) = index_range {
            gsi = gsi.key_schema(range_key(range));
            req = req.attribute_definitions(string_attribute(range));
        }
        req = req.global_secondary_indexes(
            gsi.projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .expect("complete"),
        );
    }
    match req.send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = from_sdk("dynamodb", "CreateTable", e);
            if e.code == "ResourceInUseException" {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}
