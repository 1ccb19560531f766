//! What a function is granted beyond its connection store, chosen per binary at compile
//! time. Each binary names its grants (`main::<Posting>(Function::Default)`), so it
//! references, and links, only the clients its function uses: a `connect` binary holds no
//! `@connections` client, no HTTP client for a model provider and no Secrets Manager client.
//! At start-up the grants are checked against the contract.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use streamgate_aws::{ApiGatewayPush, DynamoConversations, DynamoStore, EndpointMode};
use streamgate_contract::ConnectionRecord;
use streamgate_contract::config::{self as env, LlmProviderKind};
use streamgate_contract::{Function, Permission};
use streamgate_core::{
    ApiKey, ClientPush, ConnectionStore, ConversationStore, LlmProvider, NotGranted, StoreError,
};
use streamgate_llm::ProviderConfig;

use crate::{StartError, env_var};

/// The clients a binary may build.
pub trait Grants {
    /// Whether the function may post to clients.
    const POSTS: bool;
    /// Whether the function talks to the model provider.
    const USES_LLM: bool;
    /// A short name for errors.
    const NAME: &'static str;

    /// Whether the function only deletes connection records (no writes, no reads).
    const DELETES_ONLY: bool;

    /// Whether the function reads or writes conversations.
    const CONVERSES: bool;

    /// The conversations table, for functions that use it (the others link none of its
    /// code).
    fn conversations(
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Result<Arc<dyn ConversationStore>, StartError> {
        if !Self::CONVERSES {
            return Ok(Arc::new(NotGranted));
        }
        let table = env_var(env::CONVERSATIONS_TABLE_NAME)
            .ok_or(StartError::Missing(env::CONVERSATIONS_TABLE_NAME))?;
        Ok(Arc::new(DynamoConversations::new(dynamodb, table)))
    }

    /// The connection store: the whole table adapter, or for functions that only delete, one
    /// that holds no write or read calls (so the binary links none of their code).
    fn store(store: DynamoStore) -> Arc<dyn ConnectionStore> {
        if Self::DELETES_ONLY {
            Arc::new(DeleteOnly(store))
        } else {
            Arc::new(store)
        }
    }

    /// The `@connections` client.
    fn push(sdk: &aws_config::SdkConfig) -> Arc<dyn ClientPush>;

    /// The model provider, with its key read once.
    fn llm(
        sdk: &aws_config::SdkConfig,
    ) -> impl Future<Output = Result<Arc<dyn LlmProvider>, StartError>> + Send;

    /// Whether these grants are exactly what the contract gives `function`.
    fn fit(function: Function) -> bool {
        function.may(Permission::PostToConnection) == Self::POSTS
            && function.spec().uses_llm == Self::USES_LLM
            && function.may(Permission::ReadConversations) == Self::CONVERSES
            && !(Self::DELETES_ONLY
                && (function.may(Permission::PutConnection)
                    || function.may(Permission::GetConnection)))
    }
}

/// The store only (`connect`, `disconnect`).
pub struct StoreOnly;

/// The store and posts to clients (`default`).
pub struct Posting;

/// The store, posts and conversations (`conversations`).
pub struct Conversing;

/// The store, posts and the model provider (`message`).
pub struct Answering;

/// The `@connections` endpoint: the one configured (ours, else the SDK's standard
/// service endpoint variable), else `https://{domainName}/{stage}` of each event.
fn api_gateway_push(sdk: &aws_config::SdkConfig) -> Arc<dyn ClientPush> {
    let configured = env_var(env::MANAGEMENT_ENDPOINT)
        .or_else(|| env_var("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"));
    let mode = match configured.filter(|v| !v.trim().is_empty()) {
        Some(url) => EndpointMode::Fixed(url),
        None => EndpointMode::FromEvent { scheme: "https" },
    };
    Arc::new(ApiGatewayPush::new(sdk.clone(), mode))
}

/// The store of a function granted only `DeleteItem` on the connections table.
struct DeleteOnly(DynamoStore);

fn not_granted(action: &str) -> StoreError {
    StoreError::Unavailable(format!("this function is not granted dynamodb:{action}"))
}

#[async_trait]
impl ConnectionStore for DeleteOnly {
    async fn put(&self, _: &ConnectionRecord) -> Result<(), StoreError> {
        Err(not_granted("PutItem"))
    }

