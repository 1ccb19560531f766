//! Logging: the log groups, and API Gateway's CloudWatch Logs role when the
//! `ConfigureApiGatewayLogging` parameter asks for it.

use super::LOG_RETENTION;
use crate::expr::{CondExpr, Expr};
use crate::resources::apigateway::ApiGatewayAccount;
use crate::resources::cloudformation::WaitConditionHandle;
use crate::resources::iam::Role;
use crate::resources::logs::LogGroup;
use crate::template::{DataPolicy, Handle, Options, Parameter, Template};

/// API Gateway's CloudWatch Logs role, when the `ConfigureApiGatewayLogging` parameter asks
/// for it: a stage with logging fails to create ("CloudWatch Logs role ARN must be set in
/// account settings") in an account and region whose API Gateway settings name no role. The
/// setting is one per account and region, shared by every API there, so setting it is a
/// choice, not a default. Returns the join point the stage waits on: it references the
/// settings only when they are created.
pub(super) fn api_gateway_logging(t: &mut Template) -> Handle<WaitConditionHandle> {
    let configure = t.parameter(
        "ConfigureApiGatewayLogging",
        Parameter::string(
            "true to set this region's API Gateway account settings to a CloudWatch Logs role made by this stack (needed once per account and region before any API logs; replaces a role already set there).",
        )
        .default("false")
        .allowed(&["true", "false"]),
    );
    let when = t.condition(
        "ConfiguresApiGatewayLogging",
        CondExpr::Equals(configure.r#ref(), Expr::lit("true")),
    );
    let role = t.add_with(
        "ApiGatewayLoggingRole",
        Role::for_service(
            "apigateway.amazonaws.com",
            "API Gateway writes CloudWatch logs for every API of this account and region",
            Vec::new(),
        )
        .with_aws_managed_policy("service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
        Options::new().when(&when),
    );
    let account = t.add_with(
        "ApiGatewayAccountSettings",
        ApiGatewayAccount::logging_with(&role),
        Options::new().when(&when),
    );
    t.add_with(
        "ApiGatewayLoggingReady",
        WaitConditionHandle {},
        Options::new().reference(
            "ApiGatewayAccountSettings",
            when.if_else(account.r#ref(), Expr::lit("")),
        ),
    )
}

/// A function's (or the stage's) log group, kept 30 days and deleted with the stack.
pub(super) fn log_group(t: &mut Template, id: &str) -> Handle<LogGroup> {
    t.add_with(
        id,
        LogGroup {
            retention_in_days: LOG_RETENTION,
        },
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_158",
            "Logs hold no secrets; CloudWatch Logs encrypts them at rest with a service key.",
        ),
    )
}
