//! Resolving a template's intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`,
//! `Fn::If` with conditions, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Base64`,
//! `Fn::GetAZs`) against parameter values, local pseudo-parameters and local physical names.
//! Pure: the same template and values always resolve to the same result.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

mod names;

pub use names::Pseudo;

/// Marks `Ref: AWS::NoValue` until the property holding it is dropped.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

/// Resolves values of one template.
pub struct Resolver<'a> {
    template: &'a Value,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    /// The local API id (what `Ref` of the WebSocket API gives).
    pub api_id: String,
    /// The pseudo-parameters.
    pub pseudo: Pseudo,
    /// Resources whose local names are being worked out, innermost last: a name that refers
    /// back to a resource on this chain is a circular reference (found by fuzzing: a
    /// function whose `FunctionName` is `!Ref` itself overflowed the stack).
    naming: std::sync::Mutex<Vec<String>>,
    /// Local names already worked out: each is resolved once, however often it is named
    /// (names that each refer to the next twice would otherwise take 2^depth steps).
    names: std::sync::Mutex<BTreeMap<String, Result<String, String>>>,
}

/// The longest text a value may resolve to (a template is at most 1 MB, so a longer one can
/// only come from references that multiply: refused, not built).
pub const MAX_RESOLVED_BYTES: usize = 1024 * 1024;

/// `text`, unless it is longer than [`MAX_RESOLVED_BYTES`].
pub(super) fn capped(text: String, what: &str) -> Result<String, String> {
    if text.len() > MAX_RESOLVED_BYTES {
        return Err(format!(
            "{what} resolves to more than {MAX_RESOLVED_BYTES} bytes (references that multiply?)"
        ));
    }
    Ok(text)
}

