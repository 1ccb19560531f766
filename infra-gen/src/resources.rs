//! Typed properties of exactly the CloudFormation resource types the stack uses.
//!
//! Values that CloudFormation or the validators would only reject at deploy time, or not at
//! all, are made impossible here: the API's `ProtocolType` is always `WEBSOCKET`, a stage
//! cannot be built without a deployment, a log group's retention is one of the allowed
//! values, IAM actions are an enum with no wildcard, and a table's attribute definitions are
//! derived from its key.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::expr::{Expr, Pseudo, Sub};
use crate::template::{Attribute, Cond, Handle, NoAttr, Resource};

macro_rules! attributes {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        /// `Fn::GetAtt` attributes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(#[doc = $text] $variant),+
        }

        impl Attribute for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

/// Every resource type the generator can emit, with its `Fn::GetAtt` attributes.
pub fn registry() -> Vec<(&'static str, Vec<&'static str>)> {
    fn entry<R: Resource>() -> (&'static str, Vec<&'static str>) {
        (R::TYPE, R::Attr::ALL.iter().map(|a| a.name()).collect())
    }
    vec![
        entry::<WebSocketApi>(),
        entry::<Route>(),
        entry::<Integration>(),
        entry::<Deployment>(),
        entry::<Stage>(),
        entry::<Function>(),
        entry::<Permission>(),
        entry::<Role>(),
        entry::<Table>(),
        entry::<LogGroup>(),
    ]
}

// ---------------------------------------------------------------- API Gateway V2

/// `ProtocolType`, which for this stack can only be `WEBSOCKET`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebSocketProtocol;

impl Serialize for WebSocketProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("WEBSOCKET")
    }
}

/// `AWS::ApiGatewayV2::Api` with `ProtocolType: WEBSOCKET`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebSocketApi {
    /// API name.
    pub name: Expr,
    /// What it is.
    pub description: String,
    /// Always `WEBSOCKET`.
    pub protocol_type: WebSocketProtocol,
    /// `$request.body.action` or similar.
    pub route_selection_expression: String,
}

attributes!(ApiAttr { ApiId => "ApiId", ApiEndpoint => "ApiEndpoint" });

impl Resource for WebSocketApi {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Api";
    type Attr = ApiAttr;
}

/// `AuthorizationType` of a route.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Authorization {
    /// No authorization.
    #[serde(rename = "NONE")]
    None,
}

/// `AWS::ApiGatewayV2::Route`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    api_id: Expr,
    route_key: String,
    authorization_type: Authorization,
    operation_name: String,
    target: Expr,
}

impl Route {
    /// A route that sends `route_key` to `integration`.
    pub fn new(
        api: &Handle<WebSocketApi>,
        route_key: &str,
        operation_name: &str,
        authorization: Authorization,
        integration: &Handle<Integration>,
    ) -> Route {
        Route {
            api_id: api.r#ref(),
            route_key: route_key.to_owned(),
            authorization_type: authorization,
            operation_name: operation_name.to_owned(),
            target: Sub::new()
                .text("integrations/")
                .expr(&integration.r#ref())
                .build(),
        }
    }
}

attributes!(RouteAttr { RouteId => "RouteId" });

impl Resource for Route {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Route";
    type Attr = RouteAttr;
}

/// `IntegrationType`, which for Lambda proxy integrations is `AWS_PROXY`.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum IntegrationType {
    /// Lambda proxy integration.
    #[serde(rename = "AWS_PROXY")]
    AwsProxy,
}

/// An integration timeout API Gateway accepts (50 ms to 29 s).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(transparent)]
pub struct IntegrationTimeout(u32);

impl IntegrationTimeout {
    /// `None` outside 50..=29,000 ms.
    pub const fn from_millis(ms: u32) -> Option<IntegrationTimeout> {
        if ms >= 50 && ms <= 29_000 {
            Some(IntegrationTimeout(ms))
        } else {
            None
        }
    }
}

