//! Everything checked before anything is uploaded, as pure decisions over what was read:
//! the AWS CLI's configuration, the template's parameters, the overrides given, and the
//! packaged artifacts. Each refusal names its fix.
//!
//! What both stacks check is here (the AWS CLI's configuration, the template's parameters and
//! the overrides); [`chat`] adds the packaged artifacts, [`relay`] the secret and the image.

pub mod chat;
pub mod relay;

use std::collections::BTreeMap;

use streamgate_contract::arch::{Architecture, ElfError, Machine};

pub use chat::{ArtifactState, Found, Inputs, check};
pub use relay::{RelayInputs, RelayRefusal, check_relay};

/// What `aws configure list` reports: whether credentials and a region were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliConfig {
    /// Where the access key comes from (`env`, `shared-credentials-file`, `sso`, ...), if any.
    pub credentials: Option<String>,
    /// The region, if any.
    pub region: Option<String>,
}

/// Reads `aws configure list`'s table (`Name Value Type Location` rows).
pub fn parse_configure_list(output: &str) -> CliConfig {
    let mut config = CliConfig::default();
    for line in output.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [name, value, kind, ..] = cols.as_slice() else {
            continue;
        };
        let set = *value != "<not" && *value != "<not set>" && *value != "None";
        match *name {
            "access_key" if set => config.credentials = Some((*kind).to_owned()),
            "region" if set => config.region = Some((*value).to_owned()),
            _ => {}
        }
    }
    config
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its default, if any.
    pub default: Option<String>,
    /// The values it allows, if restricted.
    pub allowed: Option<Vec<String>>,
}

/// The parameters of a template (its `Parameters` section, in JSON form).
pub fn parameters(template: &serde_json::Value) -> BTreeMap<String, Parameter> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    template["Parameters"]
        .as_object()
        .map(|ps| {
            ps.iter()
                .map(|(name, p)| {
                    let allowed = p["AllowedValues"]
                        .as_array()
                        .map(|vs| vs.iter().filter_map(text).collect());
                    let param = Parameter {
                        default: text(&p["Default"]),
                        allowed,
                    };
                    (name.clone(), param)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Why the deploy does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credentials.
    #[error(
        "no AWS credentials: run `aws configure` (or `aws sso login --profile NAME` and set AWS_PROFILE), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    /// No region.
    #[error(
        "no AWS region: set AWS_DEFAULT_REGION (e.g. AWS_DEFAULT_REGION=eu-west-1), or run `aws configure set region REGION`"
    )]
    NoRegion,
    /// An override is not `Key=Value`.
    #[error("{0:?} is not a parameter override: write Key=Value (e.g. LlmProvider=openai)")]
    NotAnOverride(String),
    /// An override names no parameter of the template.
    #[error("the template has no parameter {name:?}; it has: {known}")]
    UnknownParameter {
        /// The name given.
        name: String,
        /// The template's parameters.
        known: String,
    },
    /// An override's value is not allowed.
    #[error("{name}={value} is not allowed; {name} takes one of: {allowed}")]
    NotAllowed {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What it allows.
        allowed: String,
    },
    /// A provider that needs a key, without the key's secret.
    #[error(
        "LlmProvider={provider} needs an API key: store it with `just secret NAME` and pass LlmApiKeySecretArn=<the ARN it prints>"
    )]
    NoSecret {
        /// The provider.
        provider: String,
    },
    /// Bedrock without a model.
    #[error(
        "LlmProvider=bedrock needs LlmModel: a model id (anthropic.claude-3-5-haiku-20241022-v1:0) or an inference profile"
    )]
    NoBedrockModel,
    /// A Bedrock inference profile without the model it routes to (its role would be
    /// granted the profile but not the model, and every answer refused).
    #[error(
        "LlmModel={profile} is an inference profile: pass LlmModelRoutesTo={model} (the model it routes to), so the function may invoke it"
    )]
    ProfileWithoutModel {
        /// The profile.
        profile: String,
        /// The model it presumably routes to.
        model: String,
    },
    /// An artifact is missing.
    #[error("{binary} is not packaged ({path}): run `just package {arch}`")]
    Missing {
        /// The binary.
        binary: &'static str,
        /// Where it should be.
        path: String,
        /// The architecture to package for.
        arch: &'static str,
    },
    /// An artifact is not an ELF executable.
    #[error("{path} is not a Linux executable ({error}): run `just package {arch}`")]
    NotExecutable {
        /// Where it is.
        path: String,
        /// What is wrong.
        error: ElfError,
        /// The architecture to package for.
        arch: &'static str,
    },
    /// An artifact was built for the other architecture.
    #[error(
        "{binary} is built for {found} but the stack deploys {arch} (Architecture={arch}): run `just package {arch}`, or pass Architecture={found}"
    )]
    WrongArchitecture {
        /// The binary.
        binary: &'static str,
        /// Its machine.
        found: Machine,
        /// The architecture deployed.
        arch: &'static str,
    },
    /// An artifact needs a newer glibc than Lambda's.
    #[error(
        "{binary} needs glibc {major}.{minor}, newer than provided.al2023's 2.34: package it with `just package` (cargo-lambda links for Lambda's glibc)"
    )]
    GlibcTooNew {
        /// The binary.
        binary: &'static str,
        /// glibc major.
        major: u32,
        /// glibc minor.
        minor: u32,
    },
    /// An artifact is older than the sources.
    #[error("{binary} is older than {newer}: run `just package {arch}` again")]
    Stale {
        /// The binary.
        binary: &'static str,
        /// The newer source file.
        newer: String,
        /// The architecture to package for.
        arch: &'static str,
    },
}

