//! `AWS::Serverless::Function` → `AWS::Lambda::Function`, with `Globals.Function` laid
//! under it: `CodeUri` (a folder, a zip, or `s3://` / `{Bucket, Key}` after `sam package`)
//! becomes `Code`; what runs locally is kept; everything else is named once.

use serde_json::{Value, json};

use super::{Ignored, merge_globals};

/// Properties that keep their meaning locally, passed to `AWS::Lambda::Function` as they are.
const KEPT: &[&str] = &[
    "FunctionName",
    "Handler",
    "Runtime",
    "Architectures",
    "MemorySize",
    "Timeout",
    "Environment",
    "LoggingConfig",
    "PackageType",
    "Description",
];

/// Why a property has no local meaning (the generic reason for the rest).
fn why(property: &str) -> &'static str {
    match property {
        "Policies" | "Role" | "PermissionsBoundary" | "RolePath" => {
            "IAM is not enforced locally: the functions may call what their policies would refuse"
        }
        "Layers" => "layers are not mounted: code that imports from a layer will not find it",
        "Events" => {
            "event sources other than the WebSocket API do not run (invoke those paths yourself)"
        }
        "AutoPublishAlias"
        | "DeploymentPreference"
        | "VersionDescription"
        | "ProvisionedConcurrencyConfig" => {
            "versions, aliases and deployments are not emulated: $LATEST runs"
        }
        "Tracing" => "X-Ray is not emulated",
        "VpcConfig" => "the functions run on this machine's network",
        "ReservedConcurrentExecutions" => {
            "concurrency is the server's --max-concurrency per function"
        }
        "FunctionUrlConfig" => "function URLs are not served",
        "SnapStart" | "RuntimeManagementConfig" => "the machine's runtime runs as it is",
        "EphemeralStorage" => "the functions write to this machine's disk",
        _ => "it has no local meaning",
    }
}

pub(super) fn function(
    id: &str,
    resource: &mut Value,
    globals: &Value,
    ignored: &mut Ignored,
    problems: &mut Vec<String>,
) {
    let own = resource["Properties"].clone();
    let props = if globals.is_object() {
        merge_globals(globals, &own)
    } else {
        own
    };
    let mut out = serde_json::Map::new();
    let Value::Object(props) = props else {
        problems.push(format!("{id}: a function without Properties"));
        return;
    };
    for (name, value) in &props {
        if KEPT.contains(&name.as_str()) {
            out.insert(name.clone(), value.clone());
            continue;
        }
        match name.as_str() {
            "CodeUri" => match code(value) {
                Some(code) => {
                    out.insert("Code".into(), code);
                }
                None => problems.push(format!(
                    "{id}: CodeUri {value} is not a folder, a zip or an S3 location"
                )),
            },
            "InlineCode" => {
                out.insert("Code".into(), json!({"ZipFile": value}));
            }
            "ImageUri" | "ImageConfig" => {
                out.insert(name.clone(), value.clone());
            }
            other => ignored.add(other.to_owned(), id, why(other)),
        }
    }
    if !out.contains_key("Code") && !props.contains_key("ImageUri") {
        problems.push(format!(
            "{id}: the function has no CodeUri (nor InlineCode)"
        ));
    }
    resource["Type"] = json!("AWS::Lambda::Function");
    resource["Properties"] = Value::Object(out);
}

/// `CodeUri` as `Code`: a local path stays a path (the reader resolves it against the
/// template's folder); `s3://bucket/key` and `{Bucket, Key}` are S3 objects.
fn code(uri: &Value) -> Option<Value> {
    match uri {
        Value::String(s) => Some(match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/')?;
                json!({"S3Bucket": bucket, "S3Key": key})
            }
            None => json!(s),
        }),
        Value::Object(m) if m.contains_key("Bucket") && m.contains_key("Key") => {
            Some(json!({"S3Bucket": m["Bucket"], "S3Key": m["Key"]}))
        }
        // An intrinsic the reader resolves (`!Sub`, `!Ref`).
        Value::Object(_) => Some(uri.clone()),
        _ => None,
    }
}
