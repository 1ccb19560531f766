//! Local names: what `Ref` of a resource and `Fn::GetAtt` give when the stack runs here (the
//! local pseudo-parameters, the physical names a deploy would choose or the template sets),
//! each resolved once; a name that refers back to itself is a circular reference.

use serde_json::{Value, json};

use super::{Resolver, capped, scalar};
use streamgate_sync::Locked;

/// The pseudo-parameters of a local stack.
#[derive(Debug, Clone)]
pub struct Pseudo {
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account_id: String,
    /// `AWS::StackName`.
    pub stack_name: String,
}

impl Default for Pseudo {
    fn default() -> Self {
        Pseudo {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            stack_name: "local".into(),
        }
    }
}

impl Resolver<'_> {
    /// What `Ref` of a resource gives locally; a circular reference is an error.
    pub fn physical_id(&self, logical_id: &str, resource: &Value) -> Result<String, String> {
        if let Some(known) = self.names.locked().get(logical_id) {
            return known.clone();
        }
        {
            let mut naming = self.naming.locked();
            if naming.iter().any(|n| n == logical_id) {
                return Err(format!(
                    "circular reference: {} -> {logical_id}",
                    naming.join(" -> ")
                ));
            }
            naming.push(logical_id.to_owned());
        }
        let id = self
            .local_name(logical_id, resource)
            .and_then(|n| capped(n, logical_id));
        self.naming.locked().pop();
        self.names
            .locked()
            .insert(logical_id.to_owned(), id.clone());
        id
    }

    fn local_name(&self, logical_id: &str, resource: &Value) -> Result<String, String> {
        let props = &resource["Properties"];
        let named = |field: &str| -> Result<Option<String>, String> {
            Ok(match &props[field] {
                Value::Null => None,
                v => Some(scalar(&self.resolve(v)?)),
            })
        };
        Ok(match resource["Type"].as_str().unwrap_or("") {
            "AWS::Lambda::Function" => named("FunctionName")?
                .unwrap_or_else(|| format!("{}-{logical_id}", self.pseudo.stack_name)),
            "AWS::DynamoDB::Table" => named("TableName")?
                .unwrap_or_else(|| format!("{}-{logical_id}", self.pseudo.stack_name)),
            "AWS::ApiGatewayV2::Api" => self.api_id.clone(),
            "AWS::ApiGatewayV2::Stage" => {
                named("StageName")?.unwrap_or_else(|| logical_id.to_owned())
            }
            "AWS::Logs::LogGroup" => named("LogGroupName")?
                .unwrap_or_else(|| format!("/local/{}/{logical_id}", self.pseudo.stack_name)),
            _ => logical_id.to_owned(),
        })
    }

    pub(super) fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String> {
        let resource = &self.template["Resources"][logical_id];
        if !resource.is_object() {
            return Err(format!(
                "Fn::GetAtt {logical_id}.{attribute}: no such resource"
            ));
        }
        let id = self.physical_id(logical_id, resource)?;
        let p = &self.pseudo;
        let (region, account) = (&p.region, &p.account_id);
        Ok(json!(
            match (resource["Type"].as_str().unwrap_or(""), attribute) {
                ("AWS::Lambda::Function", "Arn") =>
                    format!("arn:aws:lambda:{region}:{account}:function:{id}"),
                ("AWS::DynamoDB::Table", "Arn") =>
                    format!("arn:aws:dynamodb:{region}:{account}:table/{id}"),
                ("AWS::DynamoDB::Table", "StreamArn") => {
                    format!("arn:aws:dynamodb:{region}:{account}:table/{id}/stream/local")
                }
                ("AWS::ApiGatewayV2::Api", "ApiEndpoint") => {
                    format!("wss://{id}.execute-api.{region}.amazonaws.com")
                }
                ("AWS::ApiGatewayV2::Api", "ApiId") => id,
                ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{id}"),
                ("AWS::Logs::LogGroup", "Arn") =>
                    format!("arn:aws:logs:{region}:{account}:log-group:{id}:*"),
                ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{region}:{account}:{id}"),
                ("AWS::SNS::Topic", "TopicName") => id,
                (_, "Arn") => format!("arn:aws:local:{region}:{account}:{logical_id}"),
                (_, attr) => format!("{logical_id}.{attr}"),
            }
        ))
    }
}