/// `AWS::ApiGatewayV2::Integration`: a Lambda proxy integration.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    api_id: Expr,
    description: String,
    integration_type: IntegrationType,
    integration_uri: Expr,
    timeout_in_millis: IntegrationTimeout,
}

impl Integration {
    /// A proxy integration that invokes `function` with the full invocation URI (a bare
    /// function ARN does not work for WebSocket APIs).
    pub fn lambda_proxy(
        api: &Handle<WebSocketApi>,
        function: &Handle<Function>,
        description: &str,
        timeout: IntegrationTimeout,
    ) -> Integration {
        Integration {
            api_id: api.r#ref(),
            description: description.to_owned(),
            integration_type: IntegrationType::AwsProxy,
            integration_uri: Sub::new()
                .text("arn:")
                .pseudo(Pseudo::Partition)
                .text(":apigateway:")
                .pseudo(Pseudo::Region)
                .text(":lambda:path/2015-03-31/functions/")
                .expr(&function.att(FunctionAttr::Arn))
                .text("/invocations")
                .build(),
            timeout_in_millis: timeout,
        }
    }
}

attributes!(IntegrationAttr { IntegrationId => "IntegrationId" });

impl Resource for Integration {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Integration";
    type Attr = IntegrationAttr;
}

/// `AWS::ApiGatewayV2::Deployment`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    api_id: Expr,
    description: String,
}

impl Deployment {
    /// A deployment of `api`.
    pub fn new(api: &Handle<WebSocketApi>, description: &str) -> Deployment {
        Deployment {
            api_id: api.r#ref(),
            description: description.to_owned(),
        }
    }
}

attributes!(DeploymentAttr { DeploymentId => "DeploymentId" });

impl Resource for Deployment {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Deployment";
    type Attr = DeploymentAttr;
}

/// Access logging of a stage.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessLogSettings {
    destination_arn: Expr,
    format: String,
}

impl AccessLogSettings {
    /// Access logs to `group`, one JSON object per request. The format always carries
    /// `$context.requestId`.
    pub fn json_to(group: &Handle<LogGroup>, fields: &[(&str, &str)]) -> AccessLogSettings {
        let mut format = serde_json::Map::new();
        format.insert("requestId".into(), "$context.requestId".into());
        for (k, v) in fields {
            format.insert((*k).into(), (*v).into());
        }
        AccessLogSettings {
            destination_arn: group.att(LogGroupAttr::Arn),
            format: serde_json::Value::Object(format).to_string(),
        }
    }
}

/// Default route settings of a stage.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteSettings {
    /// Enables per-route CloudWatch metrics.
    pub detailed_metrics_enabled: bool,
    /// Burst of requests.
    pub throttling_burst_limit: u32,
    /// Steady requests per second.
    pub throttling_rate_limit: f64,
}

/// `AWS::ApiGatewayV2::Stage`, which always has a deployment.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    api_id: Expr,
    stage_name: Expr,
    description: String,
    deployment_id: Expr,
    access_log_settings: AccessLogSettings,
    default_route_settings: RouteSettings,
}

impl Stage {
    /// A stage serving `deployment`.
    pub fn new(
        api: &Handle<WebSocketApi>,
        stage_name: Expr,
        description: &str,
        deployment: &Handle<Deployment>,
        access_logs: AccessLogSettings,
        route_settings: RouteSettings,
    ) -> Stage {
        Stage {
            api_id: api.r#ref(),
            stage_name,
            description: description.to_owned(),
            deployment_id: deployment.r#ref(),
            access_log_settings: access_logs,
            default_route_settings: route_settings,
        }
    }
}

impl Resource for Stage {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Stage";
    type Attr = NoAttr;
}

// ---------------------------------------------------------------- Lambda

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
    /// The function's log group.
    pub log_group: Expr,
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
pub struct Function {
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
}

