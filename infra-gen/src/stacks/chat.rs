//! The streamgate stack, built from the contract.

use sha2::{Digest, Sha256};
use streamgate_contract::config::{self as env, LlmProviderKind};
use streamgate_contract::invocation::{self, Invocation};
use streamgate_contract::limits::INTEGRATION_TIMEOUT;
use streamgate_contract::record::attr;
use streamgate_contract::routes::api;
use streamgate_contract::{Function, Permission, Route};

use crate::expr::{CondExpr, Expr, Pseudo, Sub};
use crate::resources::apigateway::{
    AccessLogSettings, ApiAttr, ApiGatewayAccount, ApiRoute, Authorization, Deployment,
    Integration, IntegrationTimeout, RouteSettings, Stage, WebSocketApi, WebSocketProtocol,
};
use crate::resources::cloudformation::WaitConditionHandle;
use crate::resources::dynamodb::{KeyType, Table, TableAttr};
use crate::resources::iam::{Action, Policy, PolicyDocument, Role, RoleAttr, Statement};
use crate::resources::lambda::{
    Code, Environment, EventAge, EventInvokeConfig, LambdaFunction, LambdaPermission, LogFormat,
    LoggingConfig, Runtime,
};
use crate::resources::logs::{LogGroup, LogGroupAttr, Retention};
use crate::template::{
    Cond, ConditionRef, DataPolicy, Handle, Options, ParamRef, Parameter, Template,
};

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

struct Params {
    stage: ParamRef,
    architecture: ParamRef,
    provider: ParamRef,
    model: ParamRef,
    base_url: ParamRef,
    secret_arn: ParamRef,
    ttl: ParamRef,
    has_secret: ConditionRef,
}

fn parameters(t: &mut Template) -> Params {
    let providers: Vec<&str> = LlmProviderKind::ALL.iter().map(|p| p.as_str()).collect();
    let stage = t.parameter(
        "StageName",
        Parameter::string("Name of the API stage (the last part of the wss:// URL).")
            .default("dev")
            .pattern(
                "^[A-Za-z0-9_-]{1,128}$",
                "letters, digits, _ and - (1 to 128)",
            ),
    );
    let architecture = t.parameter(
        "Architecture",
        Parameter::string("CPU architecture of the functions; must match the packaged binaries.")
            .default("arm64")
            .allowed(&["arm64", "x86_64"]),
    );
    let provider = t.parameter(
        "LlmProvider",
        Parameter::string("LLM provider of the message function (echo needs no key or network).")
            .default(LlmProviderKind::Echo.as_str())
            .allowed(&providers),
    );
    let model = t.parameter(
        "LlmModel",
        Parameter::string("Model name passed to the provider (empty: the provider's default).")
            .default(""),
    );
    let base_url = t.parameter(
        "LlmBaseUrl",
        Parameter::string(
            "Base URL of an OpenAI-compatible or Anthropic server (empty: the public endpoint).",
        )
        .default("")
        .pattern("^(https?://.+)?$", "empty, or an http(s):// URL"),
    );
    let secret_arn = t.parameter(
        "LlmApiKeySecretArn",
        Parameter::string(
            "ARN of the Secrets Manager secret holding the provider's API key (empty: no key).",
        )
        .default("")
        .pattern(
            "^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)?$",
            "empty, or a Secrets Manager secret ARN",
        ),
    );
    let ttl = t.parameter(
        "ConnectionTtlSeconds",
        Parameter::number(
            "Seconds after which a connection record may be deleted by DynamoDB's TTL (connections last at most 2 h).",
            7_200,
            604_800,
        )
        .default(env::DEFAULT_CONNECTION_TTL_SECONDS.to_string()),
    );
    let has_secret = t.condition(
        "HasLlmApiKeySecret",
        CondExpr::Not(Box::new(CondExpr::Equals(
            secret_arn.r#ref(),
            Expr::lit(""),
        ))),
    );
    Params {
        stage,
        architecture,
        provider,
        model,
        base_url,
        secret_arn,
        ttl,
        has_secret,
    }
}

