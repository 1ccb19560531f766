//! What a template's WebSocket API is, once read: its functions, routes, authorizer, tables
//! and stage, and what reading needs besides the text.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::intrinsics::Pseudo;
use streamgate_emulator::api::{ApiRoute, SelectionExpression};

/// A function the API invokes, as the template declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// The logical id.
    pub logical_id: String,
    /// The function name (`FunctionName`, or a local one).
    pub name: String,
    /// Where the code is: a folder holding `bootstrap`, or a zip.
    pub code: Code,
    /// `Handler` (`_HANDLER`).
    pub handler: String,
    /// `Runtime`.
    pub runtime: String,
    /// What runs it (a bootstrap, Node.js, Python).
    pub family: super::rules::Family,
    /// The resource's `Metadata` (SAM's `BuildMethod`, CDK's asset path).
    pub metadata: Value,
    /// `Architectures` (`x86_64` or `arm64`).
    pub architecture: String,
    /// `Timeout`.
    pub timeout: Duration,
    /// `MemorySize`, in MB.
    pub memory_mb: u32,
    /// `Environment.Variables`.
    pub environment: BTreeMap<String, String>,
    /// What Lambda sets from `LoggingConfig`: `AWS_LAMBDA_LOG_FORMAT` (its `LogFormat`) and,
    /// for JSON, `AWS_LAMBDA_LOG_LEVEL` (its `ApplicationLogLevel`, `INFO` by default).
    pub logging: BTreeMap<String, String>,
}

/// Where a function's code is.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    /// A local path (a folder, or a zip), relative paths resolved against the template's
    /// folder.
    Path(PathBuf),
    /// An S3 object (a packaged template): found under `--artifacts` by logical id.
    S3 {
        /// The key.
        key: String,
    },
    /// `ZipFile` source of a Node.js or Python function (Lambda writes it as `index.js` or
    /// `index.py`).
    Inline(String),
}

/// A REQUEST authorizer backed by a Lambda function.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerDef {
    /// The authorizer's name.
    pub name: String,
    /// The function's logical id.
    pub function: String,
    /// `IdentitySource` (`route.request.header.Auth`, `route.request.querystring.token`).
    pub identity_source: Vec<String>,
}

/// A route and the function behind it.
#[derive(Debug, Clone)]
pub struct RouteDef {
    /// The route as the gateway serves it.
    pub route: ApiRoute,
    /// The function's logical id.
    pub function: String,
    /// The authorizer (`$connect` only).
    pub authorizer: Option<AuthorizerDef>,
}

/// A table to create in DynamoDB Local.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// The logical id.
    pub logical_id: String,
    /// The table name.
    pub name: String,
    /// `KeySchema`, `AttributeDefinitions`, `GlobalSecondaryIndexes`, `LocalSecondaryIndexes`
    /// as the template gives them (the CreateTable shapes).
    pub properties: Value,
    /// `TimeToLiveSpecification.AttributeName` when enabled.
    pub ttl_attribute: Option<String>,
}

/// A template's WebSocket API, ready to serve.
#[derive(Debug, Clone)]
pub struct LocalApi {
    /// The API's logical id.
    pub logical_id: String,
    /// The route selection expression.
    pub selection: SelectionExpression,
    /// The stage name.
    pub stage: String,
    /// The routes.
    pub routes: Vec<RouteDef>,
    /// The functions the routes and the authorizer invoke, by logical id.
    pub functions: BTreeMap<String, FunctionDef>,
    /// The tables the stack declares.
    pub tables: Vec<TableDef>,
    /// Secrets Manager ARNs among the parameter values (for `--secret`).
    pub secret_arns: Vec<String>,
    /// Things worth knowing that do not stop the API (e.g. a second WebSocket API).
    pub notes: Vec<String>,
}

/// What reading a template needs besides its text.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Parameter values (others take their defaults).
    pub parameters: BTreeMap<String, String>,
    /// Pseudo-parameters.
    pub pseudo: Pseudo,
    /// The folder relative `Code` paths are resolved against (the template's).
    pub base_dir: PathBuf,
    /// The local API id.
    pub api_id: String,
}
