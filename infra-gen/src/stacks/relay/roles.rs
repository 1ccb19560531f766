//! Who may do what: the log group and the repository statement, the execution role (pull
//! this image, read this secret, write this log group) and the task role (read only the
//! catalog object, and only when one is named; update only the voice quotas table).

use super::parameters::Params;
use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::dynamodb::{Table, TableAttr};
use crate::resources::ecr::{Repository, RepositoryAttr};
use crate::resources::iam::{Action, Policy, PolicyDocument, Role, Statement};
use crate::resources::logs::{LogGroup, LogGroupAttr};
use crate::stacks::chat::LOG_RETENTION;
use crate::template::{Cond, DataPolicy, Handle, Options, Template};

/// The relay's log group.
pub(super) fn log_group(t: &mut Template) -> Handle<LogGroup> {
    t.add_with(
        "RelayLogs",
        LogGroup {
            retention_in_days: LOG_RETENTION,
        },
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_158",
            "Logs hold no secrets; CloudWatch Logs encrypts them at rest with a service key.",
        ),
    )
}

/// Pulling the relay image from `repo`.
fn repository_arn_statement(repo: &Handle<Repository>) -> Statement {
    Statement::allow(
        "PullRelayImage",
        &[
            Action::BatchCheckLayerAvailability,
            Action::BatchGetImage,
            Action::GetDownloadUrlForLayer,
        ],
        vec![repo.att(RepositoryAttr::Arn)],
    )
}

/// The two roles.
pub(super) struct Roles {
    /// ECS's, for starting the task.
    pub(super) execution: Handle<Role>,
    /// The relay's own.
    pub(super) task: Handle<Role>,
}

/// Declares them.
pub(super) fn roles(
    t: &mut Template,
    p: &Params,
    repository: &Handle<Repository>,
    logs: &Handle<LogGroup>,
    quotas: &Handle<Table>,
) -> Roles {
    // Roles: the execution role pulls this image, reads this secret, writes this log group;
    // the task role reads only the catalog object (when there is one).
    let execution_role = t.add(
        "ExecutionRole",
        Role::for_service(
            "ecs-tasks.amazonaws.com",
            "ECS pulls the relay image, reads the OpenAI key and writes the relay's logs",
            vec![Policy {
                policy_name: "relay-execution".into(),
                policy_document: PolicyDocument::new(vec![
                    Cond::Always(Statement::allow(
                        "RegistryLogin",
                        &[Action::GetAuthorizationToken],
                        vec![Expr::lit("*")],
                    )),
                    Cond::Always(repository_arn_statement(repository)),
                    Cond::Always(Statement::allow(
                        "ReadOpenAiKey",
                        &[Action::GetSecretValue],
                        vec![p.secret_arn.r#ref()],
                    )),
                    Cond::Always(Statement::allow(
                        "WriteLogs",
                        &[Action::CreateLogStream, Action::PutLogEvents],
                        vec![logs.att(LogGroupAttr::Arn)],
                    )),
                ]),
            }],
        ),
    );
    let catalog_object_arn = Sub::new()
        .text("arn:")
        .pseudo(Pseudo::Partition)
        .text(":s3:::")
        .expr(&p.catalog_bucket.r#ref())
        .text("/")
        .expr(&p.catalog_key.r#ref())
        .build();
    let task_role = t.add(
        "TaskRole",
        Role::for_service(
            "ecs-tasks.amazonaws.com",
            "The relay reads its catalog object and charges its users' voice seconds, nothing else",
            vec![Policy {
                policy_name: "relay-task".into(),
                policy_document: PolicyDocument::new(vec![
                    Cond::When(
                        p.has_catalog_object.clone(),
                        Statement::allow(
                            "ReadCatalog",
                            &[Action::GetObject],
                            vec![catalog_object_arn],
                        ),
                    ),
                    Cond::Always(Statement::allow(
                        "VoiceQuotas",
                        &[Action::UpdateItem],
                        vec![quotas.att(TableAttr::Arn)],
                    )),
                ]),
            }],
        ),
    );
    Roles {
        execution: execution_role,
        task: task_role,
    }
}
