//! CDK's functions: `cdk synth` writes each function's code as an asset folder under
//! `cdk.out` and names it in the resource's metadata (`aws:asset:path`, with
//! `aws:asset:property: Code`), while `Code` points at an S3 object that exists only once
//! deployed. Here `Code` becomes that folder (relative to the template, as `cdk.out` lays
//! it out), so no `--artifacts` is needed.

use serde_json::{Value, json};

pub(super) fn asset_code(resource: &mut Value) {
    let metadata = &resource["Metadata"];
    let Some(path) = metadata["aws:asset:path"].as_str() else {
        return;
    };
    if metadata["aws:asset:property"].as_str().unwrap_or("Code") != "Code" {
        return;
    }
    let path = path.to_owned();
    resource["Properties"]["Code"] = json!(path);
}
