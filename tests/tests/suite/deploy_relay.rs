//! `streamgate-deploy deploy-relay`: what it refuses before any upload (with the real AWS CLI
//! and no account), and the order of a first deploy (stack without a service, push, stack with
//! the digest, wait), recorded from stand-ins for `aws` and `skopeo` that answer as a fresh
//! account would. No real account is reached: this proves everything up to the deploy calls.

use std::path::Path;
use std::process::Command;

use streamgate_tests::packaging::{aws_cli, scratch_dir};
use streamgate_tests::registry::built_image;
use streamgate_tests::{run, workspace_binary, workspace_root};

const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-Ab12Cd";

fn deploy_relay(
    path: &str,
    home: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = Command::new(workspace_binary("streamgate-deploy"));
    let cli = aws_cli(home);
    cmd.env_clear();
    for (k, v) in cli.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("PATH", path);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.arg("--workspace")
        .arg(workspace_root())
        .args(["deploy-relay", "voice"])
        .args(args);
    let out = run(&mut cmd);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_relay_refuses_with_the_fix_before_anything_is_uploaded() {
    built_image();
    let home = scratch_dir("deploy-relay-home");
    let venv = workspace_root().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (ok, _, err) = deploy_relay(&path, &home, &[], &[]);
    assert!(!ok);
    for needle in [
        "no AWS credentials",
        "no AWS region",
        "just secret",
        "nothing was uploaded",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDLOCAL"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        // Nothing answers here: the stack lookup fails fast, as for a stack that does not exist.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    let (ok, _, err) = deploy_relay(
        &path,
        &home,
        &creds,
        &["OpenAiKeySecretArn=sk-proj-pasted-key"],
    );
    assert!(!ok);
    assert!(err.contains("not a Secrets Manager secret ARN"), "{err}");
    assert!(
        !err.contains("sk-proj-pasted-key"),
        "a pasted key is never echoed: {err}"
    );
    let (ok, _, err) = deploy_relay(
        &path,
        &home,
        &creds,
        &[
            "OpenAiKeySecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:k-1",
            "ImageDigest=sha256:0",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("the secret is in us-east-1 but the stack deploys to eu-west-1"),
        "{err}"
    );
    assert!(err.contains("ImageDigest is set by deploy-relay"), "{err}");
    assert!(err.contains("nothing was uploaded"), "{err}");
}

/// A stand-in for the AWS CLI: appends its arguments to `$CALLS`, and answers as an account
/// where the stack is created by the first deploy.
const FAKE_AWS: &str = r#"#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as f:
    f.write("aws " + " ".join(args) + "\n")
state = os.environ["CALLS"] + ".deployed"
def out(s):
    print(s)
    sys.exit(0)
if args[:2] == ["configure", "list"]:
    out("access_key ****WXYZ env\nregion eu-west-1 env ['AWS_DEFAULT_REGION']")
if args[:2] == ["cloudformation", "describe-stacks"] and "--query" in args and "Parameters" in args[args.index("--query") + 1]:
    if not os.path.exists(state):
        print("An error occurred (ValidationError): Stack with id voice does not exist", file=sys.stderr)
        sys.exit(254)
    out("None")
if args[:2] == ["cloudformation", "deploy"]:
    open(state, "w").close()
    out("Successfully created/updated stack - voice")
if args[:2] == ["cloudformation", "describe-stacks"]:
    out(json.dumps([
        {"OutputKey": "RepositoryUri", "OutputValue": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/voice-repository-abc"},
        {"OutputKey": "ClusterName", "OutputValue": "voice-Cluster-xyz"},
        {"OutputKey": "WebSocketUrl", "OutputValue": "wss://d111.cloudfront.net/realtime"},
    ]))
if args[:2] == ["ecr", "describe-images"]:
    print("An error occurred (ImageNotFoundException)", file=sys.stderr)
    sys.exit(254)
if args[:2] == ["ecr", "get-login-password"]:
    out("ecr-token-SECRET")
if args[:2] == ["cloudformation", "describe-stack-resource"]:
    out("arn:aws:ecs:eu-west-1:123456789012:service/voice-Cluster-xyz/voice-Service-1")
if args[:3] == ["ecs", "wait", "services-stable"]:
    out("")
print("unexpected: " + " ".join(args), file=sys.stderr)
sys.exit(3)
"#;

/// A stand-in for skopeo: records its arguments and the auth file it was given.
const FAKE_SKOPEO: &str = r#"#!/usr/bin/env python3
import os, stat, sys
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as f:
    f.write("skopeo " + " ".join(args) + "\n")
    if "--authfile" in args:
        path = args[args.index("--authfile") + 1]
        mode = stat.S_IMODE(os.stat(path).st_mode)
        f.write("authfile mode %o: %s\n" % (mode, open(path).read()))
sys.exit(0)
"#;

#[test]
fn a_first_deploy_creates_the_stack_pushes_the_image_then_starts_the_service_on_its_digest() {
    let image = built_image();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let dir = scratch_dir("deploy-relay-order");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, script) in [("aws", FAKE_AWS), ("skopeo", FAKE_SKOPEO)] {
        let p = bin.join(name);
        std::fs::write(&p, script).unwrap();
        let mut perms = std::fs::metadata(&p).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&p, perms).unwrap();
    }
    let calls = dir.join("calls.txt");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let (ok, stdout, err) = deploy_relay(
        &path,
        &dir,
        &[("CALLS", calls.to_str().unwrap())],
        &[
            &format!("OpenAiKeySecretArn={SECRET_ARN}"),
            "AuthIssuer=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd",
            "AuthAudience=client123",
            "DesiredCount=2",
        ],
    );
    assert!(ok, "{err}\n{stdout}");
    let log = std::fs::read_to_string(&calls).unwrap();
    let steps: Vec<&str> = log
        .lines()
        .filter(|l| {
            !l.starts_with("aws configure")
                && !l.contains("describe-stacks")
                && *l != "skopeo --version"
        })
        .collect();
    // 1. The stack without an image: the repository, no service.
    assert!(steps[0].starts_with("aws cloudformation deploy"), "{log}");
    assert!(steps[0].contains("generated/relay.yaml"), "{log}");
    assert!(
        steps[0].contains(&format!("OpenAiKeySecretArn={SECRET_ARN}")),
        "{log}"
    );
    assert!(steps[0].contains("DesiredCount=2"), "{log}");
    assert!(steps[0].contains("AuthAudience=client123"), "{log}");
    assert!(
        !steps[0].contains("ImageDigest"),
        "no service before the image: {log}"
    );
    // 2. The image, pushed to the stack's repository with a private auth file.
    let push = steps
        .iter()
        .position(|l| l.starts_with("skopeo copy"))
        .expect("a push");
    assert!(
        steps[push].contains(&format!(
            "docker://123456789012.dkr.ecr.eu-west-1.amazonaws.com/voice-repository-abc:sha-{}",
            &digest["sha256:".len()..][..12]
        )),
        "{log}"
    );
    assert!(steps[push].contains("oci:"), "{log}");
    assert!(
        !steps[push].contains("ecr-token-SECRET"),
        "the password is not on the command line"
    );
    assert!(steps[push + 1].starts_with("authfile mode 600"), "{log}");
    assert!(
        !workspace_root()
            .join("target/deploy/.ecr-auth.json")
            .exists(),
        "the auth file is removed"
    );
    // 3. The stack again, with the digest: the service starts on the pushed image.
    let second = steps
        .iter()
        .rposition(|l| l.starts_with("aws cloudformation deploy"))
        .unwrap();
    assert!(second > push, "{log}");
    assert!(
        steps[second].contains(&format!("ImageDigest={digest}")),
        "{log}"
    );
    // 4. Wait for the service, then print the URLs.
    assert!(
        steps
            .last()
            .unwrap()
            .contains("ecs wait services-stable --cluster voice-Cluster-xyz"),
        "{log}"
    );
    assert!(
        stdout.contains("wss://d111.cloudfront.net/realtime"),
        "{stdout}"
    );
    assert!(!stdout.contains("ecr-token-SECRET") && !err.contains("ecr-token-SECRET"));
}
