//! Quotas in a DynamoDB table (`streamgate_contract::quota`): each change is one conditional
//! `UpdateItem`, so requests racing for the last token or the last place cannot both get it.
//! A place set is a map attribute of id → expiry; when a set is full, the refused update
//! returns the set as it was (no extra read), its expired places are removed (each removal
//! conditioned on the value seen) and the place is tried once more.

use std::collections::HashMap;

use crate::table::Table;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use streamgate_contract::quota::attr;
use streamgate_core::{QuotaStore, StoreError};

/// The quotas table.
#[derive(Debug, Clone)]
pub struct DynamoQuotas {
    table: Table,
}

/// What an update came to: done, or refused by its condition (with the item as it was, when
/// asked for).
enum Outcome {
    Done,
    ConditionFailed(Option<HashMap<String, AttributeValue>>),
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoQuotas {
    /// Quotas in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoQuotas {
        DynamoQuotas {
            table: Table::new(client, table),
        }
    }

    /// One `UpdateItem` on `key`.
    async fn update(
        &self,
        key: &str,
        expression: &str,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Outcome, StoreError> {
        let mut request = self
            .table
            .update_item()
            .key(attr::KEY, AttributeValue::S(key.to_owned()))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned));
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        if condition.is_some() {
            request = request.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            );
        }
        match request.send().await {
            Ok(_) => Ok(Outcome::Done),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let old = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                        _ => None,
                    });
                Ok(Outcome::ConditionFailed(old))
            }
            Err(e) => Err(self.table.error(e)),
        }
    }

    /// Sets place `id` when the set has room (or holds it), or creates the set with it. A
    /// set created by a racing request between the two tries is tried once more. When the
    /// set is full: the set's places as the refusal saw them.
    async fn try_take(
        &self,
        key: &str,
        id: &str,
        limit: u32,
        expires: u64,
    ) -> Result<Result<(), HashMap<String, AttributeValue>>, StoreError> {
        let names = [("#live", attr::LIVE), ("#id", id), ("#ttl", attr::TTL)];
        let add = || {
            self.update(
                key,
                "SET #live.#id = :exp, #ttl = :exp",
                Some("attribute_exists(#live.#id) OR size(#live) < :limit"),
                &names,
                vec![(":exp", n(expires)), (":limit", n(limit))],
            )
        };
        if matches!(add().await?, Outcome::Done) {
            return Ok(Ok(()));
        }
        let created = self
            .update(
                key,
                "SET #live = :live, #ttl = :exp",
                Some("attribute_not_exists(#live)"),
                &[("#live", attr::LIVE), ("#ttl", attr::TTL)],
                vec![
                    (
                        ":live",
                        AttributeValue::M(HashMap::from([(id.to_owned(), n(expires))])),
                    ),
                    (":exp", n(expires)),
                ],
            )
            .await?;
        if matches!(created, Outcome::Done) {
            return Ok(Ok(()));
        }
        // The set exists (perhaps made just now by another request): one more try at it.
        Ok(match add().await? {
            Outcome::Done => Ok(()),
            Outcome::ConditionFailed(old) => {
                Err(match old.and_then(|mut i| i.remove(attr::LIVE)) {
                    Some(AttributeValue::M(live)) => live,
                    _ => HashMap::new(),
                })
            }
        })
    }

    /// Removes the places of `live` (the set `key` as last seen) that expired by `now`, each
    /// only if it still holds the value seen; whether any went.
    async fn prune(
        &self,
        key: &str,
        live: &HashMap<String, AttributeValue>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let expired: Vec<(&String, &AttributeValue)> = live
            .iter()
            .filter(|(_, v)| {
                v.as_n()
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_none_or(|until| until <= now)
            })
            .take(25)
            .collect();
        if expired.is_empty() {
            return Ok(false);
        }
        let placeholders: Vec<(String, String)> = (0..expired.len())
            .map(|i| (format!("#e{i}"), format!(":v{i}")))
            .collect();
        let expression = format!(
            "REMOVE {}",
            placeholders
                .iter()
                .map(|(name, _)| format!("#live.{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let condition = placeholders
            .iter()
            .map(|(name, value)| format!("#live.{name} = {value}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut names: Vec<(&str, &str)> = vec![("#live", attr::LIVE)];
        let mut values = Vec::new();
        for ((name, value), (id, expiry)) in placeholders.iter().zip(&expired) {
            names.push((name.as_str(), id.as_str()));
            values.push((value.as_str(), (*expiry).clone()));
        }
        let removed = self
            .update(key, &expression, Some(&condition), &names, values)
            .await?;
        Ok(matches!(removed, Outcome::Done))
    }
}

#[async_trait]
impl QuotaStore for DynamoQuotas {
    async fn spend(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let Some(room) = limit.checked_sub(amount) else {
            return Ok(false);
        };
        let outcome = self
            .update(
                key,
                "ADD #used :amount SET #ttl = :ttl",
                Some("attribute_not_exists(#used) OR #used <= :room"),
                &[("#used", attr::USED), ("#ttl", attr::TTL)],
                vec![(":amount", n(amount)), (":ttl", n(ttl)), (":room", n(room))],
            )
            .await?;
        Ok(matches!(outcome, Outcome::Done))
    }

    async fn adjust(&self, key: &str, delta: i64, ttl: u64) -> Result<(), StoreError> {
        self.update(
            key,
            "ADD #used :delta SET #ttl = :ttl",
            None,
            &[("#used", attr::USED), ("#ttl", attr::TTL)],
            vec![(":delta", n(delta)), (":ttl", n(ttl))],
        )
        .await?;
        Ok(())
    }

    async fn take_place(
        &self,
        key: &str,
        id: &str,
        limit: u32,
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError> {
        let live = match self.try_take(key, id, limit, expires).await? {
            Ok(()) => return Ok(true),
            Err(live) => live,
        };
        if self.prune(key, &live, now).await? {
            return Ok(self.try_take(key, id, limit, expires).await?.is_ok());
        }
        Ok(false)
    }

    async fn free_place(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.update(
            key,
            "REMOVE #live.#id",
            Some("attribute_exists(#live)"),
            &[("#live", attr::LIVE), ("#id", id)],
            Vec::new(),
        )
        .await?;
        Ok(())
    }
}
