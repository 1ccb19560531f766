//! Each contract function's parts: its least-privilege role, its environment, the checks
//! its resource does not fit.

use streamgate_contract::{Function, Permission};

use streamgate_contract::config as env;

use super::{Parts, execute_api_arn};
use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::dynamodb::TableAttr;
use crate::resources::iam::{Action, Policy, PolicyDocument, Role, Statement};
use crate::resources::lambda::Environment;
use crate::resources::logs::{LogGroup, LogGroupAttr};
use crate::template::{Cond, Handle, Options, ParamRef, Template};

/// The condition key that ties a foundation model's grant to one inference profile.
pub(crate) const BEDROCK_PROFILE_CONDITION_KEY: &str = "bedrock:InferenceProfileArn";

/// A function's role: exactly its contract grants, plus writing its own log group.
pub(super) fn role_for(
    t: &mut Template,
    f: Function,
    stem: &str,
    logs: &Handle<LogGroup>,
    parts: &Parts,
) -> Handle<Role> {
    let (p, table, api_handle) = (parts.p, parts.table, parts.api);
    let mut statements = vec![Cond::Always(Statement::allow(
        "WriteLogs",
        &[Action::CreateLogStream, Action::PutLogEvents],
        vec![logs.att(LogGroupAttr::Arn)],
    ))];
    let mut table_actions = Vec::new();
    let mut conversation_actions = Vec::new();
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
            Permission::UpdateQuota => statements.push(Cond::Always(Statement::allow(
                "QuotasTable",
                &[Action::UpdateItem],
                vec![parts.quotas.att(TableAttr::Arn)],
            ))),
            Permission::ReadConversations => {
                conversation_actions.extend([Action::GetItem, Action::Query]);
            }
            // `TransactWriteItems` is authorised by the actions of the writes it holds.
            Permission::WriteConversations => {
                conversation_actions.extend([Action::PutItem, Action::UpdateItem]);
            }
            Permission::CancelAnswers => conversation_actions.push(Action::PutItem),
            // Exactly the configured model: a foundation model in this region, or an
            // inference profile and the foundation model it routes to (in any region it
            // routes to). Nothing when the provider is not Bedrock.
            Permission::InvokeBedrockModel => {
                let arn = |region: Option<&str>, account: bool, kind: &str, id: &ParamRef| {
                    let mut sub = Sub::new()
                        .text("arn:")
                        .pseudo(Pseudo::Partition)
                        .text(":bedrock:");
                    sub = match region {
                        Some(r) => sub.text(r),
                        None => sub.pseudo(Pseudo::Region),
                    };
                    sub = sub.text(":");
                    if account {
                        sub = sub.pseudo(Pseudo::AccountId);
                    }
                    sub.text(":").text(kind).text("/").expr(&id.r#ref()).build()
                };
                statements.push(Cond::When(
                    p.bedrock_model.clone(),
                    Statement::allow(
                        "InvokeBedrockModel",
                        &[Action::InvokeModelWithResponseStream],
                        vec![arn(None, false, "foundation-model", &p.model)],
                    ),
                ));
                let profile = arn(None, true, "inference-profile", &p.model);
                statements.push(Cond::When(
                    p.bedrock_profile.clone(),
                    Statement::allow(
                        "InvokeBedrockInferenceProfile",
                        &[Action::InvokeModelWithResponseStream],
                        vec![profile.clone()],
                    ),
                ));
                // The model in whichever region the profile sends the request to, and only
                // through that profile.
                statements.push(Cond::When(
                    p.bedrock_profile.clone(),
                    Statement::allow(
                        "InvokeBedrockProfileModel",
                        &[Action::InvokeModelWithResponseStream],
                        vec![arn(
                            Some("*"),
                            false,
                            "foundation-model",
                            &p.model_routes_to,
                        )],
                    )
                    .only_when(BEDROCK_PROFILE_CONDITION_KEY, profile),
                ));
            }
        }
    }
    if !conversation_actions.is_empty() {
        conversation_actions.sort();
        conversation_actions.dedup();
        statements.push(Cond::Always(Statement::allow(
            "ConversationsTable",
            &conversation_actions,
            vec![parts.conversations.att(TableAttr::Arn)],
        )));
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
        )
        .with_aws_managed_policy_when(&p.tracing, "AWSXRayDaemonWriteAccess"),
    )
}

/// A function's variables: what its grants, provider and quotas need, and the authorizer's
/// issuer and audience; never a secret's value.
pub(super) fn function_environment(f: Function, parts: &Parts) -> Environment {
    let (p, table) = (parts.p, parts.table);
    let mut variables = std::collections::BTreeMap::new();
    // The metrics' `Service` dimension: the dashboard shows this stack's functions together.
    variables.insert(
        env::METRICS_SERVICE.to_owned(),
        Expr::pseudo(Pseudo::StackName),
    );
    variables.insert(env::METRICS.to_owned(), p.metrics.r#ref());
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
        variables.insert(env::SYSTEM_PROMPT.to_owned(), p.system_prompt.r#ref());
    }
    if [
        Permission::ReadConversations,
        Permission::WriteConversations,
        Permission::CancelAnswers,
    ]
    .into_iter()
    .any(|g| f.may(g))
    {
        variables.insert(
            env::CONVERSATIONS_TABLE_NAME.to_owned(),
            parts.conversations.r#ref(),
        );
    }
    if f.may(Permission::WriteConversations) {
        variables.insert(
            env::CONVERSATION_TTL_DAYS.to_owned(),
            p.conversation_ttl_days.r#ref(),
        );
        variables.insert(env::HISTORY_TOKENS.to_owned(), p.history_tokens.r#ref());
    }
    if f.may(Permission::UpdateQuota) {
        variables.insert(env::QUOTA_TABLE_NAME.to_owned(), parts.quotas.r#ref());
        if f.may(Permission::PutConnection) {
            variables.insert(
                env::MAX_CONNECTIONS_PER_USER.to_owned(),
                p.max_connections.r#ref(),
            );
        }
        if f.spec().uses_llm {
            variables.insert(
                env::DAILY_TOKEN_BUDGET.to_owned(),
                p.daily_token_budget.r#ref(),
            );
            variables.insert(env::MAX_ANSWERS_PER_USER.to_owned(), p.max_answers.r#ref());
        }
    }
    if f.is_authorizer() {
        variables.insert(env::AUTH_ISSUER.to_owned(), parts.sign_in.issuer.clone());
        variables.insert(
            env::AUTH_AUDIENCE.to_owned(),
            parts.sign_in.audience.clone(),
        );
    }
    Environment { variables }
}

/// The checks a function resource does not fit, each with its reason.
pub(super) fn function_options() -> Options {
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