impl<'a> Resolver<'a> {
    /// A resolver over `template` with the given parameter values (others take their
    /// defaults; one with neither is an error, as is a value outside `AllowedValues`).
    pub fn new(
        template: &'a Value,
        given: &BTreeMap<String, String>,
        pseudo: Pseudo,
        api_id: &str,
    ) -> Result<Resolver<'a>, Vec<String>> {
        let mut problems = Vec::new();
        let mut parameters = BTreeMap::new();
        let declared = template["Parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in given.keys() {
            if !declared.contains_key(name) {
                problems.push(format!(
                    "--parameter {name}: the template declares no such parameter"
                ));
            }
        }
        for (name, spec) in &declared {
            let value = match given.get(name) {
                Some(v) => Some(v.clone()),
                None => match &spec["Default"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                },
            };
            let Some(value) = value else {
                problems.push(format!(
                    "parameter {name} has no default: pass --parameter {name}=VALUE"
                ));
                continue;
            };
            if let Some(allowed) = spec["AllowedValues"].as_array() {
                let allowed: Vec<String> = allowed
                    .iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
                    .collect();
                if !allowed.contains(&value) {
                    problems.push(format!(
                        "parameter {name}={value:?} is not one of {allowed:?}"
                    ));
                }
            }
            let resolved = if spec["Type"]
                .as_str()
                .is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"))
            {
                json!(value.split(',').map(str::trim).collect::<Vec<_>>())
            } else {
                json!(value)
            };
            parameters.insert(name.clone(), resolved);
        }
        let mut resolver = Resolver {
            template,
            parameters,
            conditions: BTreeMap::new(),
            api_id: api_id.to_owned(),
            pseudo,
            naming: std::sync::Mutex::new(Vec::new()),
            names: std::sync::Mutex::new(BTreeMap::new()),
        };
        if let Some(conditions) = template["Conditions"].as_object() {
            for name in conditions.keys() {
                match resolver.condition(name, &mut Vec::new()) {
                    Ok(v) => {
                        resolver.conditions.insert(name.clone(), v);
                    }
                    Err(e) => problems.push(format!("condition {name}: {e}")),
                }
            }
        }
        if problems.is_empty() {
            Ok(resolver)
        } else {
            Err(problems)
        }
    }

    /// Whether the resource `logical_id` exists (its `Condition`, if any, holds).
    pub fn exists(&self, logical_id: &str) -> bool {
        match self.template["Resources"][logical_id]["Condition"].as_str() {
            Some(c) => self.conditions.get(c).copied().unwrap_or(false),
            None => self.template["Resources"][logical_id].is_object(),
        }
    }

    /// The value of parameter `name`.
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.parameters.get(name)
    }

    fn condition(&self, name: &str, seen: &mut Vec<String>) -> Result<bool, String> {
        if let Some(v) = self.conditions.get(name) {
            return Ok(*v);
        }
        if seen.iter().any(|s| s == name) {
            return Err(format!(
                "conditions refer to each other in a loop at {name}"
            ));
        }
        seen.push(name.to_owned());
        let def = &self.template["Conditions"][name];
        if def.is_null() {
            return Err(format!("no condition named {name}"));
        }
        self.truth(def, seen)
    }

    fn truth(&self, v: &Value, seen: &mut Vec<String>) -> Result<bool, String> {
        let Some((f, args)) = single(v) else {
            return Err(format!("not a condition function: {v}"));
        };
        match f {
            "Fn::Equals" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or("Fn::Equals takes two values")?;
                Ok(scalar(&self.resolve(&a[0])?) == scalar(&self.resolve(&a[1])?))
            }
            "Fn::Not" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 1)
                    .ok_or("Fn::Not takes one condition")?;
                Ok(!self.truth(&a[0], seen)?)
            }
            "Fn::And" | "Fn::Or" => {
                let a = args.as_array().ok_or("Fn::And/Fn::Or take a list")?;
                let mut values = Vec::new();
                for c in a {
                    values.push(self.truth(c, seen)?);
                }
                Ok(if f == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Condition" => self.condition(args.as_str().ok_or("Condition takes a name")?, seen),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    /// Resolves every intrinsic in `v`; `Ref: AWS::NoValue` drops the property or item.
    pub fn resolve(&self, v: &Value) -> Result<Value, String> {
        let out = self.resolve_inner(v)?;
        Ok(strip_no_value(out).unwrap_or(Value::Null))
    }

    fn resolve_inner(&self, v: &Value) -> Result<Value, String> {
        if let Some((f, args)) = single(v)
            && (f == "Ref" || f.starts_with("Fn::"))
        {
            return self.function(f, args);
        }
        Ok(match v {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve_inner(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.resolve_inner(v)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn function(&self, f: &str, args: &Value) -> Result<Value, String> {
        match f {
            "Ref" => self.reference(args.as_str().ok_or("Ref takes a name")?),
            "Fn::GetAtt" => {
                let (resource, attribute) = match args {
                    Value::Array(a) if a.len() == 2 => (
                        a[0].as_str().ok_or("Fn::GetAtt takes names")?.to_owned(),
                        scalar(&self.resolve(&a[1])?),
                    ),
                    Value::String(s) => match s.split_once('.') {
                        Some((r, a)) => (r.to_owned(), a.to_owned()),
                        None => return Err(format!("Fn::GetAtt {s}: expected Resource.Attribute")),
                    },
                    _ => return Err("Fn::GetAtt takes [Resource, Attribute]".into()),
                };
                self.attribute(&resource, &attribute)
            }
            "Fn::Sub" => {
                let (text, vars) = match args {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(a) if a.len() == 2 => (
                        a[0].as_str().ok_or("Fn::Sub takes a string")?.to_owned(),
                        self.resolve(&a[1])?
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    _ => return Err("Fn::Sub takes a string or [string, variables]".into()),
                };
                self.substitute(&text, &vars)
                    .and_then(|t| capped(t, "Fn::Sub"))
                    .map(Value::String)
            }
            "Fn::Join" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or("Fn::Join takes [delimiter, list]")?;
                let delimiter = scalar(&self.resolve(&a[0])?);
                let list = self.resolve(&a[1])?;
                let items = list.as_array().ok_or("Fn::Join takes a list")?;
                let mut joined = String::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        joined.push_str(&delimiter);
                    }
                    joined.push_str(&scalar(item));
                    if joined.len() > MAX_RESOLVED_BYTES {
                        break;
                    }
                }
                Ok(json!(capped(joined, "Fn::Join")?))
            }
            "Fn::Select" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or("Fn::Select takes [index, list]")?;
                let index: usize = scalar(&self.resolve(&a[0])?)
                    .parse()
                    .map_err(|_| "Fn::Select: the index is not a number")?;
                let list = self.resolve(&a[1])?;
                list.as_array()
                    .and_then(|l| l.get(index).cloned())
                    .ok_or_else(|| format!("Fn::Select: no item {index}"))
            }
            "Fn::Split" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or("Fn::Split takes [delimiter, string]")?;
                let delimiter = scalar(&self.resolve(&a[0])?);
                let text = scalar(&self.resolve(&a[1])?);
                Ok(json!(text.split(delimiter.as_str()).collect::<Vec<_>>()))
            }
            "Fn::If" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 3)
                    .ok_or("Fn::If takes [condition, then, else]")?;
                let name = a[0].as_str().ok_or("Fn::If takes a condition name")?;
                let holds = self
                    .conditions
                    .get(name)
                    .copied()
                    .ok_or_else(|| format!("Fn::If: no condition named {name}"))?;
                self.resolve_inner(if holds { &a[1] } else { &a[2] })
            }
            "Fn::FindInMap" => {
                let a = args
                    .as_array()
                    .filter(|a| a.len() == 3)
                    .ok_or("Fn::FindInMap takes three keys")?;
                let keys: Vec<String> = a
                    .iter()
                    .map(|k| self.resolve(k).map(|v| scalar(&v)))
                    .collect::<Result<_, _>>()?;
                let found = &self.template["Mappings"][&keys[0]][&keys[1]][&keys[2]];
                if found.is_null() {
                    return Err(format!("Fn::FindInMap: nothing at {keys:?}"));
                }
                Ok(found.clone())
            }
            "Fn::Base64" => Ok(json!(
                base64::engine::general_purpose::STANDARD.encode(scalar(&self.resolve(args)?))
            )),
            "Fn::GetAZs" => Ok(json!(
                ["a", "b", "c"]
                    .iter()
                    .map(|z| format!("{}{z}", self.pseudo.region))
                    .collect::<Vec<_>>()
            )),
            other => Err(format!("{other} is not emulated")),
        }
    }

    fn reference(&self, name: &str) -> Result<Value, String> {
        let p = &self.pseudo;
        Ok(match name {
            "AWS::NoValue" => json!(NO_VALUE),
            "AWS::Region" => json!(p.region),
            "AWS::AccountId" => json!(p.account_id),
            "AWS::StackName" => json!(p.stack_name),
            "AWS::StackId" => json!(format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                p.region, p.account_id, p.stack_name
            )),
            "AWS::Partition" => json!("aws"),
            "AWS::URLSuffix" => json!("amazonaws.com"),
            "AWS::NotificationARNs" => json!([]),
            _ => {
                if let Some(v) = self.parameters.get(name) {
                    return Ok(v.clone());
                }
                let resource = &self.template["Resources"][name];
                if !resource.is_object() {
                    return Err(format!("Ref {name}: no parameter or resource by that name"));
                }
                json!(self.physical_id(name, resource)?)
            }
        })
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub: unclosed ${{ in {text:?}"))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&scalar(v));
            } else if let Some((resource, attribute)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(&scalar(&self.attribute(resource, attribute)?));
            } else {
                out.push_str(&scalar(&self.reference(name)?));
            }
            rest = &after[end + 1..];
            if out.len() > MAX_RESOLVED_BYTES {
                return capped(out, "Fn::Sub");
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `{"F": args}` with exactly one key.
fn single(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// A resolved value as text (strings as they are, others as JSON).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn strip_no_value(v: Value) -> Option<Value> {
    match v {
        Value::String(s) if s == NO_VALUE => None,
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(strip_no_value).collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| strip_no_value(v).map(|v| (k, v)))
                .collect(),
        )),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests;
