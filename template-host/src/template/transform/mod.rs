//! The stacks people already have, turned into the plain CloudFormation the reader reads:
//! SAM's resources (`AWS::Serverless-2016-10-31`: functions with their `Globals`, the
//! WebSocket API, simple tables) become the `AWS::Lambda::Function`, `AWS::ApiGatewayV2::*`
//! and `AWS::DynamoDB::Table` resources SAM itself would generate, and a CDK function's code
//! is found through its asset metadata. Pure: JSON in, JSON out, with what has no local
//! meaning listed once (never dropped silently, never a reason to refuse).

mod cdk;
mod sam_api;
mod sam_function;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// What a transform did besides rewriting: properties with no local meaning (reported once
/// at start-up) and problems that stop the template.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Transformed {
    /// One line per kind of thing left out, naming the resources.
    pub notes: Vec<String>,
    /// What cannot be served.
    pub problems: Vec<String>,
}

/// Collects "property P of resources A, B: why" once per property.
#[derive(Default)]
pub(crate) struct Ignored(BTreeMap<String, (Vec<String>, &'static str)>);

impl Ignored {
    pub(crate) fn add(&mut self, what: String, resource: &str, why: &'static str) {
        let entry = self.0.entry(what).or_insert_with(|| (Vec::new(), why));
        if !entry.0.iter().any(|r| r == resource) {
            entry.0.push(resource.to_owned());
        }
    }

    fn lines(self) -> Vec<String> {
        self.0
            .into_iter()
            .map(|(what, (resources, why))| {
                format!("{what} ({}): not emulated, {why}", resources.join(", "))
            })
            .collect()
    }
}

/// Whether the template asks for SAM's transform.
pub fn is_sam(template: &Value) -> bool {
    let names = |v: &Value| v.as_str() == Some(SAM_TRANSFORM);
    match &template["Transform"] {
        Value::Array(items) => items.iter().any(names),
        other => names(other),
    }
}

/// SAM's transform, by name.
pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Rewrites `template` in place: SAM resources (when it declares the transform) and CDK asset
/// paths.
pub fn apply(template: &mut Value) -> Transformed {
    let mut out = Transformed::default();
    let mut ignored = Ignored::default();
    let sam = is_sam(template);
    let globals = template["Globals"]["Function"].clone();
    let Some(resources) = template["Resources"].as_object_mut() else {
        return out;
    };
    let ids: Vec<String> = resources.keys().cloned().collect();
    let mut added = Map::new();
    for id in ids {
        let resource = resources.get_mut(&id).expect("listed above");
        let kind = resource["Type"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "AWS::Serverless::Function" if sam => {
                sam_function::function(&id, resource, &globals, &mut ignored, &mut out.problems)
            }
            "AWS::Serverless::SimpleTable" if sam => {
                sam_api::simple_table(&id, resource, &mut ignored)
            }
            "AWS::Serverless::WebSocketApi" if sam => {
                sam_api::websocket_api(&id, resource, &mut added, &mut ignored, &mut out.problems)
            }
            k if k.starts_with("AWS::Serverless::") && sam => {
                ignored.add(
                    k.to_owned(),
                    &id,
                    "the template host serves one WebSocket API and its functions and tables",
                );
            }
            k if k.starts_with("AWS::Serverless::") => out.problems.push(format!(
                "{id}: {k} needs `Transform: {SAM_TRANSFORM}` at the top of the template"
            )),
            "AWS::Lambda::Function" => cdk::asset_code(resource),
            _ => {}
        }
    }
    for (id, resource) in added {
        if resources.contains_key(&id) {
            out.problems.push(format!(
                "{id}: SAM would generate a resource with this logical id, and the template declares one"
            ));
        } else {
            resources.insert(id, resource);
        }
    }
    out.notes = ignored.lines();
    out
}

/// `base` with `over` laid on it as SAM lays a resource on `Globals`: maps merged key by key,
/// lists appended, anything else replaced.
pub(crate) fn merge_globals(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) if !is_intrinsic(b) && !is_intrinsic(o) => {
            let mut merged = b.clone();
            for (k, v) in o {
                let value = match b.get(k) {
                    Some(existing) => merge_globals(existing, v),
                    None => v.clone(),
                };
                merged.insert(k.clone(), value);
            }
            Value::Object(merged)
        }
        (Value::Array(b), Value::Array(o)) => {
            Value::Array(b.iter().chain(o.iter()).cloned().collect())
        }
        (_, Value::Null) => base.clone(),
        (_, o) => o.clone(),
    }
}

/// `{"Ref": ...}` or `{"Fn::...": ...}`: a value, not a map to merge.
fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

#[cfg(test)]
mod tests;
