//! `AWS::Lambda::*`: functions and their invoke permissions.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::expr::Expr;
use crate::template::{Handle, NoAttr, Resource};

/// Lambda runtimes the stack uses.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Runtime {
    /// Amazon Linux 2023 custom runtime (`bootstrap` binary).
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
}

/// Where a function's code is. A local folder is uploaded by `aws cloudformation package`,
/// which rewrites it to `S3Bucket`/`S3Key`.
#[derive(Clone, Debug)]
pub enum Code {
    /// A folder relative to the template, holding `bootstrap`.
    LocalFolder(String),
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Code::LocalFolder(path) => s.serialize_str(path),
        }
    }
}

/// Log format of a function.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum LogFormat {
    /// Structured JSON records.
    #[serde(rename = "JSON")]
    Json,
}

/// `LoggingConfig` of a function.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// Always JSON.
    pub log_format: LogFormat,
    /// The level below which Lambda drops the function's lines (it sets
    /// `AWS_LAMBDA_LOG_LEVEL`, which the function also honours).
    pub application_log_level: Expr,
    /// The function's log group.
    pub log_group: Expr,
}

/// `TracingConfig` of a function.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    /// `Active` or `PassThrough`.
    pub mode: Expr,
}

/// Environment variables of a function.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// Name to value.
    pub variables: BTreeMap<String, Expr>,
}

/// `AWS::Lambda::Function`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaFunction {
    /// What it does.
    pub description: String,
    /// The packaged code.
    pub code: Code,
    /// Always `bootstrap` for custom runtimes.
    pub handler: &'static str,
    /// The runtime.
    pub runtime: Runtime,
    /// `arm64` or `x86_64`.
    pub architectures: Vec<Expr>,
    /// MB.
    pub memory_size: u32,
    /// Seconds.
    pub timeout: u32,
    /// Execution role ARN.
    pub role: Expr,
    /// Configuration.
    pub environment: Environment,
    /// Where logs go.
    pub logging_config: LoggingConfig,
    /// X-Ray tracing.
    pub tracing_config: TracingConfig,
}

attributes!(FunctionAttr { Arn => "Arn" });

impl Resource for LambdaFunction {
    const TYPE: &'static str = "AWS::Lambda::Function";
    type Attr = FunctionAttr;
}

/// `AWS::Lambda::Permission` letting API Gateway invoke a function, scoped to a source ARN.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaPermission {
    action: &'static str,
    function_name: Expr,
    principal: &'static str,
    source_arn: Expr,
}

impl LambdaPermission {
    /// API Gateway may invoke `function`, from `source_arn` only.
    pub fn api_gateway_invoke(
        function: &Handle<LambdaFunction>,
        source_arn: Expr,
    ) -> LambdaPermission {
        LambdaPermission {
            action: "lambda:InvokeFunction",
            function_name: function.att(FunctionAttr::Arn),
            principal: "apigateway.amazonaws.com",
            source_arn,
        }
    }
}

impl Resource for LambdaPermission {
    const TYPE: &'static str = "AWS::Lambda::Permission";
    type Attr = NoAttr;
}

/// How long an asynchronous event may wait in Lambda's queue (60 s to 6 h).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(transparent)]
pub struct EventAge(u32);

impl EventAge {
    /// `None` outside 60..=21,600 seconds.
    pub const fn from_secs(secs: u32) -> Option<EventAge> {
        if secs >= 60 && secs <= 21_600 {
            Some(EventAge(secs))
        } else {
            None
        }
    }
}

/// `AWS::Lambda::EventInvokeConfig`: how Lambda treats a function's asynchronous
/// invocations.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    function_name: Expr,
    maximum_event_age_in_seconds: EventAge,
    maximum_retry_attempts: u8,
    qualifier: &'static str,
}

impl EventInvokeConfig {
    /// No retry of a failed invocation (a retried answer would repeat what already reached
    /// the client), and events older than `max_age` are dropped.
    pub fn no_retries(function: &Handle<LambdaFunction>, max_age: EventAge) -> EventInvokeConfig {
        EventInvokeConfig {
            function_name: function.r#ref(),
            maximum_event_age_in_seconds: max_age,
            maximum_retry_attempts: 0,
            qualifier: "$LATEST",
        }
    }
}

impl Resource for EventInvokeConfig {
    const TYPE: &'static str = "AWS::Lambda::EventInvokeConfig";
    type Attr = NoAttr;
}
