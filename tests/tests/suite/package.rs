//! The Lambda artifacts `just package` builds, as Lambda and CloudFormation will see them:
//! arm64 executables for Lambda's glibc, small, linking only what their function uses,
//! starting under qemu against a real event, uploaded by `aws cloudformation package` as
//! zips with `bootstrap` at the root; and `just deploy` refusing, with the fix, whatever
//! would fail before anything is uploaded.

use std::path::Path;
use std::process::Command;

use streamgate_contract::{Function, config as env};
use streamgate_deploy::artifact::{AL2023_GLIBC, newest_glibc};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, connection_item, create_connections_table};
use streamgate_tests::packaging::{
    MotoServer, aws_cli, packaged_bootstrap, qemu_aarch64, scratch_dir,
};
use streamgate_tests::{fixture_json, run, workspace_binary, workspace_root};

/// The target of issue: each zip at most 3 MB.
const MAX_ZIP_BYTES: u64 = 3_000_000;

const EM_AARCH64: u16 = 183;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_bootstrap_is_a_small_arm64_executable_for_lambdas_glibc() {
    for f in Function::ALL.iter().copied() {
        let path = packaged_bootstrap(f);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{}", path.display());
        assert_eq!(
            u16::from_le_bytes([bytes[18], bytes[19]]),
            EM_AARCH64,
            "{}: arm64",
            f.name()
        );
        let glibc = newest_glibc(&bytes);
        assert!(
            glibc <= Some(AL2023_GLIBC),
            "{} needs glibc {glibc:?}",
            f.name()
        );
        let zipped = streamgate_deploy::zipped_size(&bytes).unwrap();
        println!(
            "{}: bootstrap {} bytes, zipped {zipped} bytes, glibc {glibc:?}",
            f.name(),
            bytes.len()
        );
        assert!(
            zipped <= MAX_ZIP_BYTES,
            "{}: {zipped} bytes zipped",
            f.name()
        );

        // Each binary links only the clients its function uses.
        let posts = contains(&bytes, b"PostToConnection");
        let model = contains(&bytes, b"anthropic-version");
        let secrets = contains(&bytes, b"GetSecretValue");
        assert_eq!(
            posts,
            f.may(streamgate_contract::Permission::PostToConnection),
            "{}: @connections client",
            f.name()
        );
        assert_eq!(
            model,
            f.spec().uses_llm,
            "{}: model provider client",
            f.name()
        );
        assert_eq!(
            secrets,
            f.spec().uses_llm,
            "{}: Secrets Manager client",
            f.name()
        );
    }
}

#[tokio::test]
async fn the_arm64_connect_bootstrap_answers_a_real_event_under_qemu() {
    let (qemu, sysroot) = qemu_aarch64();
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    let mut cmd = tokio::process::Command::new(qemu);
    cmd.arg("-L")
        .arg(sysroot)
        .arg(packaged_bootstrap(Function::Connect));
    let vars = [
        (env::TABLE_NAME, "connections".to_owned()),
        (env::QUOTA_TABLE_NAME, "quotas".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
    ];
    let run =
        crate::lambda_binaries::invoke_with(cmd, Function::Connect, fixture_json("connect"), &vars)
            .await;
    assert_eq!(run.response["statusCode"], 200);
    let item = connection_item(&client, "connections", "asdfasdf=").await;
    assert!(
        item.is_some_and(|i| i.contains_key("ttl")),
        "the record was written"
    );
    assert!(run.logs.iter().any(|l| l["message"] == "connected"));
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cloudformation_package_uploads_each_function_as_a_zip_with_bootstrap_at_its_root() {
    let moto = MotoServer::start();
    let dir = scratch_dir("cloudformation-package");
    let root = workspace_root();
    ok(moto.aws(&dir).args(["s3", "mb", "s3://artifacts"]));
    let packaged = dir.join("packaged.yaml");
    ok(moto
        .aws(&dir)
        .args(["cloudformation", "package", "--template-file"])
        .arg(root.join("generated/template.yaml"))
        .args([
            "--s3-bucket",
            "artifacts",
            "--s3-prefix",
            "chat",
            "--output-template-file",
        ])
        .arg(&packaged));

    let template: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&packaged).unwrap()).unwrap();
    for f in Function::ALL.iter().copied() {
        let stem: String = {
            let mut c = f.name().chars();
            c.next()
                .map(|x| x.to_ascii_uppercase())
                .into_iter()
                .chain(c)
                .collect()
        };
        let code = &template["Resources"][format!("{stem}Function")]["Properties"]["Code"];
        assert_eq!(code["S3Bucket"], "artifacts", "{}: {code}", f.name());
        let key = code["S3Key"].as_str().unwrap();
        let zip_path = dir.join(format!("{}.zip", f.name()));
        ok(moto
            .aws(&dir)
            .args(["s3", "cp", &format!("s3://artifacts/{key}")])
            .arg(&zip_path));
        let size = std::fs::metadata(&zip_path).unwrap().len();
        assert!(size <= MAX_ZIP_BYTES, "{}: {size} bytes", f.name());
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
        assert_eq!(archive.len(), 1, "{}: only the bootstrap", f.name());
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(
            entry.name().unwrap(),
            "bootstrap",
            "{}: at the root",
            f.name()
        );
        let mode = entry.unix_mode().expect("unix permissions");
        assert!(mode & 0o111 != 0, "{}: executable ({mode:o})", f.name());
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        assert_eq!(
            content,
            std::fs::read(packaged_bootstrap(f)).unwrap(),
            "{}: the packaged binary",
            f.name()
        );
    }

    // The packaged template is as clean as the generated one.
    streamgate_tests::assert_cfn_lint_clean(&packaged);
    streamgate_tests::assert_checkov_clean(&packaged);
}

