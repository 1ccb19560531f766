//! Everything checked before anything is uploaded, as pure decisions over what was read:
//! the AWS CLI's configuration, the template's parameters, the overrides given, and the
//! packaged artifacts. Each refusal names its fix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::artifact::{AL2023_GLIBC, Arch, ElfError, Machine};

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

/// The state of one function's artifact.
#[derive(Debug, Clone)]
pub struct ArtifactState {
    /// The cargo binary.
    pub binary: &'static str,
    /// Where its `bootstrap` should be.
    pub path: PathBuf,
    /// What was found there (`None`: no file).
    pub found: Option<Found>,
}

impl ArtifactState {
    /// Whether this `bootstrap` is built for `arch` and no older than `newest_source`, so
    /// packaging again would build the same thing.
    pub fn is_current(&self, arch: Arch, newest_source: Option<&(PathBuf, SystemTime)>) -> bool {
        self.found.as_ref().is_some_and(|f| {
            f.machine.as_ref().is_ok_and(|m| *m == arch.machine())
                && newest_source.is_none_or(|(_, changed)| *changed <= f.modified)
        })
    }
}

/// A `bootstrap` on disk.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its ELF machine.
    pub machine: Result<Machine, ElfError>,
    /// The newest glibc version it needs.
    pub glibc: Option<(u32, u32)>,
    /// When it was written.
    pub modified: SystemTime,
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The AWS CLI's view of credentials and region.
    pub cli: CliConfig,
    /// The template's parameters.
    pub parameters: BTreeMap<String, Parameter>,
    /// `Key=Value` overrides as given.
    pub overrides: Vec<String>,
    /// The artifacts of every contract function.
    pub artifacts: Vec<ArtifactState>,
    /// The newest source file the artifacts are built from, and when it changed.
    pub newest_source: Option<(PathBuf, SystemTime)>,
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

/// Why `deploy-relay` does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayRefusal {
    /// No credentials, no region, or a bad override: as for the chat stack.
    #[error("{0}")]
    Common(Refusal),
    /// No OpenAI key secret, and no deployed stack that has one.
    #[error(
        "the relay needs the OpenAI key as a secret: store it with `just secret openai-key < key.txt` and pass OpenAiKeySecretArn=<the ARN it prints>"
    )]
    NoOpenAiSecret,
    /// The secret is not a Secrets Manager ARN (its value is never shown: it may be the key).
    #[error(
        "OpenAiKeySecretArn is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx): pass the ARN `just secret` prints, never the key itself"
    )]
    NotASecretArn,
    /// The secret is in another region than the stack.
    #[error(
        "the secret is in {secret_region} but the stack deploys to {region}: store the key in {region} (`AWS_DEFAULT_REGION={region} just secret NAME`)"
    )]
    SecretElsewhere {
        /// The secret's region.
        secret_region: String,
        /// The deploy region.
        region: String,
    },
    /// `ImageDigest` is not the user's to set.
    #[error("ImageDigest is set by deploy-relay from the image it pushes: leave it out")]
    DigestGiven,
    /// No image built.
    #[error("no relay image in target/image/oci: run `just image`")]
    NoImage,
    /// The image is not for the tasks' architecture.
    #[error(
        "the image in target/image/oci is linux/{0}, but the tasks run linux/arm64: run `just image`"
    )]
    WrongImageArchitecture(String),
    /// skopeo is missing.
    #[error(
        "skopeo pushes the image and is not installed: apt-get install skopeo (or `just setup`)"
    )]
    NoSkopeo,
}

/// What `deploy-relay` checks before anything is uploaded.
#[derive(Debug, Clone)]
pub struct RelayInputs {
    /// The AWS CLI's view of credentials and region.
    pub cli: CliConfig,
    /// The relay template's parameters.
    pub parameters: BTreeMap<String, Parameter>,
    /// `Key=Value` overrides as given.
    pub overrides: Vec<String>,
    /// The secret ARN the deployed stack already has, if it exists.
    pub deployed_secret: Option<String>,
    /// The architecture of the built image, if there is one.
    pub image_architecture: Option<String>,
    /// Whether skopeo runs.
    pub skopeo: bool,
}

