//! Conversations in a DynamoDB table (`streamgate_contract::conversation` lays out its
//! items): a claim is one conditional `PutItem` (a new conversation) or `UpdateItem`, whose
//! refusal returns the item as it was, so `not_found`, `conversation_busy` and a repeated
//! delivery are told apart with no extra read; a turn is stored and its claim given back in
//! one `TransactWriteItems`; history and lists are one `Query` each, newest first.

use std::collections::HashMap;

use crate::table::Table;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use streamgate_contract::conversation::{
    ConversationSummary, Owner, StopReason, Turn, attr, cancel_key, cancel_partition,
    conversation_key, turn_key, turn_of_key,
};
use streamgate_core::StoreError;
use streamgate_core::conversation::{Claim, Claimed, ConversationStore};

type Item = HashMap<String, AttributeValue>;

/// The conversations table.
#[derive(Debug, Clone)]
pub struct DynamoConversations {
    table: Table,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether the conversation item as it was shows this delivery (claiming now, or stored).
fn seen(old: &Item, delivery: &str) -> bool {
    text(old, attr::BUSY).as_deref() == Some(delivery)
        || text(old, attr::LAST_DELIVERY).as_deref() == Some(delivery)
}

fn summary(item: &Item) -> Result<ConversationSummary, StoreError> {
    let sk = text(item, attr::SK).unwrap_or_default();
    let malformed = |reason: &str| StoreError::Malformed {
        id: sk.clone(),
        reason: reason.to_owned(),
    };
    Ok(ConversationSummary {
        conversation_id: sk
            .strip_prefix("c#")
            .ok_or_else(|| malformed("not a conversation key"))?
            .to_owned(),
        title: text(item, attr::TITLE).unwrap_or_default(),
        created_at: number(item, attr::CREATED_AT).ok_or_else(|| malformed("createdAt"))?,
        turns: number(item, attr::TURNS).ok_or_else(|| malformed("turns"))? as u64,
    })
}

fn turn_of(item: &Item) -> Result<Turn, StoreError> {
    let sk = text(item, attr::SK).unwrap_or_default();
    let malformed = |reason: &str| StoreError::Malformed {
        id: sk.clone(),
        reason: reason.to_owned(),
    };
    Ok(Turn {
        turn: turn_of_key(&sk).ok_or_else(|| malformed("not a turn key"))?,
        user: text(item, attr::USER).ok_or_else(|| malformed("user"))?,
        answer: text(item, attr::ANSWER).unwrap_or_default(),
        stop_reason: text(item, attr::STOP_REASON).and_then(|r| StopReason::parse(&r)),
        at: number(item, attr::AT).ok_or_else(|| malformed("at"))?,
        request_id: text(item, attr::REQUEST_ID).unwrap_or_default(),
    })
}

impl DynamoConversations {
    /// Conversations in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoConversations {
        DynamoConversations {
            table: Table::new(client, table),
        }
    }

    fn key(pk: String, sk: String) -> Item {
        HashMap::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), s(sk))])
    }

    /// Up to `limit` items of partition `pk` whose sort key starts with `prefix` (and sorts
    /// below `below`, when given), highest sort key first: one strongly consistent `Query`.
    async fn newest(
        &self,
        pk: String,
        prefix: &str,
        below: Option<String>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        // Every sort key in a partition has the partition's one prefix, so "below" alone
        // stays within it.
        let (condition, bound) = match below {
            Some(b) => ("#pk = :pk AND #sk < :bound", b),
            None => ("#pk = :pk AND begins_with(#sk, :bound)", prefix.to_owned()),
        };
        let out = self
            .table
            .query()
            .key_condition_expression(condition)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":bound", s(bound))
            .scan_index_forward(false)
            .limit(limit as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        Ok(out.items.unwrap_or_default())
    }

    async fn create(&self, claim: &Claim<'_>, title: &str) -> Result<Claimed, StoreError> {
        let mut item = Self::key(claim.owner.key(), conversation_key(claim.conversation_id));
        item.insert(attr::CREATED_AT.into(), n(claim.now_ms));
        item.insert(attr::TITLE.into(), s(title));
        item.insert(attr::TURNS.into(), n(0));
        item.insert(attr::BUSY.into(), s(claim.delivery));
        item.insert(attr::BUSY_UNTIL.into(), n(claim.until_ms));
        item.insert(attr::TTL.into(), n(claim.ttl));
        let put = self
            .table
            .put_item()
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claimed::Held { turn: 1 }),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let old = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                });
                Ok(match old {
                    Some(old) if seen(&old, claim.delivery) => Claimed::Duplicate,
                    _ => Claimed::Busy,
                })
            }
            Err(e) => Err(self.table.error(e)),
        }
    }
}

