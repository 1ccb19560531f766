//! The grants the conversations and Bedrock add, read back from the committed template:
//! the conversations table and who may touch it, and Bedrock's `InvokeModelWithResponseStream`
//! resolved for a given set of parameters (the conditions evaluated, the `Fn::Sub` strings
//! filled in) naming exactly the configured model.

use std::collections::BTreeMap;

use serde_json::Value;
use streamgate_contract::conversation::attr;
use streamgate_tests::committed_template;

/// A template's parameters and pseudo parameters, for evaluating it.
struct Given(BTreeMap<&'static str, &'static str>);

impl Given {
    fn new(parameters: &[(&'static str, &'static str)]) -> Given {
        let mut values: BTreeMap<_, _> = [
            ("AWS::Partition", "aws"),
            ("AWS::Region", "eu-west-1"),
            ("AWS::AccountId", "123456789012"),
            ("LlmModelRoutesTo", ""),
        ]
        .into();
        values.extend(parameters.iter().copied());
        Given(values)
    }

    fn value(&self, v: &Value) -> String {
        // A resource's Ref or attribute stands for itself (`Table`, `Table.Arn`).
        if let Some(name) = v.get("Ref").and_then(Value::as_str) {
            return self.0.get(name).map_or(name.to_owned(), |v| v.to_string());
        }
        if let Some(att) = v.get("Fn::GetAtt").and_then(Value::as_array) {
            return format!("{}.{}", att[0].as_str().unwrap(), att[1].as_str().unwrap());
        }
        if let Some(sub) = v.get("Fn::Sub").and_then(Value::as_str) {
            let mut out = sub.to_owned();
            for (name, value) in &self.0 {
                out = out.replace(&format!("${{{name}}}"), value);
            }
            // Resources' names stay as `${Name}`: the comparisons below would show them.
            return out;
        }
        v.as_str()
            .unwrap_or_else(|| panic!("not a value: {v}"))
            .to_owned()
    }

    fn holds(&self, t: &Value, c: &Value) -> bool {
        if let Some(name) = c.get("Condition").and_then(Value::as_str) {
            return self.holds(t, &t["Conditions"][name]);
        }
        if let Some(args) = c.get("Fn::Equals").and_then(Value::as_array) {
            return self.value(&args[0]) == self.value(&args[1]);
        }
        if let Some(args) = c.get("Fn::Not").and_then(Value::as_array) {
            return !self.holds(t, &args[0]);
        }
        if let Some(args) = c.get("Fn::And").and_then(Value::as_array) {
            return args.iter().all(|a| self.holds(t, a));
        }
        panic!("unknown condition {c}")
    }

    /// The statements of `role` that apply, with their resources and conditions resolved.
    fn statements(&self, t: &Value, role: &str) -> Vec<(Vec<String>, Vec<String>, Option<String>)> {
        let mut out = Vec::new();
        let policies = t["Resources"][role]["Properties"]["Policies"].as_array();
        for policy in policies.into_iter().flatten() {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                let s = match s.get("Fn::If").and_then(Value::as_array) {
                    Some(b) => {
                        let name = b[0].as_str().unwrap();
                        if self.holds(t, &t["Conditions"][name]) {
                            &b[1]
                        } else {
                            &b[2]
                        }
                    }
                    None => s,
                };
                if s.get("Ref").is_some() {
                    continue; // AWS::NoValue
                }
                let actions = s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect();
                let resources = s["Resource"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| self.value(r))
                    .collect();
                let condition = s
                    .pointer("/Condition/StringEquals/bedrock:InferenceProfileArn")
                    .map(|v| self.value(v));
                out.push((actions, resources, condition));
            }
        }
        out
    }

    /// What `role` may do with Bedrock: (resources, profile condition) per statement.
    fn bedrock(&self, t: &Value, role: &str) -> Vec<(Vec<String>, Option<String>)> {
        self.statements(t, role)
            .into_iter()
            .filter(|(actions, _, _)| actions.iter().any(|a| a.starts_with("bedrock:")))
            .map(|(actions, resources, condition)| {
                assert_eq!(actions, ["bedrock:InvokeModelWithResponseStream"]);
                (resources, condition)
            })
            .collect()
    }
}

const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
const PROFILE: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

#[test]
fn bedrock_grants_exactly_the_configured_model_and_only_to_the_message_function() {
    let t = committed_template();
    let roles: Vec<String> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .map(|(id, _)| id.clone())
        .collect();
    let foundation = Given::new(&[("LlmProvider", "bedrock"), ("LlmModel", MODEL)]);
    for role in &roles {
        let granted = foundation.bedrock(&t, role);
        if role == "MessageFunctionRole" {
            assert_eq!(
                granted,
                [(
                    vec![format!(
                        "arn:aws:bedrock:eu-west-1::foundation-model/{MODEL}"
                    )],
                    None
                )]
            );
        } else {
            assert!(granted.is_empty(), "{role}: {granted:?}");
        }
    }
    let profile = Given::new(&[
        ("LlmProvider", "bedrock"),
        ("LlmModel", PROFILE),
        ("LlmModelRoutesTo", MODEL),
    ]);
    let profile_arn = format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/{PROFILE}");
    assert_eq!(
        profile.bedrock(&t, "MessageFunctionRole"),
        [
            (vec![profile_arn.clone()], None),
            (
                vec![format!("arn:aws:bedrock:*::foundation-model/{MODEL}")],
                Some(profile_arn)
            ),
        ],
        "the profile, and its model in the regions it routes to only through it"
    );
    for provider in ["openai", "anthropic", "echo"] {
        let other = Given::new(&[("LlmProvider", provider), ("LlmModel", MODEL)]);
        assert!(
            other.bedrock(&t, "MessageFunctionRole").is_empty(),
            "{provider}"
        );
    }
}

#[test]
fn the_conversations_table_is_keyed_expiring_and_granted_to_its_two_functions() {
    let t = committed_template();
    let table = &t["Resources"]["ConversationsTable"]["Properties"];
    assert_eq!(table["KeySchema"][0]["AttributeName"], attr::PK);
    assert_eq!(table["KeySchema"][0]["KeyType"], "HASH");
    assert_eq!(table["KeySchema"][1]["AttributeName"], attr::SK);
    assert_eq!(table["KeySchema"][1]["KeyType"], "RANGE");
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], attr::TTL);
    // The conversations statement names the table's own ARN, with exactly the actions
    // each function's permissions map to.
    for (role, expected) in [
        (
            "MessageFunctionRole",
            vec![
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
        ),
        (
            "ConversationsFunctionRole",
            vec!["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"],
        ),
    ] {
        let statement =
            t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == "ConversationsTable")
                .unwrap_or_else(|| panic!("{role} has no conversations statement"));
        assert_eq!(
            statement["Resource"],
            serde_json::json!([{"Fn::GetAtt": ["ConversationsTable", "Arn"]}])
        );
        let mut actions: Vec<_> = statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        actions.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(actions, expected, "{role}");
    }
    for role in [
        "ConnectFunctionRole",
        "DisconnectFunctionRole",
        "DefaultFunctionRole",
        "AuthorizeFunctionRole",
    ] {
        let statements =
            t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .to_string();
        assert!(!statements.contains("ConversationsTable"), "{role}");
    }
}
