//! The chat stack's own checks: the packaged `bootstrap`s (present, built for the stack's
//! architecture, needing no glibc newer than Lambda's, newer than their sources) and a
//! provider's secret.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::{CliConfig, Parameter, Refusal, architecture, effective, overrides};
use crate::artifact::AL2023_GLIBC;
use streamgate_contract::arch::{Architecture, ElfError, Machine};

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
    pub fn is_current(
        &self,
        arch: Architecture,
        newest_source: Option<&(PathBuf, SystemTime)>,
    ) -> bool {
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

/// The model a Bedrock system-defined inference profile routes to: the id after its
/// geography prefix (`us.`, `eu.`, `apac.`, `us-gov.`, `global.`, ...), or `None` for a
/// model id (`anthropic.claude-...`, `amazon.nova-...`).
pub fn inference_profile_model(model: &str) -> Option<&str> {
    let (prefix, rest) = model.split_once('.')?;
    let geography = ["us", "eu", "apac", "us-gov", "ca", "jp", "au", "global"];
    (geography.contains(&prefix) && rest.contains('.')).then_some(rest)
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
    if provider == "bedrock" {
        // No key: the function's role is granted the model.
        let model = effective("LlmModel", &values, &inputs.parameters).unwrap_or_default();
        let routes_to =
            effective("LlmModelRoutesTo", &values, &inputs.parameters).unwrap_or_default();
        if model.trim().is_empty() {
            refusals.push(Refusal::NoBedrockModel);
        } else if let Some(base) = inference_profile_model(&model)
            && routes_to.trim().is_empty()
        {
            refusals.push(Refusal::ProfileWithoutModel {
                profile: model.clone(),
                model: base.to_owned(),
            });
        }
    } else if !provider.is_empty() && provider != "echo" && secret.trim().is_empty() {
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
                error: *error,
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
    use super::super::fixtures::*;
    use super::super::parse_configure_list;
    use super::*;
    use std::time::Duration;

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

        // Bedrock needs no secret, but a model, and a profile's model.
        assert!(matches!(
            &check(&inputs(LIST_SET, &["LlmProvider=bedrock"], vec![]))[..],
            [Refusal::NoBedrockModel]
        ));
        let model = "LlmModel=anthropic.claude-3-5-haiku-20241022-v1:0";
        assert!(check(&inputs(LIST_SET, &["LlmProvider=bedrock", model], vec![])).is_empty());
        let profile = "LlmModel=us.anthropic.claude-3-5-haiku-20241022-v1:0";
        let r = check(&inputs(LIST_SET, &["LlmProvider=bedrock", profile], vec![]));
        assert!(
            matches!(&r[..], [Refusal::ProfileWithoutModel { .. }]),
            "{r:?}"
        );
        assert!(
            r[0].to_string()
                .contains("LlmModelRoutesTo=anthropic.claude-3-5-haiku-20241022-v1:0"),
            "{}",
            r[0]
        );
        let routed = "LlmModelRoutesTo=anthropic.claude-3-5-haiku-20241022-v1:0";
        assert!(
            check(&inputs(
                LIST_SET,
                &["LlmProvider=bedrock", profile, routed],
                vec![]
            ))
            .is_empty()
        );

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
}