/// API Gateway's CloudWatch Logs role, when the `ConfigureApiGatewayLogging` parameter asks
/// for it: a stage with logging fails to create ("CloudWatch Logs role ARN must be set in
/// account settings") in an account and region whose API Gateway settings name no role. The
/// setting is one per account and region, shared by every API there, so setting it is a
/// choice, not a default. Returns the join point the stage waits on: it references the
/// settings only when they are created.
fn api_gateway_logging(t: &mut Template) -> Handle<WaitConditionHandle> {
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

/// `arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${Stage}/{rest}`
fn execute_api_arn(api: &Handle<WebSocketApi>, stage: &ParamRef, rest: &str) -> Expr {
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
        .expr(&stage.r#ref())
        .text("/")
        .text(rest)
        .build()
}

fn log_group(t: &mut Template, id: &str) -> Handle<LogGroup> {
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

fn role_for(
    t: &mut Template,
    f: Function,
    stem: &str,
    logs: &Handle<LogGroup>,
    table: &Handle<Table>,
    api_handle: &Handle<WebSocketApi>,
    p: &Params,
) -> Handle<Role> {
    let mut statements = vec![Cond::Always(Statement::allow(
        "WriteLogs",
        &[Action::CreateLogStream, Action::PutLogEvents],
        vec![logs.att(LogGroupAttr::Arn)],
    ))];
    let mut table_actions = Vec::new();
    for grant in f.spec().permissions {
        match grant {
            Permission::PutConnection => table_actions.push(Action::PutItem),
            Permission::GetConnection => table_actions.push(Action::GetItem),
            Permission::DeleteConnection => table_actions.push(Action::DeleteItem),
            Permission::PostToConnection => statements.push(Cond::Always(Statement::allow(
                "PostToConnections",
                &[Action::ManageConnections],
                vec![execute_api_arn(api_handle, &p.stage, "POST/@connections/*")],
            ))),
            Permission::ReadLlmApiKey => statements.push(Cond::When(
                p.has_secret.clone(),
                Statement::allow(
                    "ReadLlmApiKey",
                    &[Action::GetSecretValue],
                    vec![p.secret_arn.r#ref()],
                ),
            )),
        }
    }
    if !table_actions.is_empty() {
        table_actions.sort();
        statements.insert(
            1,
            Cond::Always(Statement::allow(
                "ConnectionsTable",
                &table_actions,
                vec![table.att(TableAttr::Arn)],
            )),
        );
    }
    t.add(
        &format!("{stem}FunctionRole"),
        Role::for_service(
            "lambda.amazonaws.com",
            &format!("Execution role of the {} function", f.name()),
            vec![Policy {
                policy_name: format!("{}-function", f.name()),
                policy_document: PolicyDocument::new(statements),
            }],
        ),
    )
}

fn function_environment(f: Function, table: &Handle<Table>, p: &Params) -> Environment {
    let mut variables = std::collections::BTreeMap::new();
    let grants = f.spec().permissions;
    if grants.iter().any(|g| {
        matches!(
            g,
            Permission::PutConnection | Permission::GetConnection | Permission::DeleteConnection
        )
    }) {
        variables.insert(env::TABLE_NAME.to_owned(), table.r#ref());
    }
    if f.may(Permission::PutConnection) {
        variables.insert(env::CONNECTION_TTL_SECONDS.to_owned(), p.ttl.r#ref());
    }
    if f.spec().uses_llm {
        variables.insert(env::LLM_PROVIDER.to_owned(), p.provider.r#ref());
        variables.insert(env::LLM_MODEL.to_owned(), p.model.r#ref());
        variables.insert(env::LLM_BASE_URL.to_owned(), p.base_url.r#ref());
        variables.insert(env::LLM_API_KEY_SECRET_ARN.to_owned(), p.secret_arn.r#ref());
    }
    Environment { variables }
}

fn function_options() -> Options {
    Options::new()
        // W3002 warns that a local `Code` path needs `aws cloudformation package`: that is
        // exactly how `just deploy` ships the packaged binaries.
        .ignore_cfn_lint("W3002")
        .skip_checkov(
            "CKV_AWS_116",
            "Invoked synchronously by API Gateway; a dead-letter queue only serves asynchronous invocations.",
        )
        .skip_checkov(
            "CKV_AWS_117",
            "Calls only AWS APIs and the model provider; a VPC would add NAT and endpoints for no isolation gain.",
        )
        .skip_checkov(
            "CKV_AWS_115",
            "Stage throttling bounds concurrency; reserving it takes from the account pool and fails on low-limit accounts.",
        )
        .skip_checkov(
            "CKV_AWS_173",
            "The environment holds no secrets (the API key is read from Secrets Manager); Lambda encrypts it at rest.",
        )
}

/// The whole stack.
pub fn build() -> Template {
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

    let mut routes = Vec::new();
    let mut deployment_hash = Sha256::new();
    for f in Function::ALL.iter().copied() {
        let spec = f.spec();
        let stem = pascal(f.name());
        let logs = log_group(&mut t, &format!("{stem}FunctionLogGroup"));
        let role = role_for(&mut t, f, &stem, &logs, &table, &chat_api, &p);
        let function = t.add_with(
            &format!("{stem}Function"),
            LambdaFunction {
                description: format!("streamgate {} function", f.name()),
                code: Code::LocalFolder(artifact_folder(spec.binary)),
                handler: "bootstrap",
                runtime: Runtime::ProvidedAl2023,
                architectures: vec![p.architecture.r#ref()],
                memory_size: spec.memory_mb,
                timeout: spec.timeout_seconds,
                role: role.att(RoleAttr::Arn),
                environment: function_environment(f, &table, &p),
                logging_config: LoggingConfig {
                    log_format: LogFormat::Json,
                    log_group: logs.r#ref(),
                },
            },
            function_options(),
        );
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
            let r = t.add(
                &format!("{rstem}Route"),
                ApiRoute::new(
                    &chat_api,
                    route.key(),
                    &rstem,
                    Authorization::None,
                    &integration,
                ),
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