attributes!(FunctionAttr { Arn => "Arn" });

impl Resource for Function {
    const TYPE: &'static str = "AWS::Lambda::Function";
    type Attr = FunctionAttr;
}

/// `AWS::Lambda::Permission` letting API Gateway invoke a function, scoped to a source ARN.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    action: &'static str,
    function_name: Expr,
    principal: &'static str,
    source_arn: Expr,
}

impl Permission {
    /// API Gateway may invoke `function`, from `source_arn` only.
    pub fn api_gateway_invoke(function: &Handle<Function>, source_arn: Expr) -> Permission {
        Permission {
            action: "lambda:InvokeFunction",
            function_name: function.att(FunctionAttr::Arn),
            principal: "apigateway.amazonaws.com",
            source_arn,
        }
    }
}

impl Resource for Permission {
    const TYPE: &'static str = "AWS::Lambda::Permission";
    type Attr = NoAttr;
}

// ---------------------------------------------------------------- IAM

/// The IAM actions the stack grants. There is no wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Action {
    /// Assume a role.
    #[serde(rename = "sts:AssumeRole")]
    AssumeRole,
    /// Create a log stream.
    #[serde(rename = "logs:CreateLogStream")]
    CreateLogStream,
    /// Write log events.
    #[serde(rename = "logs:PutLogEvents")]
    PutLogEvents,
    /// Write an item.
    #[serde(rename = "dynamodb:PutItem")]
    PutItem,
    /// Read an item.
    #[serde(rename = "dynamodb:GetItem")]
    GetItem,
    /// Delete an item.
    #[serde(rename = "dynamodb:DeleteItem")]
    DeleteItem,
    /// Use the `@connections` API.
    #[serde(rename = "execute-api:ManageConnections")]
    ManageConnections,
    /// Read a secret's value.
    #[serde(rename = "secretsmanager:GetSecretValue")]
    GetSecretValue,
}

/// Statement effect.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Effect {
    /// Grants.
    Allow,
}

/// A service principal.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// `lambda.amazonaws.com`, ...
    pub service: Vec<&'static str>,
}

/// One statement of a policy.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id.
    pub sid: String,
    /// Always Allow.
    pub effect: Effect,
    /// Who (trust policies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// What.
    pub action: Vec<Action>,
    /// On which resources (permission policies only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow(sid: &str, actions: &[Action], resources: Vec<Expr>) -> Statement {
        Statement {
            sid: sid.to_owned(),
            effect: Effect::Allow,
            principal: None,
            action: actions.to_vec(),
            resource: resources,
        }
    }
}

/// A policy document.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    version: &'static str,
    statement: Vec<Cond<Statement>>,
}

impl PolicyDocument {
    /// A document of these statements.
    pub fn new(statement: Vec<Cond<Statement>>) -> PolicyDocument {
        PolicyDocument {
            version: "2012-10-17",
            statement,
        }
    }
}

/// An inline policy of a role.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// Its name.
    pub policy_name: String,
    /// Its statements.
    pub policy_document: PolicyDocument,
}

/// `AWS::IAM::Role`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    description: String,
    assume_role_policy_document: PolicyDocument,
    policies: Vec<Policy>,
}

impl Role {
    /// A role that `service` may assume, with these inline policies.
    pub fn for_service(service: &'static str, description: &str, policies: Vec<Policy>) -> Role {
        Role {
            description: description.to_owned(),
            assume_role_policy_document: PolicyDocument::new(vec![Cond::Always(Statement {
                sid: "AssumeRole".into(),
                effect: Effect::Allow,
                principal: Some(Principal {
                    service: vec![service],
                }),
                action: vec![Action::AssumeRole],
                resource: Vec::new(),
            })]),
            policies,
        }
    }
}

attributes!(RoleAttr { Arn => "Arn", RoleId => "RoleId" });

impl Resource for Role {
    const TYPE: &'static str = "AWS::IAM::Role";
    type Attr = RoleAttr;
}