#[async_trait]
impl ConversationStore for DynamoConversations {
    async fn claim(&self, claim: &Claim<'_>) -> Result<Claimed, StoreError> {
        if let Some(title) = claim.new_title {
            return self.create(claim, title).await;
        }
        let update = self
            .table
            .update_item()
            .set_key(Some(Self::key(
                claim.owner.key(),
                conversation_key(claim.conversation_id),
            )))
            .update_expression("SET #busy = :d, #until = :until")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#busy) OR #until < :now) \
                 AND (attribute_not_exists(#last) OR #last <> :d)",
            )
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#busy", attr::BUSY)
            .expression_attribute_names("#until", attr::BUSY_UNTIL)
            .expression_attribute_names("#last", attr::LAST_DELIVERY)
            .expression_attribute_values(":d", s(claim.delivery))
            .expression_attribute_values(":until", n(claim.until_ms))
            .expression_attribute_values(":now", n(claim.now_ms))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match update {
            Ok(out) => {
                let turns = out
                    .attributes()
                    .and_then(|a| number(a, attr::TURNS))
                    .unwrap_or(0);
                Ok(Claimed::Held {
                    turn: turns as u64 + 1,
                })
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let old = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                });
                Ok(match old {
                    None => Claimed::NotFound,
                    Some(old) if seen(&old, claim.delivery) => Claimed::Duplicate,
                    Some(_) => Claimed::Busy,
                })
            }
            Err(e) => Err(self.table.error(e)),
        }
    }

    async fn release(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .table
            .update_item()
            .set_key(Some(Self::key(
                owner.key(),
                conversation_key(conversation_id),
            )))
            .update_expression("REMOVE #busy, #until")
            .condition_expression("#busy = :d")
            .expression_attribute_names("#busy", attr::BUSY)
            .expression_attribute_names("#until", attr::BUSY_UNTIL)
            .expression_attribute_values(":d", s(delivery))
            .send()
            .await;
        match result {
            // Not held by this delivery (any more): nothing to give back.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.table.error(e)),
            Ok(_) => Ok(()),
        }
    }

    async fn store_turn(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
        turn: &Turn,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(conversation_key(conversation_id), turn_key(turn.turn));
        item.insert(attr::USER.into(), s(&turn.user));
        item.insert(attr::ANSWER.into(), s(&turn.answer));
        if let Some(reason) = turn.stop_reason {
            item.insert(attr::STOP_REASON.into(), s(reason.as_str()));
        }
        item.insert(attr::AT.into(), n(turn.at));
        item.insert(attr::REQUEST_ID.into(), s(&turn.request_id));
        item.insert(attr::TTL.into(), n(ttl));
        let put = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Self::key(
                owner.key(),
                conversation_key(conversation_id),
            )))
            .update_expression("SET #turns = :n, #last = :d, #ttl = :ttl REMOVE #busy, #until")
            .condition_expression("#busy = :d")
            .expression_attribute_names("#turns", attr::TURNS)
            .expression_attribute_names("#last", attr::LAST_DELIVERY)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_names("#busy", attr::BUSY)
            .expression_attribute_names("#until", attr::BUSY_UNTIL)
            .expression_attribute_values(":n", n(turn.turn))
            .expression_attribute_values(":d", s(delivery))
            .expression_attribute_values(":ttl", n(ttl))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let result = self
            .table
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TransactionCanceledException") => Err(
                StoreError::Unavailable("the answer's claim on its conversation lapsed".into()),
            ),
            Err(e) => Err(self.table.error(e)),
        }
    }

    async fn conversation(
        &self,
        owner: &Owner,
        conversation_id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let out = self
            .table
            .get_item()
            .set_key(Some(Self::key(
                owner.key(),
                conversation_key(conversation_id),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        out.item().map(summary).transpose()
    }

    async fn turns(
        &self,
        conversation_id: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Turn>, StoreError> {
        let below = before.map(turn_key);
        let items = self
            .newest(conversation_key(conversation_id), "t#", below, limit)
            .await?;
        items.iter().map(turn_of).collect()
    }

    async fn conversations(
        &self,
        owner: &Owner,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let below = after.map(conversation_key);
        let items = self.newest(owner.key(), "c#", below, limit).await?;
        items.iter().map(summary).collect()
    }

    async fn request_stop(
        &self,
        connection_id: &str,
        request_id: &str,
        at_ms: i64,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(cancel_partition(connection_id), cancel_key(request_id));
        item.insert(attr::AT.into(), n(at_ms));
        item.insert(attr::TTL.into(), n(ttl));
        self.table
            .put_item()
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        Ok(())
    }

    async fn stop_requested(
        &self,
        connection_id: &str,
        request_id: &str,
        since_ms: i64,
    ) -> Result<bool, StoreError> {
        let out = self
            .table
            .get_item()
            .set_key(Some(Self::key(
                cancel_partition(connection_id),
                cancel_key(request_id),
            )))
            .consistent_read(true)
            .projection_expression("#at")
            .expression_attribute_names("#at", attr::AT)
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        Ok(out
            .item()
            .and_then(|i| number(i, attr::AT))
            .is_some_and(|at| at >= since_ms))
    }
}
