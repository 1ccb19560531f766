//! `AWS::IAM::*`: roles and policy documents. IAM actions are an enum with no wildcard.

use serde::Serialize;

use crate::expr::{Expr, Pseudo, Sub};
use crate::template::{Cond, Resource};

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
    /// Update an item (conditionally, for counters and places).
    #[serde(rename = "dynamodb:UpdateItem")]
    UpdateItem,
    /// Read the items of one partition.
    #[serde(rename = "dynamodb:Query")]
    Query,
    /// Stream a model's answer (Bedrock's `ConverseStream` and `InvokeModelWithResponseStream`).
    #[serde(rename = "bedrock:InvokeModelWithResponseStream")]
    InvokeModelWithResponseStream,
    /// Use the `@connections` API.
    #[serde(rename = "execute-api:ManageConnections")]
    ManageConnections,
    /// Read a secret's value.
    #[serde(rename = "secretsmanager:GetSecretValue")]
    GetSecretValue,
    /// Read an S3 object.
    #[serde(rename = "s3:GetObject")]
    GetObject,
    /// Get a registry login token (no resource-level permission: its resource is `*`).
    #[serde(rename = "ecr:GetAuthorizationToken")]
    GetAuthorizationToken,
    /// Check which image layers a repository has.
    #[serde(rename = "ecr:BatchCheckLayerAvailability")]
    BatchCheckLayerAvailability,
    /// Read an image manifest.
    #[serde(rename = "ecr:BatchGetImage")]
    BatchGetImage,
    /// Download an image layer.
    #[serde(rename = "ecr:GetDownloadUrlForLayer")]
    GetDownloadUrlForLayer,
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
    /// Only when the request's condition key equals the value (`StringEquals`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<StringEquals>,
}

/// `{"StringEquals": {key: value}}`.
#[derive(Serialize)]
pub struct StringEquals {
    /// The condition key and the value it must equal.
    #[serde(rename = "StringEquals")]
    pub equals: std::collections::BTreeMap<&'static str, Expr>,
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
            condition: None,
        }
    }

    /// This statement, applying only when the request's `key` equals `value`.
    pub fn only_when(mut self, key: &'static str, value: Expr) -> Statement {
        self.condition = Some(StringEquals {
            equals: [(key, value)].into(),
        });
        self
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    managed_policy_arns: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
                condition: None,
            })]),
            managed_policy_arns: Vec::new(),
            policies,
        }
    }

    /// The same role with an AWS managed policy (`service-role/...`, say), named by its path,
    /// when `condition` holds.
    pub fn with_aws_managed_policy_when(
        mut self,
        condition: &crate::template::ConditionRef,
        path: &'static str,
    ) -> Role {
        let arn = Sub::new()
            .text("arn:")
            .pseudo(Pseudo::Partition)
            .text(":iam::aws:policy/")
            .text(path)
            .build();
        self.managed_policy_arns
            .push(condition.if_else(arn, Expr::no_value()));
        self
    }

    /// The same role with an AWS managed policy (`service-role/...`, say), named by its path.
    pub fn with_aws_managed_policy(mut self, path: &'static str) -> Role {
        self.managed_policy_arns.push(
            Sub::new()
                .text("arn:")
                .pseudo(Pseudo::Partition)
                .text(":iam::aws:policy/")
                .text(path)
                .build(),
        );
        self
    }
}

attributes!(RoleAttr { Arn => "Arn", RoleId => "RoleId" });

impl Resource for Role {
    const TYPE: &'static str = "AWS::IAM::Role";
    type Attr = RoleAttr;
}
