//! The voice relay's own checks: the OpenAI key's secret (an ARN, in the stack's region),
//! who may open sessions (an issuer and audience on a first deploy), the built image's
//! architecture, skopeo.

use std::collections::BTreeMap;

use super::{CliConfig, Parameter, Refusal, overrides};

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
    /// No issuer or audience on a first deploy.
    #[error(
        "the relay checks sign-in tokens: pass AuthIssuer=<the chat stack's AuthIssuer output> AuthAudience=<its UserPoolClientId output> (or any OIDC issuer and its client id)"
    )]
    NoIssuer,
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
    // A deployed stack keeps its values; a first deploy must name them.
    let first_deploy = inputs.deployed_secret.is_none();
    let given = |k: &str| values.get(k).is_some_and(|v| !v.trim().is_empty());
    if first_deploy && !(given("AuthIssuer") && given("AuthAudience")) {
        refusals.push(RelayRefusal::NoIssuer);
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{parameters, parse_configure_list};
    use super::*;

    /// The issuer and audience a first deploy names.
    const SIGN_IN: [&str; 2] = [
        "AuthIssuer=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd",
        "AuthAudience=client123",
    ];

    fn relay_inputs(overrides: &[&str]) -> RelayInputs {
        let overrides: Vec<&str> = overrides.iter().copied().chain(SIGN_IN).collect();
        let overrides = &overrides[..];
        let t = serde_json::json!({"Parameters": {
            "ImageDigest": {"Type": "String", "Default": ""},
            "OpenAiKeySecretArn": {"Type": "String"},
            "AuthIssuer": {"Type": "String"},
            "AuthAudience": {"Type": "String"},
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
        // An existing stack keeps its secret and its issuer.
        let mut again = relay_inputs(&[]);
        again.overrides.clear();
        again.deployed_secret =
            Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-Ab12Cd".into());
        assert_eq!(check_relay(&again), vec![]);
    }

    #[test]
    fn each_missing_piece_of_the_relay_is_named_before_any_upload() {
        let mut none = relay_inputs(&[]);
        none.overrides.clear();
        none.cli = parse_configure_list(LIST_EMPTY);
        none.image_architecture = None;
        none.skopeo = false;
        let r = check_relay(&none);
        assert_eq!(
            r,
            vec![
                RelayRefusal::Common(Refusal::NoCredentials),
                RelayRefusal::Common(Refusal::NoRegion),
                RelayRefusal::NoIssuer,
                RelayRefusal::NoOpenAiSecret,
                RelayRefusal::NoImage,
                RelayRefusal::NoSkopeo,
            ]
        );
        assert!(
            r[2].to_string()
                .contains("AuthIssuer=<the chat stack's AuthIssuer output>")
        );
        assert!(r[3].to_string().contains("just secret"));
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