/// The parameter values to deploy: the overrides, checked against the template.
pub fn overrides(
    given: &[String],
    parameters: &BTreeMap<String, Parameter>,
) -> Result<BTreeMap<String, String>, Vec<Refusal>> {
    let mut values = BTreeMap::new();
    let mut refusals = Vec::new();
    for o in given {
        let Some((name, value)) = o.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            refusals.push(Refusal::NotAnOverride(o.clone()));
            continue;
        };
        match parameters.get(name) {
            None => refusals.push(Refusal::UnknownParameter {
                name: name.to_owned(),
                known: parameters.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
            Some(Parameter {
                allowed: Some(allowed),
                ..
            }) if !allowed.iter().any(|a| a == value) => refusals.push(Refusal::NotAllowed {
                name: name.to_owned(),
                value: value.to_owned(),
                allowed: allowed.join(", "),
            }),
            Some(_) => {
                values.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    if refusals.is_empty() {
        Ok(values)
    } else {
        Err(refusals)
    }
}

/// The value a parameter will have: its override, else its default.
pub fn effective(
    name: &str,
    values: &BTreeMap<String, String>,
    parameters: &BTreeMap<String, Parameter>,
) -> Option<String> {
    values
        .get(name)
        .cloned()
        .or_else(|| parameters.get(name).and_then(|p| p.default.clone()))
}

/// The architecture the stack will run: `Architecture`'s override or default.
pub fn architecture(
    values: &BTreeMap<String, String>,
    parameters: &BTreeMap<String, Parameter>,
) -> Architecture {
    effective("Architecture", values, parameters)
        .and_then(|a| Architecture::parse(&a))
        .unwrap_or(Architecture::Arm64)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! What the checks' tests share: `aws configure list` outputs and a template's parameters.
    use super::*;

    pub(crate) const LIST_EMPTY: &str =
        "      Name                    Value             Type    Location
      ----                    -----             ----    --------
   profile                <not set>             None    None
access_key                <not set>             None    None
secret_key                <not set>             None    None
    region                <not set>             None    None
";

    pub(crate) const LIST_SET: &str =
        "      Name                    Value             Type    Location
      ----                    -----             ----    --------
   profile                <not set>             None    None
access_key     ****************WXYZ              env    
secret_key     ****************abcd              env    
    region                eu-west-1              env    ['AWS_REGION', 'AWS_DEFAULT_REGION']
";

    pub(crate) fn params() -> BTreeMap<String, Parameter> {
        let t = serde_json::json!({"Parameters": {
            "Architecture": {"Type": "String", "Default": "arm64", "AllowedValues": ["arm64", "x86_64"]},
            "LlmProvider": {"Type": "String", "Default": "echo", "AllowedValues": ["echo", "openai", "anthropic", "bedrock"]},
            "LlmModel": {"Type": "String", "Default": ""},
            "LlmModelRoutesTo": {"Type": "String", "Default": ""},
            "LlmApiKeySecretArn": {"Type": "String", "Default": ""},
            "ConnectionTtlSeconds": {"Type": "Number", "Default": 10800},
        }});
        parameters(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn the_cli_table_is_read() {
        assert_eq!(parse_configure_list(LIST_EMPTY), CliConfig::default());
        assert_eq!(
            parse_configure_list(LIST_SET),
            CliConfig {
                credentials: Some("env".into()),
                region: Some("eu-west-1".into())
            }
        );
    }
}
