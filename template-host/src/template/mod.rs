//! Reading a CloudFormation template's WebSocket API: the `AWS::ApiGatewayV2::Api` with
//! `ProtocolType: WEBSOCKET`, its routes, integrations, route responses, authorizer, stage,
//! the `AWS::Lambda::Function`s the integrations call and the `AWS::DynamoDB::Table`s the
//! stack declares. Everything the emulator cannot reproduce is collected as a problem, so it
//! is named at start-up rather than failing mid-request. Pure: reading the file and checking
//! the artifacts on disk are the caller's.

pub mod document;
pub mod intrinsics;
mod model;
mod reader;
pub mod rules;
pub mod transform;

pub use intrinsics::Pseudo;
pub use model::{AuthorizerDef, Code, FunctionDef, LocalApi, ReadOptions, RouteDef, TableDef};
pub use reader::read;
