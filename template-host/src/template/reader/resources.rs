//! The resources a template's API runs on: each `AWS::Lambda::Function` an integration
//! calls (runtime, code, architecture, and Lambda's rules for `Timeout`, `MemorySize` and
//! `Environment`), the `AWS::DynamoDB::Table`s, and the secrets parameters name.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Reader;
use crate::template::intrinsics::scalar;
use crate::template::model::{Code, FunctionDef, TableDef};
use crate::template::rules;

impl Reader<'_> {
    pub(super) fn function(&mut self, logical_id: &str) -> Option<FunctionDef> {
        let resource = self.template["Resources"][logical_id].clone();
        let name = match self.r.physical_id(logical_id, &resource) {
            Ok(n) => n,
            Err(e) => {
                self.problems.push(format!("{logical_id}: {e}"));
                return None;
            }
        };
        let id = logical_id;
        let package = scalar(&self.prop(id, &resource, "PackageType"));
        if package == "Image" {
            self.problems.push(format!(
                "{id}: container image functions are not emulated (code in a folder or a zip runs)"
            ));
            return None;
        }
        let runtime = scalar(&self.prop(id, &resource, "Runtime"));
        let family = match rules::runtime(&runtime) {
            Ok(f) => f,
            Err(e) => {
                self.problems.push(format!("{id}: {e}"));
                return None;
            }
        };
        let code = match self.prop(id, &resource, "Code") {
            Value::String(path) => Code::Path(self.base_dir.join(path)),
            Value::Object(m) if m.contains_key("S3Key") => Code::S3 {
                key: scalar(&m["S3Key"]),
            },
            Value::Object(m) if m.contains_key("ZipFile") && family != rules::Family::Provided => {
                Code::Inline(scalar(&m["ZipFile"]))
            }
            Value::Object(m) if m.contains_key("ZipFile") => {
                self.problems.push(format!(
                    "{id}: inline ZipFile code is for interpreted runtimes; a provided.* function needs a bootstrap"
                ));
                return None;
            }
            other => {
                self.problems.push(format!(
                    "{id}: Code {other} is not a local path or an S3 object"
                ));
                return None;
            }
        };
        let timeout = rules::timeout(&self.prop(id, &resource, "Timeout"));
        let memory = rules::memory(&self.prop(id, &resource, "MemorySize"));
        let (timeout, memory_mb) = match (timeout, memory) {
            (Ok(t), Ok(m)) => (t, m),
            (t, m) => {
                for e in [t.err(), m.err()].into_iter().flatten() {
                    self.problems.push(format!("{id}: {e}"));
                }
                return None;
            }
        };
        let architecture = match self.prop(id, &resource, "Architectures") {
            Value::Array(a) if !a.is_empty() => scalar(&a[0]),
            _ => "x86_64".to_owned(),
        };
        let mut environment = BTreeMap::new();
        if let Value::Object(vars) = &self.prop(id, &resource, "Environment")["Variables"] {
            for (k, v) in vars {
                environment.insert(k.clone(), scalar(v));
            }
        }
        if let Err(e) = rules::environment(&environment) {
            self.problems.push(format!("{id}: {e}"));
            return None;
        }
        let handler = scalar(&self.prop(id, &resource, "Handler"));
        let logging = logging_variables(&self.prop(id, &resource, "LoggingConfig"));
        Some(FunctionDef {
            logical_id: id.to_owned(),
            name,
            code,
            handler,
            runtime,
            family,
            architecture,
            metadata: resource["Metadata"].clone(),
            timeout,
            memory_mb,
            environment,
            logging,
        })
    }

    pub(super) fn tables(&mut self) -> Vec<TableDef> {
        let all: Vec<(String, Value)> = self.resources("AWS::DynamoDB::Table");
        let mut out = Vec::new();
        for (id, resource) in all {
            let name = match self.r.physical_id(&id, &resource) {
                Ok(n) => n,
                Err(e) => {
                    self.problems.push(format!("{id}: {e}"));
                    continue;
                }
            };
            let properties = self
                .r
                .resolve(&resource["Properties"])
                .unwrap_or(Value::Null);
            let ttl = &properties["TimeToLiveSpecification"];
            let ttl_attribute = (ttl["Enabled"] == true || ttl["Enabled"] == "true")
                .then(|| scalar(&ttl["AttributeName"]))
                .filter(|a| !a.is_empty());
            out.push(TableDef {
                logical_id: id,
                name,
                properties,
                ttl_attribute,
            });
        }
        out
    }

    pub(super) fn secret_arns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(params) = self.template["Parameters"].as_object() {
            for name in params.keys() {
                if let Some(Value::String(v)) = self.r.parameter(name)
                    && v.starts_with("arn:")
                    && v.contains(":secretsmanager:")
                {
                    out.push(v.clone());
                }
            }
        }
        out
    }
}

/// The variables Lambda sets from a function's `LoggingConfig` (none without one).
fn logging_variables(config: &Value) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let format = scalar(&config["LogFormat"]);
    if format.is_empty() {
        return vars;
    }
    if format.eq_ignore_ascii_case("json") {
        let level = match scalar(&config["ApplicationLogLevel"]) {
            l if l.is_empty() => "INFO".to_owned(),
            l => l,
        };
        vars.insert("AWS_LAMBDA_LOG_LEVEL".to_owned(), level);
    }
    vars.insert("AWS_LAMBDA_LOG_FORMAT".to_owned(), format);
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_config_becomes_lambdas_variables() {
        let json = logging_variables(
            &serde_json::json!({"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}),
        );
        assert_eq!(json["AWS_LAMBDA_LOG_FORMAT"], "JSON");
        assert_eq!(json["AWS_LAMBDA_LOG_LEVEL"], "WARN");
        let default_level = logging_variables(&serde_json::json!({"LogFormat": "JSON"}));
        assert_eq!(default_level["AWS_LAMBDA_LOG_LEVEL"], "INFO");
        let text = logging_variables(&serde_json::json!({"LogFormat": "Text"}));
        assert_eq!(text.get("AWS_LAMBDA_LOG_LEVEL"), None);
        assert!(logging_variables(&Value::Null).is_empty());
    }
}
