//! The streamgate stack, built from the contract.

use access::{authorizer, sign_in};
use functions::function_environment;
use functions::function_options;
use functions::role_for;
use logging::api_gateway_logging;
use logging::log_group;
use parameters::parameters;

mod access;
mod functions;
mod logging;
mod parameters;
mod watch;

use sha2::{Digest, Sha256};
use streamgate_contract::access::{API_ACCESS, Access};
use streamgate_contract::invocation::{self, Invocation};
use streamgate_contract::limits::INTEGRATION_TIMEOUT;
use streamgate_contract::record::attr;
use streamgate_contract::routes::api;
use streamgate_contract::{Function, Route, RouteKind, conversation, quota};

use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::apigateway::{
    AccessLogSettings, ApiAttr, ApiRoute, Authorization, Deployment, Integration,
    IntegrationTimeout, RouteSettings, Stage, WebSocketApi, WebSocketProtocol,
};
use crate::resources::dynamodb::{KeyType, Table};
use crate::resources::iam::RoleAttr;
use crate::resources::lambda::{
    Code, EventAge, EventInvokeConfig, LambdaFunction, LambdaPermission, LogFormat, LoggingConfig,
    Runtime, TracingConfig,
};
use crate::resources::logs::Retention;
use crate::template::{DataPolicy, Handle, Options, ParamRef, Template};

/// How long an asynchronous `message` event may wait for a free function before it is
/// dropped: an answer that starts a minute late is not worth starting.
pub const ASYNC_EVENT_MAX_AGE: EventAge = match EventAge::from_secs(60) {
    Some(age) => age,
    None => panic!("60 s is a valid event age"),
};

/// Retention of every log group of the stack.
pub const LOG_RETENTION: Retention = Retention::Days30;

/// Where `just package` puts a function's artifact folder, relative to the template.
pub fn artifact_folder(binary: &str) -> String {
    format!("../target/lambda/{binary}")
}

/// The PascalCase stem of a route's logical ids (`$connect` → `Connect`, `send-message` →
/// `SendMessage`).
pub fn route_stem(route: Route) -> String {
    pascal(route.key())
}

fn pascal(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            let first = cs.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(cs).collect::<String>()
        })
        .collect()
}

