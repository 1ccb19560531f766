//! AWS adapters of the chat API's ports: the DynamoDB connection store, conversations and
//! quotas, the API
//! Gateway `@connections` push, and reading the LLM API key from Secrets Manager.

pub mod conversations;
pub mod dynamo;
pub mod push;
pub mod quota;
pub mod secrets;
mod table;

pub use conversations::DynamoConversations;
pub use dynamo::DynamoStore;
pub use push::{ApiGatewayPush, EndpointMode};
pub use quota::DynamoQuotas;
pub use secrets::{SecretError, read_api_key};

/// The error text of an SDK error, with its cause chain (for logs and typed errors).
pub(crate) fn describe<E: std::error::Error>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