// ---------------------------------------------------------------- DynamoDB

/// Scalar types of key attributes.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum KeyType {
    /// String.
    S,
    /// Number.
    N,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDefinition {
    attribute_name: String,
    attribute_type: KeyType,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeySchemaElement {
    attribute_name: String,
    key_type: &'static str,
}

/// Billing mode: on-demand only (no `ProvisionedThroughput` to get wrong).
#[derive(Clone, Copy, Debug, Serialize)]
pub enum BillingMode {
    /// On demand.
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TimeToLive {
    attribute_name: String,
    enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PointInTimeRecovery {
    point_in_time_recovery_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SseSpecification {
    #[serde(rename = "SSEEnabled")]
    sse_enabled: bool,
    #[serde(rename = "SSEType")]
    sse_type: &'static str,
}

/// `AWS::DynamoDB::Table`: a hash-key table, on demand, with TTL, point-in-time recovery and
/// KMS encryption.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    attribute_definitions: Vec<AttributeDefinition>,
    key_schema: Vec<KeySchemaElement>,
    billing_mode: BillingMode,
    time_to_live_specification: TimeToLive,
    point_in_time_recovery_specification: PointInTimeRecovery,
    #[serde(rename = "SSESpecification")]
    sse_specification: SseSpecification,
}

impl Table {
    /// A table keyed by `partition_key`, whose rows expire at the epoch seconds in
    /// `ttl_attribute`. The attribute definitions list exactly the key.
    pub fn on_demand(partition_key: &str, key_type: KeyType, ttl_attribute: &str) -> Table {
        Table {
            attribute_definitions: vec![AttributeDefinition {
                attribute_name: partition_key.to_owned(),
                attribute_type: key_type,
            }],
            key_schema: vec![KeySchemaElement {
                attribute_name: partition_key.to_owned(),
                key_type: "HASH",
            }],
            billing_mode: BillingMode::PayPerRequest,
            time_to_live_specification: TimeToLive {
                attribute_name: ttl_attribute.to_owned(),
                enabled: true,
            },
            point_in_time_recovery_specification: PointInTimeRecovery {
                point_in_time_recovery_enabled: true,
            },
            sse_specification: SseSpecification {
                sse_enabled: true,
                sse_type: "KMS",
            },
        }
    }
}

attributes!(TableAttr { Arn => "Arn" });

impl Resource for Table {
    const TYPE: &'static str = "AWS::DynamoDB::Table";
    type Attr = TableAttr;
}

// ---------------------------------------------------------------- Logs

/// Log retention: only the values CloudWatch Logs accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// 1 day.
    Days1,
    /// 3 days.
    Days3,
    /// 5 days.
    Days5,
    /// 1 week.
    Days7,
    /// 2 weeks.
    Days14,
    /// 1 month.
    Days30,
    /// 2 months.
    Days60,
    /// 3 months.
    Days90,
    /// 6 months.
    Days180,
    /// 1 year.
    Days365,
    /// 2 years.
    Days731,
}

impl Retention {
    /// The number of days.
    pub const fn days(self) -> u32 {
        match self {
            Retention::Days1 => 1,
            Retention::Days3 => 3,
            Retention::Days5 => 5,
            Retention::Days7 => 7,
            Retention::Days14 => 14,
            Retention::Days30 => 30,
            Retention::Days60 => 60,
            Retention::Days90 => 90,
            Retention::Days180 => 180,
            Retention::Days365 => 365,
            Retention::Days731 => 731,
        }
    }
}

impl Serialize for Retention {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.days())
    }
}

/// `AWS::Logs::LogGroup`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    /// How long events are kept.
    pub retention_in_days: Retention,
}

attributes!(LogGroupAttr { Arn => "Arn" });

impl Resource for LogGroup {
    const TYPE: &'static str = "AWS::Logs::LogGroup";
    type Attr = LogGroupAttr;
}