/// `arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/`, to which
/// a stage and route, or `authorizers/{id}`, are added.
pub(super) fn execute_api_prefix(api: &Handle<WebSocketApi>) -> Sub {
    Sub::new()
        .text("arn:")
        .pseudo(Pseudo::Partition)
        .text(":execute-api:")
        .pseudo(Pseudo::Region)
        .text(":")
        .pseudo(Pseudo::AccountId)
        .text(":")
        .expr(&api.r#ref())
        .text("/")
}

/// `arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${Stage}/{rest}`
pub(super) fn execute_api_arn(api: &Handle<WebSocketApi>, stage: &ParamRef, rest: &str) -> Expr {
    execute_api_prefix(api)
        .expr(&stage.r#ref())
        .text("/")
        .text(rest)
        .build()
}

/// The whole stack, with the contract's access.
pub fn build() -> Template {
    build_with(API_ACCESS)
}

/// What every function resource is built from.
struct Parts<'a> {
    p: &'a parameters::Params,
    table: &'a Handle<Table>,
    quotas: &'a Handle<Table>,
    conversations: &'a Handle<Table>,
    api: &'a Handle<WebSocketApi>,
    sign_in: &'a access::SignIn,
}

/// A contract function: its log group, role and Lambda function.
fn add_function(t: &mut Template, f: Function, parts: &Parts) -> Handle<LambdaFunction> {
    let spec = f.spec();
    let stem = pascal(f.name());
    let logs = log_group(t, &format!("{stem}FunctionLogGroup"));
    let role = role_for(t, f, &stem, &logs, parts);
    t.add_with(
        &format!("{stem}Function"),
        LambdaFunction {
            description: format!("streamgate {} function", f.name()),
            code: Code::LocalFolder(artifact_folder(spec.binary)),
            handler: "bootstrap",
            runtime: Runtime::ProvidedAl2023,
            architectures: vec![parts.p.architecture.r#ref()],
            memory_size: spec.memory_mb,
            timeout: spec.timeout_seconds,
            role: role.att(RoleAttr::Arn),
            environment: function_environment(f, parts),
            logging_config: LoggingConfig {
                log_format: LogFormat::Json,
                application_log_level: parts.p.log_level.r#ref(),
                log_group: logs.r#ref(),
            },
            tracing_config: TracingConfig {
                mode: parts
                    .p
                    .tracing
                    .if_else(Expr::lit("Active"), Expr::lit("PassThrough")),
            },
        },
        function_options(),
    )
}

/// The whole stack for `access`: with `Access::Jwt`, the authorizer function, its REQUEST
/// authorizer on `$connect` and the sign-in; with `Access::Public`, none of them.
pub fn build_with(access: Access) -> Template {
    let mut t = Template::new(
        "streamgate: a WebSocket API that streams LLM answers (API Gateway WebSocket + Lambda + DynamoDB). Generated by infra-gen from the route contract; do not edit.",
    );
    let p = parameters(&mut t);

    let table = t.add_with(
        "ConnectionsTable",
        Table::on_demand(attr::CONNECTION_ID, KeyType::S, attr::TTL),
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_119",
            "Rows hold only connection metadata; encrypted with the AWS-managed DynamoDB key.",
        ),
    );
    let chat_api = t.add(
        "ChatApi",
        WebSocketApi {
            name: Sub::new().pseudo(Pseudo::StackName).text("-chat").build(),
            description: "streamgate chat API: streams LLM answers over WebSocket".into(),
            protocol_type: WebSocketProtocol,
            route_selection_expression: api::ROUTE_SELECTION_EXPRESSION.into(),
        },
    );
    let source_arn = |route_key: &str| execute_api_arn(&chat_api, &p.stage, route_key);
    let timeout = IntegrationTimeout::from_millis(INTEGRATION_TIMEOUT.as_millis() as u32)
        .expect("API Gateway's own limit is a valid integration timeout");

    let quotas = t.add_with(
        "QuotasTable",
        Table::on_demand(quota::attr::KEY, KeyType::S, quota::attr::TTL),
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_119",
            "Items hold only counters and ids; encrypted with the AWS-managed DynamoDB key.",
        ),
    );
    let conversations = t.add_with(
        "ConversationsTable",
        Table::on_demand(conversation::attr::PK, KeyType::S, conversation::attr::TTL)
            .sorted_by(conversation::attr::SK, KeyType::S),
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_119",
            "Encrypted with the AWS-managed DynamoDB key; a customer-managed key is the operator's choice.",
        ),
    );
    let sign_in = sign_in(&mut t, &p);
    let parts = Parts {
        p: &p,
        table: &table,
        quotas: &quotas,
        conversations: &conversations,
        api: &chat_api,
        sign_in: &sign_in,
    };

    let mut routes = Vec::new();
    let mut functions = Vec::new();
    let mut deployment_hash = Sha256::new();
    let connect_authorizer = match access {
        Access::Jwt => {
            let function = add_function(&mut t, Function::Authorize, &parts);
            let a = authorizer(&mut t, &chat_api, &function);
            functions.push((Function::Authorize, function));
            // A changed authorizer goes live only with a new deployment.
            deployment_hash.update(a.id().as_bytes());
            deployment_hash.update([0]);
            Some(a)
        }
        Access::Public => None,
    };
    for f in Function::ALL.iter().copied() {
        if f.is_authorizer() {
            continue;
        }
        let stem = pascal(f.name());
        let function = add_function(&mut t, f, &parts);
        if f.routes()
            .any(|r| r.invocation() == Invocation::Asynchronous)
        {
            t.add(
                &format!("{stem}EventInvokeConfig"),
                EventInvokeConfig::no_retries(&function, ASYNC_EVENT_MAX_AGE),
            );
        }
        for route in f.routes() {
            let rstem = route_stem(route);
            let description = format!("{} → {} function", route.key(), f.name());
            let integration = match route.invocation() {
                Invocation::Synchronous => t.add(
                    &format!("{rstem}Integration"),
                    Integration::lambda_proxy(&chat_api, &function, &description, timeout),
                ),
                Invocation::Asynchronous => t.add(
                    &format!("{rstem}Integration"),
                    Integration::lambda_event(
                        &chat_api,
                        &function,
                        &description,
                        timeout,
                        invocation::request_template(),
                    ),
                ),
            };
            let authorization = match (&connect_authorizer, route.kind()) {
                (Some(a), RouteKind::Connect) => Authorization::Custom(a),
                _ => Authorization::None,
            };
            let r = t.add(
                &format!("{rstem}Route"),
                ApiRoute::new(&chat_api, route.key(), &rstem, authorization, &integration),
            );
            t.add(
                &format!("{rstem}Permission"),
                LambdaPermission::api_gateway_invoke(&function, source_arn(route.key())),
            );
            deployment_hash.update(route.key().as_bytes());
            deployment_hash.update([0]);
            deployment_hash.update(integration.id().as_bytes());
            deployment_hash.update([0]);
            // A changed integration goes live only with a new deployment too.
            if route.invocation() == Invocation::Asynchronous {
                deployment_hash.update(invocation::request_template().as_bytes());
                deployment_hash.update([0]);
            }
            routes.push(r);
        }
        functions.push((f, function));
    }

    // A deployment is only re-created when its logical id changes, so the id carries a hash
    // of the routes: changing a route makes a new deployment and the stage picks it up.
    let digest = deployment_hash.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let mut deployment_options = Options::new();
    for r in &routes {
        deployment_options = deployment_options.depends_on(r);
    }
    let deployment = t.add_with(
        &format!("Deployment{hex}"),
        Deployment::new(&chat_api, "Routes of the contract"),
        deployment_options,
    );
    let access_logs = log_group(&mut t, "AccessLogGroup");
    let logging_ready = api_gateway_logging(&mut t);
    t.add_with(
        "Stage",
        Stage::new(
            &chat_api,
            p.stage.r#ref(),
            "The chat API's stage",
            &deployment,
            AccessLogSettings::json_to(
                &access_logs,
                &[
                    ("requestTime", "$context.requestTime"),
                    ("connectionId", "$context.connectionId"),
                    ("eventType", "$context.eventType"),
                    ("routeKey", "$context.routeKey"),
                    ("status", "$context.status"),
                    ("sourceIp", "$context.identity.sourceIp"),
                    ("integrationError", "$context.integrationErrorMessage"),
                ],
            ),
            RouteSettings {
                detailed_metrics_enabled: false,
                throttling_burst_limit: api::THROTTLE_BURST_LIMIT,
                throttling_rate_limit: api::THROTTLE_RATE_LIMIT,
            },
        ),
        // A stage with logging cannot be created before the region's API Gateway account
        // settings name a CloudWatch Logs role.
        Options::new().depends_on(&logging_ready),
    );

    watch::watch(
        &mut t,
        &p,
        &watch::Watched {
            functions: &functions,
            api: &chat_api,
            connections: &table,
            quotas: &quotas,
            conversations: &conversations,
        },
    );

    t.output(
        "WebSocketUrl",
        "The URL clients connect to",
        Sub::new()
            .expr(&chat_api.att(ApiAttr::ApiEndpoint))
            .text("/")
            .expr(&p.stage.r#ref())
            .build(),
    );
    t.output(
        "ManagementEndpoint",
        "The @connections management endpoint",
        Sub::new()
            .text("https://")
            .expr(&chat_api.r#ref())
            .text(".execute-api.")
            .pseudo(Pseudo::Region)
            .text(".")
            .pseudo(Pseudo::UrlSuffix)
            .text("/")
            .expr(&p.stage.r#ref())
            .build(),
    );
    t.output(
        "ConnectionsTableName",
        "The connections table",
        table.r#ref(),
    );
    t.output(
        "QuotasTableName",
        "The per-user quotas table",
        quotas.r#ref(),
    );
    t.output(
        "ConversationsTableName",
        "The conversations table (turns and stop requests)",
        conversations.r#ref(),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_id_stems_are_pascal_case() {
        assert_eq!(pascal(Route::Connect.key()), "Connect");
        assert_eq!(pascal("send-message"), "SendMessage");
        assert_eq!(pascal("$x_y"), "XY");
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(build().to_yaml(), build().to_yaml());
    }

    #[test]
    fn every_contract_route_gets_route_integration_and_permission() {
        let t = build().to_json();
        for r in Route::ALL {
            let stem = route_stem(*r);
            for suffix in ["Route", "Integration", "Permission"] {
                assert!(
                    t["Resources"].get(format!("{stem}{suffix}")).is_some(),
                    "{stem}{suffix}"
                );
            }
            assert_eq!(
                t["Resources"][format!("{stem}Route")]["Properties"]["RouteKey"],
                r.key()
            );
        }
    }

    #[test]
    fn deployment_id_hashes_the_routes() {
        let t = build().to_json();
        let deployments: Vec<&String> = t["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::ApiGatewayV2::Deployment")
            .map(|(id, _)| id)
            .collect();
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0].len(), "Deployment".len() + 12);
        let deps = t["Resources"][deployments[0]]["DependsOn"]
            .as_array()
            .unwrap();
        assert_eq!(deps.len(), Route::ALL.len());
    }
}