/// Runs `streamgate-deploy deploy` against `workspace` with only `vars` (beyond an empty
/// home and the tools' PATH); returns its exit success and its stderr.
fn deploy(workspace: &Path, home: &Path, vars: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let mut cmd = aws_cli(home);
    let venv = workspace_root().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut deploy = Command::new(workspace_binary("streamgate-deploy"));
    deploy.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            deploy.env(k, v);
        }
    }
    cmd.env("PATH", &path);
    deploy.env("PATH", &path);
    for (k, v) in vars {
        deploy.env(k, v);
    }
    deploy
        .arg("--workspace")
        .arg(workspace)
        .args(["deploy", "test-stack"])
        .args(args);
    let out = run(&mut deploy);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_refuses_with_the_fix_before_anything_is_uploaded() {
    let root = workspace_root();
    let home = scratch_dir("deploy-home");
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDLOCAL"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
    ];
    let region = ("AWS_DEFAULT_REGION", "eu-west-1");

    // No credentials, no region.
    let (success, err) = deploy(&root, &home, &[], &[]);
    assert!(!success);
    assert!(
        err.contains("no AWS credentials") && err.contains("aws configure"),
        "{err}"
    );
    assert!(
        err.contains("no AWS region") && err.contains("AWS_DEFAULT_REGION"),
        "{err}"
    );
    assert!(err.contains("nothing was uploaded"), "{err}");

    // Credentials and region, but the artifacts are arm64 and the stack would run x86_64.
    let (success, err) = deploy(
        &root,
        &home,
        &[creds[0], creds[1], region],
        &["Architecture=x86_64"],
    );
    assert!(!success);
    assert!(
        err.contains("built for arm64 but the stack deploys x86_64"),
        "{err}"
    );
    assert!(
        !err.contains("credentials") && !err.contains("region"),
        "{err}"
    );

    // A provider with a key needs the key's secret.
    let (success, err) = deploy(
        &root,
        &home,
        &[creds[0], creds[1], region],
        &["LlmProvider=openai"],
    );
    assert!(!success);
    assert!(err.contains("just secret"), "{err}");

    // A workspace with no artifacts; then with artifacts older than a source.
    let ws = scratch_dir("deploy-workspace");
    std::fs::create_dir_all(ws.join("generated")).unwrap();
    std::fs::copy(
        root.join("generated/template.yaml"),
        ws.join("generated/template.yaml"),
    )
    .unwrap();
    let (success, err) = deploy(&ws, &home, &[creds[0], creds[1], region], &[]);
    assert!(!success);
    assert_eq!(
        err.matches("is not packaged").count(),
        Function::ALL.len(),
        "{err}"
    );
    assert!(err.contains("just package arm64"), "{err}");
    for f in Function::ALL.iter().copied() {
        let to = streamgate_deploy::bootstrap_path(&ws, f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(packaged_bootstrap(f), &to).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::create_dir_all(ws.join("functions/core/src")).unwrap();
    std::fs::write(
        ws.join("functions/core/src/lib.rs"),
        "// changed after packaging\n",
    )
    .unwrap();
    let (success, err) = deploy(&ws, &home, &[creds[0], creds[1], region], &[]);
    assert!(!success);
    assert!(
        err.contains("is older than functions/core/src/lib.rs"),
        "{err}"
    );
}

#[test]
fn secret_stores_the_key_and_prints_only_its_arn() {
    const KEY: &str = "sk-test-never-printed-0123456789";
    let moto = MotoServer::start();
    let home = scratch_dir("secret-home");
    let store = |key: &str| {
        let venv = workspace_root().join(".venv/bin");
        let mut cmd = Command::new(workspace_binary("streamgate-deploy"));
        cmd.env_clear()
            .env("HOME", &home)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    venv.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint())
            .arg("--workspace")
            .arg(workspace_root())
            .args(["secret", "streamgate/test-key"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{key}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            !stdout.contains(key) && !stderr.contains(key),
            "the key is never printed"
        );
        stdout.trim().to_owned()
    };
    let arn = store(KEY);
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    let read = |home: &Path| {
        let mut cmd = aws_cli(home);
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint())
            .args(["secretsmanager", "get-secret-value", "--secret-id", &arn])
            .args(["--query", "SecretString", "--output", "text"]);
        ok(&mut cmd).trim().to_owned()
    };
    assert_eq!(read(&home), KEY);
    // A second run gives the same secret a new value.
    assert_eq!(store("sk-rotated"), arn);
    assert_eq!(read(&home), "sk-rotated");
    assert!(
        !workspace_root()
            .join("target/deploy/.secret-value")
            .exists(),
        "the key's file is removed"
    );
}