    async fn get(&self, _: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Err(not_granted("GetItem"))
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.0.delete(connection_id).await
    }
}

impl Grants for StoreOnly {
    const DELETES_ONLY: bool = false;
    const CONVERSES: bool = false;
    const POSTS: bool = false;
    const USES_LLM: bool = false;
    const NAME: &'static str = "store only";

    fn push(_: &aws_config::SdkConfig) -> Arc<dyn ClientPush> {
        Arc::new(NotGranted)
    }

    async fn llm(_: &aws_config::SdkConfig) -> Result<Arc<dyn LlmProvider>, StartError> {
        Ok(Arc::new(NotGranted))
    }
}

impl Grants for Posting {
    const DELETES_ONLY: bool = true;
    const CONVERSES: bool = false;
    const POSTS: bool = true;
    const USES_LLM: bool = false;
    const NAME: &'static str = "store and posts";

    fn push(sdk: &aws_config::SdkConfig) -> Arc<dyn ClientPush> {
        api_gateway_push(sdk)
    }

    async fn llm(_: &aws_config::SdkConfig) -> Result<Arc<dyn LlmProvider>, StartError> {
        Ok(Arc::new(NotGranted))
    }
}

impl Grants for Conversing {
    const DELETES_ONLY: bool = true;
    const CONVERSES: bool = true;
    const POSTS: bool = true;
    const USES_LLM: bool = false;
    const NAME: &'static str = "store, posts and conversations";

    fn push(sdk: &aws_config::SdkConfig) -> Arc<dyn ClientPush> {
        api_gateway_push(sdk)
    }

    async fn llm(_: &aws_config::SdkConfig) -> Result<Arc<dyn LlmProvider>, StartError> {
        Ok(Arc::new(NotGranted))
    }
}

impl Grants for Answering {
    const DELETES_ONLY: bool = true;
    const CONVERSES: bool = true;
    const POSTS: bool = true;
    const USES_LLM: bool = true;
    const NAME: &'static str = "store, posts and the model";

    fn push(sdk: &aws_config::SdkConfig) -> Arc<dyn ClientPush> {
        api_gateway_push(sdk)
    }

    async fn llm(sdk: &aws_config::SdkConfig) -> Result<Arc<dyn LlmProvider>, StartError> {
        let mut config = ProviderConfig::from_lookup(&env_var)?;
        config.api_key = api_key(config.kind, sdk).await?;
        if config.kind == LlmProviderKind::Bedrock {
            // The function's own role signs the calls: no key to store.
            config.aws = Some(sdk.clone());
        }
        Ok(streamgate_llm::build(&config)?)
    }
}

/// The provider's key: from the Secrets Manager secret whose ARN the template passes, else
/// from the provider's variable (local runs); none for the echo provider.
async fn api_key(
    kind: LlmProviderKind,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<ApiKey>, StartError> {
    if matches!(kind, LlmProviderKind::Echo | LlmProviderKind::Bedrock) {
        return Ok(None);
    }
    if let Some(arn) = env_var(env::LLM_API_KEY_SECRET_ARN).filter(|a| !a.trim().is_empty()) {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        return Ok(Some(
            streamgate_aws::read_api_key(&client, arn.trim()).await?,
        ));
    }
    Ok(streamgate_llm::api_key_variable(kind, &env_var)
        .and_then(|var| env_var(&var))
        .and_then(ApiKey::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_fits_exactly_one_kind_of_grants() {
        for f in Function::ALL.iter().copied().filter(|f| !f.is_authorizer()) {
            let fits = [
                StoreOnly::fit(f),
                Posting::fit(f),
                Conversing::fit(f),
                Answering::fit(f),
            ];
            assert_eq!(fits.iter().filter(|x| **x).count(), 1, "{f:?}: {fits:?}");
        }
        assert!(StoreOnly::fit(Function::Connect) && StoreOnly::fit(Function::Disconnect));
        assert!(Posting::fit(Function::Default));
        assert!(Conversing::fit(Function::Conversations));
        assert!(Answering::fit(Function::Message));
    }
}