/// Every reason not to deploy the relay; empty when everything is in order.
pub fn check_relay(inputs: &RelayInputs) -> Vec<RelayRefusal> {
    let mut refusals = Vec::new();
    if inputs.cli.credentials.is_none() {
        refusals.push(RelayRefusal::Common(Refusal::NoCredentials));
    }
    if inputs.cli.region.is_none() {
        refusals.push(RelayRefusal::Common(Refusal::NoRegion));
    }
    if let Err(r) = overrides(&inputs.overrides, &inputs.parameters) {
        refusals.extend(r.into_iter().map(RelayRefusal::Common));
    }
    // What was given, bad overrides aside (each is refused above once).
    let values: BTreeMap<String, String> = inputs
        .overrides
        .iter()
        .filter_map(|o| o.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if values.contains_key("ImageDigest") {
        refusals.push(RelayRefusal::DigestGiven);
    }
    match values
        .get("OpenAiKeySecretArn")
        .or(inputs.deployed_secret.as_ref())
        .filter(|s| !s.trim().is_empty())
    {
        None => refusals.push(RelayRefusal::NoOpenAiSecret),
        Some(arn) => {
            let parts: Vec<&str> = arn.split(':').collect();
            let shaped = parts.len() >= 7
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "secretsmanager"
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && parts[5] == "secret"
                && !parts[6].is_empty();
            if !shaped {
                refusals.push(RelayRefusal::NotASecretArn);
            } else if let Some(region) = &inputs.cli.region
                && parts[3] != region
            {
                refusals.push(RelayRefusal::SecretElsewhere {
                    secret_region: parts[3].to_owned(),
                    region: region.clone(),
                });
            }
        }
    }
    match inputs.image_architecture.as_deref() {
        None => refusals.push(RelayRefusal::NoImage),
        Some("arm64") => {}
        Some(other) => refusals.push(RelayRefusal::WrongImageArchitecture(other.to_owned())),
    }
    if !inputs.skopeo {
        refusals.push(RelayRefusal::NoSkopeo);
    }
    refusals
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
) -> Arch {
    effective("Architecture", values, parameters)
        .and_then(|a| Arch::parse(&a))
        .unwrap_or(Arch::Arm64)
}

/// Every reason not to deploy; empty when everything is in order.
pub fn check(inputs: &Inputs) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    if inputs.cli.credentials.is_none() {
        refusals.push(Refusal::NoCredentials);
    }
    if inputs.cli.region.is_none() {
        refusals.push(Refusal::NoRegion);
    }
    let values = match overrides(&inputs.overrides, &inputs.parameters) {
        Ok(v) => v,
        Err(mut r) => {
            refusals.append(&mut r);
            BTreeMap::new()
        }
    };
    let provider = effective("LlmProvider", &values, &inputs.parameters).unwrap_or_default();
    let secret = effective("LlmApiKeySecretArn", &values, &inputs.parameters).unwrap_or_default();
    if !provider.is_empty() && provider != "echo" && secret.trim().is_empty() {
        refusals.push(Refusal::NoSecret { provider });
    }
    let arch = architecture(&values, &inputs.parameters);
    for a in &inputs.artifacts {
        let path = a.path.display().to_string();
        let Some(found) = &a.found else {
            refusals.push(Refusal::Missing {
                binary: a.binary,
                path,
                arch: arch.name(),
            });
            continue;
        };
        match &found.machine {
            Err(error) => refusals.push(Refusal::NotExecutable {
                path,
                error: error.clone(),
                arch: arch.name(),
            }),
            Ok(m) if *m != arch.machine() => refusals.push(Refusal::WrongArchitecture {
                binary: a.binary,
                found: *m,
                arch: arch.name(),
            }),
            Ok(_) => {}
        }
        if let Some((major, minor)) = found.glibc.filter(|v| *v > AL2023_GLIBC) {
            refusals.push(Refusal::GlibcTooNew {
                binary: a.binary,
                major,
                minor,
            });
        }
        if let Some((source, changed)) = &inputs.newest_source
            && *changed > found.modified
        {
            refusals.push(Refusal::Stale {
                binary: a.binary,
                newer: source.display().to_string(),
                arch: arch.name(),
            });
        }
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIST_EMPTY: &str = "      Name                    Value             Type    Location
      ----                    -----             ----    --------
   profile                <not set>             None    None
access_key                <not set>             None    None
secret_key                <not set>             None    None
    region                <not set>             None    None
";

    const LIST_SET: &str = "      Name                    Value             Type    Location
      ----                    -----             ----    --------
   profile                <not set>             None    None
access_key     ****************WXYZ              env    
secret_key     ****************abcd              env    
    region                eu-west-1              env    ['AWS_REGION', 'AWS_DEFAULT_REGION']
";

    fn params() -> BTreeMap<String, Parameter> {
        let t = serde_json::json!({"Parameters": {
            "Architecture": {"Type": "String", "Default": "arm64", "AllowedValues": ["arm64", "x86_64"]},
            "LlmProvider": {"Type": "String", "Default": "echo", "AllowedValues": ["echo", "openai", "anthropic"]},
            "LlmApiKeySecretArn": {"Type": "String", "Default": ""},
            "ConnectionTtlSeconds": {"Type": "Number", "Default": 10800},
        }});
        parameters(&t)
    }

    fn artifact(machine: Machine, modified: SystemTime) -> ArtifactState {
        ArtifactState {
            binary: "streamgate-connect",
            path: "target/lambda/streamgate-connect/bootstrap".into(),
            found: Some(Found {
                machine: Ok(machine),
                glibc: Some((2, 28)),
                modified,
            }),
        }
    }

    fn inputs(cli: &str, overrides: &[&str], artifacts: Vec<ArtifactState>) -> Inputs {
        Inputs {
            cli: parse_configure_list(cli),
            parameters: params(),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            artifacts,
            newest_source: Some((
                "functions/core/src/lib.rs".into(),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            )),
        }
    }

    fn fresh() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(2000)
    }

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

    #[test]
    fn everything_in_order_gives_no_refusal() {
        let i = inputs(LIST_SET, &[], vec![artifact(Machine::Aarch64, fresh())]);
        assert_eq!(check(&i), vec![]);
    }

    #[test]
    fn each_problem_is_refused_with_its_fix() {
        let i = inputs(LIST_EMPTY, &[], vec![artifact(Machine::Aarch64, fresh())]);
        let r = check(&i);
        assert_eq!(r, vec![Refusal::NoCredentials, Refusal::NoRegion]);
        assert!(r[0].to_string().contains("aws configure"));
        assert!(r[1].to_string().contains("AWS_DEFAULT_REGION"));

        let i = inputs(
            LIST_SET,
            &["Architecture=x86_64"],
            vec![artifact(Machine::Aarch64, fresh())],
        );
        let r = check(&i);
        assert!(
            matches!(&r[..], [Refusal::WrongArchitecture { arch: "x86_64", .. }]),
            "{r:?}"
        );
        assert!(r[0].to_string().contains("just package x86_64"));

        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let r = check(&inputs(
            LIST_SET,
            &[],
            vec![artifact(Machine::Aarch64, old)],
        ));
        assert!(matches!(&r[..], [Refusal::Stale { .. }]), "{r:?}");
        assert!(r[0].to_string().contains("functions/core/src/lib.rs"));

        let mut missing = artifact(Machine::Aarch64, fresh());
        missing.found = None;
        let r = check(&inputs(LIST_SET, &[], vec![missing]));
        assert!(r[0].to_string().contains("just package arm64"), "{r:?}");

        let r = check(&inputs(LIST_SET, &["LlmProvider=openai"], vec![]));
        assert!(matches!(&r[..], [Refusal::NoSecret { .. }]), "{r:?}");
        assert!(r[0].to_string().contains("just secret"));
        assert!(
            check(&inputs(
                LIST_SET,
                &[
                    "LlmProvider=openai",
                    "LlmApiKeySecretArn=arn:aws:secretsmanager:eu-west-1:1:secret:k"
                ],
                vec![]
            ))
            .is_empty()
        );

        let r = check(&inputs(
            LIST_SET,
            &["Provider=openai", "LlmProvider=gpt", "oops"],
            vec![],
        ));
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(
            r[0].to_string().contains("LlmProvider"),
            "lists the known parameters: {}",
            r[0]
        );
        assert!(r[1].to_string().contains("echo, openai, anthropic"));
        assert!(r[2].to_string().contains("Key=Value"));

        let mut new_glibc = artifact(Machine::Aarch64, fresh());
        if let Some(f) = new_glibc.found.as_mut() {
            f.glibc = Some((2, 39));
        }
        let r = check(&inputs(LIST_SET, &[], vec![new_glibc]));
        assert!(
            matches!(
                &r[..],
                [Refusal::GlibcTooNew {
                    major: 2,
                    minor: 39,
                    ..
                }]
            ),
            "{r:?}"
        );
    }

    fn relay_inputs(overrides: &[&str]) -> RelayInputs {
        let t = serde_json::json!({"Parameters": {
            "ImageDigest": {"Type": "String", "Default": ""},
            "OpenAiKeySecretArn": {"Type": "String"},
            "DesiredCount": {"Type": "Number", "Default": "1"},
        }});
        RelayInputs {
            cli: parse_configure_list(LIST_SET),
            parameters: parameters(&t),
            overrides: overrides.iter().map(|o| o.to_string()).collect(),
            deployed_secret: None,
            image_architecture: Some("arm64".into()),
            skopeo: true,
        }
    }

    const SECRET: &str =
        "OpenAiKeySecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-Ab12Cd";

    #[test]
    fn the_relay_deploys_with_a_secret_an_arm64_image_and_skopeo() {
        assert_eq!(check_relay(&relay_inputs(&[SECRET])), vec![]);
        // An existing stack keeps its secret.
        let mut again = relay_inputs(&[]);
        again.deployed_secret =
            Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-Ab12Cd".into());
        assert_eq!(check_relay(&again), vec![]);
    }

    #[test]
    fn each_missing_piece_of_the_relay_is_named_before_any_upload() {
        let mut none = relay_inputs(&[]);
        none.cli = parse_configure_list(LIST_EMPTY);
        none.image_architecture = None;
        none.skopeo = false;
        let r = check_relay(&none);
        assert_eq!(
            r,
            vec![
                RelayRefusal::Common(Refusal::NoCredentials),
                RelayRefusal::Common(Refusal::NoRegion),
                RelayRefusal::NoOpenAiSecret,
                RelayRefusal::NoImage,
                RelayRefusal::NoSkopeo,
            ]
        );
        assert!(r[2].to_string().contains("just secret"));
        let elsewhere = check_relay(&relay_inputs(&[
            "OpenAiKeySecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:k-1",
        ]));
        assert!(
            matches!(&elsewhere[..], [RelayRefusal::SecretElsewhere { .. }]),
            "{elsewhere:?}"
        );
        let bad = check_relay(&relay_inputs(&["OpenAiKeySecretArn=sk-live-key"]));
        assert_eq!(bad, vec![RelayRefusal::NotASecretArn]);
        assert!(
            !bad[0].to_string().contains("sk-live-key"),
            "the value may be a key: never shown"
        );
        let digest = check_relay(&relay_inputs(&[SECRET, "ImageDigest=sha256:00"]));
        assert_eq!(digest, vec![RelayRefusal::DigestGiven]);
        let mut x86 = relay_inputs(&[SECRET]);
        x86.image_architecture = Some("amd64".into());
        assert_eq!(
            check_relay(&x86),
            vec![RelayRefusal::WrongImageArchitecture("amd64".into())]
        );
        let unknown = check_relay(&relay_inputs(&[SECRET, "Color=blue"]));
        assert!(matches!(
            &unknown[..],
            [RelayRefusal::Common(Refusal::UnknownParameter { .. })]
        ));
    }
}
