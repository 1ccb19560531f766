//! One DynamoDB table as the stores use it: the client and the table's name, written once
//! for the connections, conversations and quotas stores, with each request started on the
//! table and its failure turned into the stores' error.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use streamgate_core::StoreError;

/// A table and the client that reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    client: Client,
    name: String,
}

impl Table {
    /// The table `name`, through `client`.
    pub(crate) fn new(client: Client, name: impl Into<String>) -> Table {
        Table {
            client,
            name: name.into(),
        }
    }

    /// The table's name (for requests built without the client, as a transaction's items).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A `PutItem` on the table.
    pub(crate) fn put_item(&self) -> PutItemFluentBuilder {
        self.client.put_item().table_name(&self.name)
    }

    /// A `GetItem` on the table.
    pub(crate) fn get_item(&self) -> GetItemFluentBuilder {
        self.client.get_item().table_name(&self.name)
    }

    /// An `UpdateItem` on the table.
    pub(crate) fn update_item(&self) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.name)
    }

    /// A `DeleteItem` on the table.
    pub(crate) fn delete_item(&self) -> DeleteItemFluentBuilder {
        self.client.delete_item().table_name(&self.name)
    }

    /// A `Query` on the table.
    pub(crate) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.name)
    }

    /// A `TransactWriteItems` (its items name their tables themselves: [`Table::name`]).
    pub(crate) fn transact_write_items(&self) -> TransactWriteItemsFluentBuilder {
        self.client.transact_write_items()
    }

    /// A call's failure as the stores' error: a missing table by name, anything else with
    /// its cause chain.
    pub(crate) fn error<E, R>(&self, e: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if e.code() == Some("ResourceNotFoundException") {
            StoreError::TableNotFound(self.name.clone())
        } else {
            StoreError::Unavailable(crate::describe(&e))
        }
    }
}
