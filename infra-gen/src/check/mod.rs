//! Checks on a rendered template (as JSON), for what cfn-lint does not catch or catches late:
//! dangling references, dependency cycles, IAM wildcards, stages without deployments, the
//! API's protocol, a `$connect` without an authorizer on a non-`Public` API. The synth binary runs them before it writes a file; the tests run them on
//! the committed file.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use streamgate_contract::Route;
use streamgate_contract::access::{API_ACCESS, Access};

use crate::expr::Pseudo;
use crate::resources::registry;

/// A problem found in a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Problem(pub String);

fn problem(s: impl Into<String>) -> Problem {
    Problem(s.into())
}

/// The `${...}` variables of an `Fn::Sub` string (escaped `${!...}` excluded).
pub fn sub_variables(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            out.push(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    out
}

/// A reference found in a value: `(logical id or pseudo parameter, attribute)`.
type Reference = (String, Option<String>);

/// Every reference a value makes through `Ref`, `Fn::GetAtt` and `Fn::Sub`.
pub fn references(v: &Value) -> Vec<Reference> {
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn walk(v: &Value, out: &mut Vec<Reference>) {
    match v {
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(target)) = map.get("Ref") {
                    out.push((target.clone(), None));
                    return;
                }
                if let Some(Value::Array(a)) = map.get("Fn::GetAtt")
                    && let [Value::String(id), Value::String(attr)] = a.as_slice()
                {
                    out.push((id.clone(), Some(attr.clone())));
                    return;
                }
                if let Some(Value::String(s)) = map.get("Fn::Sub") {
                    for var in sub_variables(s) {
                        match var.split_once('.') {
                            Some((id, attr)) => out.push((id.to_owned(), Some(attr.to_owned()))),
                            None => out.push((var, None)),
                        }
                    }
                    return;
                }
            }
            map.values().for_each(|v| walk(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
        _ => {}
    }
}

fn section<'a>(t: &'a Value, name: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    t.get(name)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter())
}

/// Every `Ref`, `Fn::GetAtt` and `Fn::Sub` variable names a resource, parameter or pseudo
/// parameter, and every attribute exists on the resource's type; every `Fn::If` names a
/// condition; every resource type is one the generator knows.
pub fn check_references(t: &Value) -> Vec<Problem> {
    let known: BTreeMap<&str, Vec<&str>> = registry().into_iter().collect();
    let mut problems = Vec::new();
    let resources: BTreeMap<&String, &str> = section(t, "Resources")
        .map(|(id, r)| (id, r.get("Type").and_then(Value::as_str).unwrap_or("")))
        .collect();
    let parameters: BTreeSet<&String> = section(t, "Parameters").map(|(id, _)| id).collect();
    let conditions: BTreeSet<&String> = section(t, "Conditions").map(|(id, _)| id).collect();
    for (id, ty) in &resources {
        if !known.contains_key(ty) {
            problems.push(problem(format!("{id}: unknown resource type {ty:?}")));
        }
    }
    let mut check = |place: &str, v: &Value| {
        for (target, attr) in references(v) {
            let pseudo = Pseudo::ALL.iter().any(|p| p.name() == target) || target == "AWS::NoValue";
            match attr {
                None if pseudo
                    || parameters.contains(&target)
                    || resources.contains_key(&target) => {}
                None => problems.push(problem(format!("{place}: Ref to unknown {target}"))),
                Some(attr) => match resources.get(&target) {
                    None => problems.push(problem(format!("{place}: GetAtt on unknown {target}"))),
                    Some(ty) => {
                        if !known
                            .get(ty)
                            .is_some_and(|attrs| attrs.contains(&attr.as_str()))
                        {
                            problems.push(problem(format!(
                                "{place}: {ty} {target} has no attribute {attr}"
                            )));
                        }
                    }
                },
            }
        }
        for cond in conditions_used(v) {
            if !conditions.contains(&cond) {
                problems.push(problem(format!(
                    "{place}: Fn::If on unknown condition {cond}"
                )));
            }
        }
    };
    for (id, r) in section(t, "Resources") {
        check(id, r);
    }
    for (id, o) in section(t, "Outputs") {
        check(id, o);
    }
    for (id, c) in section(t, "Conditions") {
        check(id, c);
    }
    for (id, r) in section(t, "Resources") {
        for dep in depends_on(r) {
            if !resources.contains_key(&dep) {
                problems.push(problem(format!("{id}: DependsOn unknown {dep}")));
            }
        }
    }
    problems
}

