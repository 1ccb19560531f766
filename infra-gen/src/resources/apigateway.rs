//! `AWS::ApiGatewayV2::*`: the WebSocket API, its routes, integrations, deployment and stage.

use serde::{Serialize, Serializer};

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
pub struct ApiRoute {
    api_id: Expr,
    route_key: String,
    authorization_type: Authorization,
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
        ApiRoute {
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
        function: &Handle<LambdaFunction>,
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
