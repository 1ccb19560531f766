//! The checks on small templates that break each rule, and on the generated stacks.

use super::*;
use crate::stacks::chat as stack;
use serde_json::json;

fn sound() -> Value {
    stack::build().to_json()
}

#[test]
fn the_stack_is_sound() {
    assert_eq!(check_all(&sound()), vec![]);
}

#[test]
fn sub_variables_skip_escapes() {
    assert_eq!(sub_variables("a${X}b${!Y}c${Z.Arn}"), vec!["X", "Z.Arn"]);
}

#[test]
fn dangling_references_are_found() {
    let mut t = sound();
    t["Resources"]
        .as_object_mut()
        .unwrap()
        .remove("ConnectionsTable");
    let problems = check_references(&t);
    assert!(
        problems.iter().any(|p| p.0.contains("ConnectionsTable")),
        "{problems:?}"
    );

    let mut t = sound();
    t["Outputs"]["WebSocketUrl"]["Value"] = json!({"Fn::Sub": "${ChatApi.ApiUrl}"});
    let problems = check_references(&t);
    assert!(
        problems.iter().any(|p| p.0.contains("no attribute ApiUrl")),
        "{problems:?}"
    );

    let mut t = sound();
    t["Outputs"]["X"] = json!({"Value": {"Fn::If": ["Nope", "a", "b"]}});
    assert!(!check_references(&t).is_empty());
}

#[test]
fn cycles_are_found() {
    let mut t = sound();
    // The trap of template.md: a role that reads the stage.
    t["Resources"]["ConnectFunctionRole"]["DependsOn"] = json!(["Stage"]);
    let cycle = find_cycle(&dependency_graph(&t)).expect("a cycle");
    assert!(
        cycle.contains(&"Stage".to_owned()) && cycle.contains(&"ConnectFunctionRole".to_owned())
    );
}

#[test]
fn iam_wildcards_are_found() {
    let with = |field: &str, value: Value| {
        let mut t = sound();
        t["Resources"]["ConnectFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            [1][field] = value;
        check_iam(&t)
    };
    assert_eq!(with("Action", json!(["dynamodb:*"])).len(), 1);
    assert_eq!(with("Resource", json!(["*"])).len(), 1);
    assert_eq!(
        with(
            "Resource",
            json!({"Fn::Sub": "arn:${AWS::Partition}:dynamodb:*"})
        )
        .len(),
        1
    );
}

#[test]
fn wrong_protocol_and_stage_without_deployment_are_found() {
    let mut t = sound();
    t["Resources"]["ChatApi"]["Properties"]["ProtocolType"] = json!("HTTP");
    assert_eq!(check_structure(&t).len(), 1);
    let mut t = sound();
    t["Resources"]["Stage"]["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("DeploymentId");
    assert_eq!(check_structure(&t).len(), 1);
}

#[test]
fn an_open_connect_is_refused_unless_the_contract_says_public() {
    let open = stack::build_with(Access::Public).to_json();
    assert_eq!(check_access(&open, Access::Public), vec![]);
    let problems = check_access(&open, Access::Jwt);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].0.contains("$connect has no authorizer"));
    // The contract's own stack has its authorizer.
    let mut t = sound();
    assert_eq!(check_access(&t, Access::Jwt), vec![]);
    assert_eq!(
        t["Resources"]["ConnectRoute"]["Properties"]["AuthorizationType"],
        "CUSTOM"
    );
    // A custom route whose authorizer is gone is refused too.
    t["Resources"]
        .as_object_mut()
        .unwrap()
        .remove("ConnectAuthorizer");
    assert!(
        check_access(&t, Access::Jwt)
            .iter()
            .any(|p| p.0.contains("without an authorizer"))
    );
}