fn conditions_used(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn go(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(a)) = map.get("Fn::If")
                    && let Some(Value::String(c)) = a.first()
                {
                    out.push(c.clone());
                }
                map.values().for_each(|v| go(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| go(v, out)),
            _ => {}
        }
    }
    go(v, &mut out);
    out
}

fn depends_on(r: &Value) -> Vec<String> {
    match r.get("DependsOn") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The resource graph (edges from Ref, GetAtt, Sub and DependsOn between resources).
pub fn dependency_graph(t: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let ids: BTreeSet<&String> = section(t, "Resources").map(|(id, _)| id).collect();
    section(t, "Resources")
        .map(|(id, r)| {
            let mut edges: BTreeSet<String> = references(r)
                .into_iter()
                .map(|(target, _)| target)
                .chain(depends_on(r))
                .filter(|target| ids.contains(target))
                .collect();
            edges.remove(id);
            (id.clone(), edges)
        })
        .collect()
}

/// A dependency cycle, if the graph has one (as the list of logical ids around it).
pub fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Fresh,
        Open,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(node).copied().unwrap_or(Mark::Fresh) {
            Mark::Done => return None,
            Mark::Open => {
                let start = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            Mark::Fresh => {}
        }
        marks.insert(node, Mark::Open);
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        let mut path = Vec::new();
        if let Some(c) = visit(node, graph, &mut marks, &mut path) {
            return Some(c);
        }
    }
    None
}

/// Whether an IAM resource value stays within the allowed wildcards: literal ARNs without
/// `*`, `Fn::Sub` ARNs without `*` or ending in `/POST/@connections/*`, and `Ref`/`Fn::GetAtt`
/// of one resource (a log group's `Arn` ends in `:*`, which covers only its streams).
fn allowed_resource(resource: &Value) -> bool {
    match resource {
        Value::String(s) => !s.contains('*'),
        Value::Object(map) => match map.get("Fn::Sub") {
            Some(Value::String(s)) => !s.contains('*') || s.ends_with("/POST/@connections/*"),
            Some(_) => false,
            None => map.contains_key("Ref") || map.contains_key("Fn::GetAtt"),
        },
        _ => false,
    }
}

/// A Bedrock foundation model in any region (where an inference profile routes), granted
/// only through that profile: the statement names the profile in a `StringEquals` on
/// `bedrock:InferenceProfileArn`.
fn model_through_its_profile(statement: &Value, resource: &Value) -> bool {
    let any_region_model = resource
        .get("Fn::Sub")
        .and_then(Value::as_str)
        .is_some_and(|s| {
            s.starts_with("arn:${AWS::Partition}:bedrock:*::foundation-model/")
                && s.matches('*').count() == 1
        });
    let tied = statement
        .pointer("/Condition/StringEquals/bedrock:InferenceProfileArn")
        .and_then(|v| v.get("Fn::Sub"))
        .and_then(Value::as_str)
        .is_some_and(|s| s.contains(":inference-profile/") && !s.contains('*'));
    any_region_model && tied
}

