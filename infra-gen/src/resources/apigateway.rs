//! `AWS::ApiGatewayV2::*`: the WebSocket API, its routes, integrations, deployment and stage.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use streamgate_contract::invocation;

use super::lambda::{FunctionAttr, LambdaFunction};
use super::logs::{LogGroup, LogGroupAttr};
use crate::expr::{Expr, Pseudo, Sub};
use crate::template::{Handle, NoAttr, Resource};

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

/// Who may use a route: anyone, or whom a REQUEST authorizer lets in (API Gateway runs
/// authorizers on `$connect` only).
pub enum Authorization<'a> {
    /// `AuthorizationType: NONE`.
    None,
    /// `AuthorizationType: CUSTOM` with this authorizer.
    Custom(&'a Handle<Authorizer>),
}

/// `AWS::ApiGatewayV2::Route`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiRoute {
    api_id: Expr,
    route_key: String,
    authorization_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer_id: Option<Expr>,
    operation_name: String,
    target: Expr,
}

impl ApiRoute {
    /// A route that sends `route_key` to `integration`.
    pub fn new(
        api: &Handle<WebSocketApi>,
        route_key: &str,
        operation_name: &str,
        authorization: Authorization,
        integration: &Handle<Integration>,
    ) -> ApiRoute {
        let (authorization_type, authorizer_id) = match authorization {
            Authorization::None => ("NONE", None),
            Authorization::Custom(a) => ("CUSTOM", Some(a.r#ref())),
        };
        ApiRoute {
            api_id: api.r#ref(),
            route_key: route_key.to_owned(),
            authorization_type,
            authorizer_id,
            operation_name: operation_name.to_owned(),
            target: Sub::new()
                .text("integrations/")
                .expr(&integration.r#ref())
                .build(),
        }
    }
}

attributes!(RouteAttr { RouteId => "RouteId" });

/// `AWS::ApiGatewayV2::Authorizer` of type `REQUEST`: a Lambda function that sees the
/// `$connect` request and answers with a policy. No `IdentitySource`: with one, API Gateway
/// answers 401 whenever any listed source is missing, so a client would have to send both the
/// header and the query parameter; without one the function reads either. No result caching
/// (WebSocket APIs do not support it).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authorizer {
    api_id: Expr,
    authorizer_type: &'static str,
    authorizer_uri: Expr,
    name: String,
}

impl Authorizer {
    /// A REQUEST authorizer run by `function`.
    pub fn lambda_request(
        api: &Handle<WebSocketApi>,
        function: &Handle<LambdaFunction>,
        name: &str,
    ) -> Authorizer {
        Authorizer {
            api_id: api.r#ref(),
            authorizer_type: "REQUEST",
            authorizer_uri: invocation_uri(function),
            name: name.to_owned(),
        }
    }
}

attributes!(AuthorizerAttr { AuthorizerId => "AuthorizerId" });

impl Resource for Authorizer {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Authorizer";
    type Attr = AuthorizerAttr;
}

impl Resource for ApiRoute {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Route";
    type Attr = RouteAttr;
}

/// `IntegrationType`, which for Lambda proxy integrations is `AWS_PROXY`.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum IntegrationType {
    /// Lambda proxy integration.
    #[serde(rename = "AWS_PROXY")]
    AwsProxy,
    /// An AWS service action (here: an asynchronous Lambda invocation).
    #[serde(rename = "AWS")]
    Aws,
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

/// `AWS::ApiGatewayV2::Integration`: a Lambda proxy integration, or an asynchronous
/// invocation.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    api_id: Expr,
    description: String,
    integration_type: IntegrationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    integration_method: Option<&'static str>,
    integration_uri: Expr,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    request_parameters: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    request_templates: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_selection_expression: Option<String>,
    timeout_in_millis: IntegrationTimeout,
}

/// The full invocation URI of a function (a bare function ARN does not work for WebSocket
/// APIs).
fn invocation_uri(function: &Handle<LambdaFunction>) -> Expr {
    Sub::new()
        .text("arn:")
        .pseudo(Pseudo::Partition)
        .text(":apigateway:")
        .pseudo(Pseudo::Region)
        .text(":lambda:path/2015-03-31/functions/")
        .expr(&function.att(FunctionAttr::Arn))
        .text("/invocations")
        .build()
}

impl Integration {
    /// A proxy integration that invokes `function` with the full invocation URI (a bare
    /// function ARN does not work for WebSocket APIs).
    pub fn lambda_proxy(
        api: &Handle<WebSocketApi>,
        function: &Handle<LambdaFunction>,
        description: &str,
        timeout: IntegrationTimeout,
    ) -> Integration {
        Integration {
            api_id: api.r#ref(),
            description: description.to_owned(),
            integration_type: IntegrationType::AwsProxy,
            integration_method: None,
            integration_uri: invocation_uri(function),
            request_parameters: BTreeMap::new(),
            request_templates: BTreeMap::new(),
            template_selection_expression: None,
            timeout_in_millis: timeout,
        }
    }

    /// An asynchronous integration: API Gateway invokes `function` with
    /// `X-Amz-Invocation-Type: 'Event'` and returns at once, sending the event that
    /// `request_template` renders (for every frame: the template is selected by `$default`).
    pub fn lambda_event(
        api: &Handle<WebSocketApi>,
        function: &Handle<LambdaFunction>,
        description: &str,
        timeout: IntegrationTimeout,
        request_template: String,
    ) -> Integration {
        Integration {
            api_id: api.r#ref(),
            description: description.to_owned(),
            integration_type: IntegrationType::Aws,
            integration_method: Some("POST"),
            integration_uri: invocation_uri(function),
            request_parameters: BTreeMap::from([(
                "integration.request.header.X-Amz-Invocation-Type".to_owned(),
                "'Event'".to_owned(),
            )]),
            request_templates: BTreeMap::from([(
                invocation::REQUEST_TEMPLATE_KEY.to_owned(),
                request_template,
            )]),
            // A literal (escaped) key: the one template is selected for every frame.
            template_selection_expression: Some(format!("\\{}", invocation::REQUEST_TEMPLATE_KEY)),
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

/// `AWS::ApiGateway::Account`: the region's API Gateway account settings, which name the
/// role API Gateway writes CloudWatch logs with (one per account and region, shared by every
/// API there).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiGatewayAccount {
    cloud_watch_role_arn: Expr,
}

impl ApiGatewayAccount {
    /// Settings naming `role` as API Gateway's CloudWatch Logs role.
    pub fn logging_with(role: &Handle<super::iam::Role>) -> ApiGatewayAccount {
        ApiGatewayAccount {
            cloud_watch_role_arn: role.att(super::iam::RoleAttr::Arn),
        }
    }
}

impl Resource for ApiGatewayAccount {
    const TYPE: &'static str = "AWS::ApiGateway::Account";
    type Attr = NoAttr;
}
