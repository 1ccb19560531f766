//! The AWS services a template's functions call, locally: DynamoDB (DynamoDB Local, with the
//! template's tables created in it) and Secrets Manager's `GetSecretValue` (served by the
//! gateway from values given on the command line). Functions reach them through the SDKs'
//! standard endpoint variables, as they would reach any endpoint.

pub mod dynamodb_local;
pub mod secrets;
pub mod tables;

pub use dynamodb_local::DynamoDbLocal;
pub use secrets::SecretStore;
