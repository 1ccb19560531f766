//! AWS adapters of the chat API's ports: the DynamoDB connection store, conversations and
//! quotas, the API
//! Gateway `@connections` push, and reading the LLM API key from Secrets Manager.

pub mod conversations;
pub mod dynamo;
pub mod push;
pub mod quota;
pub mod secrets;

pub use conversations::DynamoConversations;
pub use dynamo::DynamoStore;
pub use push::{ApiGatewayPush, EndpointMode};
pub use quota::DynamoQuotas;
pub use secrets::{SecretError, read_api_key};

/// A DynamoDB call's failure as the stores' error: a missing table by name, anything else
/// with its cause chain.
pub(crate) fn table_error<E, R>(
    table: &str,
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> streamgate_core::StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    if e.code() == Some("ResourceNotFoundException") {
        streamgate_core::StoreError::TableNotFound(table.to_owned())
    } else {
        streamgate_core::StoreError::Unavailable(describe(&e))
    }
}

/// The error text of an SDK error, with its cause chain (for logs and typed errors).
pub(crate) fn describe<E: std::error::Error>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