/// No IAM statement has a `*` action or a `*` resource beyond `@connections/*`, log streams
/// and the registry login (which has no other resource).
pub fn check_iam(t: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(a)) = map.get("Statement") {
                    for s in a {
                        // A statement may be wrapped in Fn::If.
                        match s.get("Fn::If").and_then(Value::as_array) {
                            Some(branches) => out.extend(
                                branches
                                    .iter()
                                    .skip(1)
                                    .filter(|b| b.get("Effect").is_some()),
                            ),
                            None => out.push(s),
                        }
                    }
                }
                map.values().for_each(|v| collect(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    for (id, r) in section(t, "Resources") {
        statements.clear();
        collect(r, &mut statements);
        for s in &statements {
            let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("?");
            let actions: Vec<&Value> = match s.get("Action") {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            };
            for a in &actions {
                if a.as_str().is_none_or(|a| a.contains('*')) {
                    problems.push(problem(format!(
                        "{id}/{sid}: wildcard or non-literal action {a}"
                    )));
                }
            }
            let resources: Vec<&Value> = match s.get("Resource") {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            };
            // `ecr:GetAuthorizationToken` has no resource-level permission: `*` is its only
            // resource, and a statement granting it may grant nothing else.
            let login_only =
                actions.len() == 1 && actions[0].as_str() == Some("ecr:GetAuthorizationToken");
            for r in resources {
                if login_only && r.as_str() == Some("*") {
                    continue;
                }
                if !allowed_resource(r) && !model_through_its_profile(s, r) {
                    problems.push(problem(format!("{id}/{sid}: wildcard resource {r}")));
                }
            }
            if s.get("NotAction").is_some() || s.get("NotResource").is_some() {
                problems.push(problem(format!("{id}/{sid}: NotAction/NotResource")));
            }
        }
    }
    problems
}

/// Structural rules cfn-lint does not check: every API is a WebSocket API, and every stage
/// has a deployment that exists.
pub fn check_structure(t: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (id, r) in section(t, "Resources") {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        let props = r.get("Properties");
        match ty {
            "AWS::ApiGatewayV2::Api" => {
                let protocol = props
                    .and_then(|p| p.get("ProtocolType"))
                    .and_then(Value::as_str);
                if protocol != Some("WEBSOCKET") {
                    problems.push(problem(format!(
                        "{id}: ProtocolType is {protocol:?}, not WEBSOCKET"
                    )));
                }
            }
            "AWS::ApiGatewayV2::Stage" => {
                let deployment = props.and_then(|p| p.get("DeploymentId"));
                let auto = props.and_then(|p| p.get("AutoDeploy")) == Some(&Value::Bool(true));
                let ok = auto
                    || deployment.is_some_and(|d| {
                        references(d).iter().any(|(target, _)| {
                            t.pointer(&format!("/Resources/{target}/Type"))
                                .and_then(Value::as_str)
                                == Some("AWS::ApiGatewayV2::Deployment")
                        })
                    });
                if !ok {
                    problems.push(problem(format!("{id}: stage without a deployment")));
                }
            }
            _ => {}
        }
    }
    problems
}

/// Who may connect: a `$connect` route without an authorizer is refused unless `access` is
/// `Public` (an open API spends the operator's model key, so it must be a choice), and a
/// custom authorizer must be an authorizer of the template.
pub fn check_access(t: &Value, access: Access) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (id, r) in section(t, "Resources") {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let props = r.get("Properties");
        if props
            .and_then(|p| p.get("RouteKey"))
            .and_then(Value::as_str)
            != Some(Route::Connect.key())
        {
            continue;
        }
        let kind = props
            .and_then(|p| p.get("AuthorizationType"))
            .and_then(Value::as_str)
            .unwrap_or("NONE");
        match kind {
            "NONE" if access != Access::Public => problems.push(problem(format!(
                "{id}: $connect has no authorizer, and the contract does not say Access::Public"
            ))),
            "CUSTOM" => {
                let authorizer = props.and_then(|p| p.get("AuthorizerId"));
                let ok = authorizer.is_some_and(|a| {
                    references(a).iter().any(|(target, _)| {
                        t.pointer(&format!("/Resources/{target}/Type"))
                            .and_then(Value::as_str)
                            == Some("AWS::ApiGatewayV2::Authorizer")
                    })
                });
                if !ok {
                    problems.push(problem(format!(
                        "{id}: AuthorizationType CUSTOM without an authorizer of this template"
                    )));
                }
            }
            _ => {}
        }
    }
    problems
}

/// Every check above; empty when the template is sound.
pub fn check_all(t: &Value) -> Vec<Problem> {
    let mut problems = check_references(t);
    if let Some(cycle) = find_cycle(&dependency_graph(t)) {
        problems.push(problem(format!("dependency cycle: {}", cycle.join(" → "))));
    }
    problems.extend(check_iam(t));
    problems.extend(check_structure(t));
    problems.extend(check_access(t, API_ACCESS));
    problems
}

#[cfg(test)]
mod tests;
