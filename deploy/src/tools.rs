//! The I/O of packaging and deploying: cargo-lambda, the AWS CLI, and the files on disk.
//! Decisions live in [`crate::preflight`]; this module only gathers and runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use streamgate_contract::Function;

use crate::artifact::{self, Arch};
use crate::preflight::{ArtifactState, CliConfig, Found};
use crate::{PROFILE, bootstrap_path, zipped_size};

/// A tool failed or is missing.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A tool is not installed.
    #[error(
        "{tool} is not installed: run `just setup-deploy` (it installs cargo-lambda and the AWS CLI into .venv)"
    )]
    Missing {
        /// The tool.
        tool: &'static str,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command (never with secret values).
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: String,
        /// What happened.
        error: std::io::Error,
    },
    /// The template is not valid YAML.
    #[error("generated/template.yaml cannot be read: {0} (run `just synth`)")]
    Template(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |error| ToolError::File {
        path: path.display().to_string(),
        error,
    }
}

/// A command that could not start: missing (with the setup step), or another reason.
fn not_started(program: &'static str, shown: &str, e: std::io::Error) -> ToolError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::Missing { tool: program },
        _ => ToolError::Failed {
            command: shown.to_owned(),
            status: "did not start".into(),
            stderr: e.to_string(),
        },
    }
}

/// Runs `program args` and returns its stdout; `shown` is how the command appears in errors.
fn output(program: &'static str, args: &[&str], shown: &str) -> Result<String, ToolError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| not_started(program, shown, e))?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            command: shown.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs the AWS CLI.
pub fn aws(args: &[&str]) -> Result<String, ToolError> {
    output("aws", args, &format!("aws {}", args.join(" ")))
}

/// Runs a command with its output on the terminal.
fn run(program: &'static str, args: &[&str]) -> Result<(), ToolError> {
    let shown = format!("{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| not_started(program, &shown, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(ToolError::Failed {
            command: shown,
            status: status.to_string(),
            stderr: "see above".into(),
        })
    }
}

/// What the AWS CLI knows of credentials and region (`aws configure list`; local files and
/// variables only, unless the CLI falls back to an instance's metadata service).
pub fn cli_config() -> Result<CliConfig, ToolError> {
    aws(&["configure", "list"]).map(|o| crate::preflight::parse_configure_list(&o))
}

/// The template, as JSON.
pub fn template(workspace: &Path) -> Result<serde_json::Value, ToolError> {
    let path = workspace.join("generated/template.yaml");
    let text = std::fs::read_to_string(&path).map_err(file_error(&path))?;
    yaml_serde::from_str(&text).map_err(|e| ToolError::Template(e.to_string()))
}

/// The state of every contract function's `bootstrap`.
pub fn artifacts(workspace: &Path) -> Vec<ArtifactState> {
    Function::ALL
        .iter()
        .map(|f| {
            let path = bootstrap_path(workspace, *f);
            let found = std::fs::read(&path).ok().map(|bytes| Found {
                machine: artifact::machine(&bytes),
                glibc: artifact::newest_glibc(&bytes),
                modified: std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            });
            ArtifactState {
                binary: f.spec().binary,
                path,
                found,
            }
        })
        .collect()
}

/// The newest file the Lambda artifacts are built from: the functions' sources and the
/// workspace's manifests.
pub fn newest_source(workspace: &Path) -> Option<(PathBuf, SystemTime)> {
    fn walk(dir: &Path, newest: &mut Option<(PathBuf, SystemTime)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else {
                consider(path, newest);
            }
        }
    }
    fn consider(path: PathBuf, newest: &mut Option<(PathBuf, SystemTime)>) {
        if let Ok(t) = std::fs::metadata(&path).and_then(|m| m.modified())
            && newest.as_ref().is_none_or(|(_, n)| t > *n)
        {
            *newest = Some((path, t));
        }
    }
    let mut newest = None;
    walk(&workspace.join("functions"), &mut newest);
    consider(workspace.join("Cargo.toml"), &mut newest);
    consider(workspace.join("Cargo.lock"), &mut newest);
    newest.map(|(p, t)| {
        (
            p.strip_prefix(workspace)
                .map(Path::to_path_buf)
                .unwrap_or(p),
            t,
        )
    })
}

/// Builds every contract function's `bootstrap` for `arch` with cargo-lambda, then lists
/// their sizes. When every `bootstrap` is already built for `arch` and newer than the
/// functions' sources and the workspace's manifests, nothing is built (and nothing is
/// rewritten under a process that runs one) unless `force`.
pub fn package(workspace: &Path, arch: Arch, force: bool) -> Result<(), ToolError> {
    let newest = newest_source(workspace);
    if !force
        && artifacts(workspace)
            .iter()
            .all(|a| a.is_current(arch, newest.as_ref()))
    {
        println!(
            "the {} functions are packaged for {} and newer than their sources (`--force` builds again)",
            Function::ALL.len(),
            arch.name()
        );
        return list_sizes(workspace);
    }
    let installed = output(
        "rustup",
        &["target", "list", "--installed"],
        "rustup target list",
    )?;
    if !installed.lines().any(|l| l.trim() == arch.rust_target()) {
        println!("adding the Rust target {}", arch.rust_target());
        run("rustup", &["target", "add", arch.rust_target()])?;
    }
    let flag = match arch {
        Arch::Arm64 => "--arm64",
        Arch::X86_64 => "--x86-64",
    };
    // One cargo invocation: the functions share every compiled dependency and their final
    // (link-time optimised) links run in parallel. Cargo's progress line shows how far it is.
    let binaries: Vec<&str> = Function::ALL.iter().map(|f| f.spec().binary).collect();
    println!(
        "building {} functions for {} ({PROFILE} profile): {}",
        binaries.len(),
        arch.name(),
        binaries.join(", ")
    );
    let mut args = vec![
        "lambda",
        "build",
        "--profile",
        PROFILE,
        flag,
        "--package",
        "streamgate-lambda",
    ];
    for b in &binaries {
        args.push("--bin");
        args.push(b);
    }
    run("cargo", &args)?;
    list_sizes(workspace)
}

/// Prints each function's `bootstrap` size, plain and zipped.
fn list_sizes(workspace: &Path) -> Result<(), ToolError> {
    println!("\n{:<24} {:>12} {:>12}", "function", "bootstrap", "zipped");
    for f in Function::ALL {
        let path = bootstrap_path(workspace, *f);
        let bytes = std::fs::read(&path).map_err(file_error(&path))?;
        let zipped = zipped_size(&bytes).map_err(file_error(&path))?;
        println!(
            "{:<24} {:>9.2} MB {:>9.2} MB",
            f.spec().binary,
            bytes.len() as f64 / 1e6,
            zipped as f64 / 1e6
        );
    }
    println!("\nthe template's Code paths point at target/lambda/<function>/");
    Ok(())
}

/// The artifacts bucket: the one named, or `streamgate-artifacts-{account}-{region}`,
/// created when missing.
pub fn artifacts_bucket(named: Option<&str>, region: &str) -> Result<String, ToolError> {
    let bucket = match named {
        Some(b) => b.to_owned(),
        None => {
            let account = aws(&[
                "sts",
                "get-caller-identity",
                "--query",
                "Account",
                "--output",
                "text",
            ])?;
            format!("streamgate-artifacts-{account}-{region}")
        }
    };
    if aws(&["s3api", "head-bucket", "--bucket", &bucket]).is_err() {
        println!("creating the artifacts bucket {bucket}");
        aws(&["s3", "mb", &format!("s3://{bucket}"), "--region", region])?;
    }
    Ok(bucket)
}

/// Uploads the artifacts (`aws cloudformation package`), returning the packaged template.
pub fn upload(workspace: &Path, stack: &str, bucket: &str) -> Result<PathBuf, ToolError> {
    let out_dir = workspace.join("target/deploy");
    std::fs::create_dir_all(&out_dir).map_err(file_error(&out_dir))?;
    let packaged = out_dir.join(format!("{stack}.packaged.yaml"));
    let template = workspace.join("generated/template.yaml");
    aws(&[
        "cloudformation",
        "package",
        "--template-file",
        &template.display().to_string(),
        "--s3-bucket",
        bucket,
        "--s3-prefix",
        stack,
        "--output-template-file",
        &packaged.display().to_string(),
    ])?;
    Ok(packaged)
}

/// Creates or updates the stack, with its output on the terminal.
pub fn deploy(
    packaged: &Path,
    stack: &str,
    values: &BTreeMap<String, String>,
) -> Result<(), ToolError> {
    let template = packaged.display().to_string();
    let overrides: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![
        "cloudformation",
        "deploy",
        "--template-file",
        &template,
        "--stack-name",
        stack,
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
    ];
    if !overrides.is_empty() {
        args.push("--parameter-overrides");
        args.extend(overrides.iter().map(String::as_str));
    }
    run("aws", &args)
}

/// The stack's outputs, name → value.
pub fn outputs(stack: &str) -> Result<BTreeMap<String, String>, ToolError> {
    let json = aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack,
        "--query",
        "Stacks[0].Outputs",
        "--output",
        "json",
    ])?;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    Ok(v.as_array()
        .map(|os| {
            os.iter()
                .filter_map(|o| {
                    Some((
                        o["OutputKey"].as_str()?.to_owned(),
                        o["OutputValue"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Stores `key` in the Secrets Manager secret `name` (created or given a new value) and
/// returns its ARN. The key goes to the CLI through a private file, never on a command line.
pub fn store_secret(workspace: &Path, name: &str, key: &str) -> Result<String, ToolError> {
    let dir = workspace.join("target/deploy");
    std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
    let file = dir.join(".secret-value");
    write_private(&file, key).map_err(file_error(&file))?;
    let value = format!("file://{}", file.display());
    let result = match aws(&[
        "secretsmanager",
        "describe-secret",
        "--secret-id",
        name,
        "--query",
        "ARN",
        "--output",
        "text",
    ]) {
        Ok(arn) => aws(&[
            "secretsmanager",
            "put-secret-value",
            "--secret-id",
            name,
            "--secret-string",
            &value,
        ])
        .map(|_| arn),
        Err(_) => aws(&[
            "secretsmanager",
            "create-secret",
            "--name",
            name,
            "--description",
            "LLM provider API key for streamgate",
            "--secret-string",
            &value,
            "--query",
            "ARN",
            "--output",
            "text",
        ]),
    };
    let _ = std::fs::remove_file(&file);
    result
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Deletes the stack and waits until it is gone.
pub fn destroy(stack: &str) -> Result<(), ToolError> {
    aws(&["cloudformation", "delete-stack", "--stack-name", stack])?;
    println!("deleting {stack}; waiting until it is gone");
    run(
        "aws",
        &[
            "cloudformation",
            "wait",
            "stack-delete-complete",
            "--stack-name",
            stack,
        ],
    )
}

/// The Rust target of the relay image's static binary.
pub const RELAY_TARGET: &str = "aarch64-unknown-linux-musl";

/// Where `just image` writes the relay image's layout, relative to the workspace.
pub const IMAGE_DIR: &str = "target/image/oci";

/// Builds the relay as a static linux/arm64 binary (musl, linked by cargo-lambda's zig) and
/// returns its path.
pub fn build_relay(workspace: &Path) -> Result<PathBuf, ToolError> {
    let installed = output(
        "rustup",
        &["target", "list", "--installed"],
        "rustup target list",
    )?;
    if !installed.lines().any(|l| l.trim() == RELAY_TARGET) {
        println!("adding the Rust target {RELAY_TARGET}");
        run("rustup", &["target", "add", RELAY_TARGET])?;
    }
    let out = workspace.join("target/image-build");
    let out_arg = out.display().to_string();
    println!("building streamgate-relay for linux/arm64 (static, {PROFILE} profile)");
    run(
        "cargo",
        &[
            "lambda",
            "build",
            "--profile",
            PROFILE,
            "--target",
            RELAY_TARGET,
            "--package",
            "streamgate-server",
            "--bin",
            "streamgate-relay",
            "--lambda-dir",
            &out_arg,
        ],
    )?;
    Ok(out.join("streamgate-relay/bootstrap"))
}

/// Builds the relay image's OCI layout in `workspace/target/image/oci` from `binary` (built
/// when not given), the sample catalog and this machine's CA bundle; returns the manifest
/// digest.
pub fn image(workspace: &Path, binary: Option<PathBuf>, tag: &str) -> Result<String, ToolError> {
    let binary = match binary {
        Some(b) => b,
        None => build_relay(workspace)?,
    };
    let bytes = std::fs::read(&binary).map_err(file_error(&binary))?;
    let machine =
        artifact::machine(&bytes[..bytes.len().min(64)]).map_err(|e| ToolError::File {
            path: binary.display().to_string(),
            error: std::io::Error::other(e.to_string()),
        })?;
    let architecture = match machine {
        artifact::Machine::Aarch64 => "arm64",
        artifact::Machine::X86_64 => "amd64",
        other => {
            return Err(ToolError::File {
                path: binary.display().to_string(),
                error: std::io::Error::other(format!("built for {other}, not arm64 or x86_64")),
            });
        }
    };
    let catalog_path = workspace.join("server/catalog.sample.json");
    let catalog = std::fs::read(&catalog_path).map_err(file_error(&catalog_path))?;
    let ca_path = Path::new(crate::image::CA_BUNDLE);
    let ca = std::fs::read(ca_path).map_err(|e| ToolError::File {
        path: ca_path.display().to_string(),
        error: std::io::Error::other(format!(
            "{e}: the image carries this machine's CA certificates (apt-get install ca-certificates)"
        )),
    })?;
    let layout = crate::image::build(&crate::image::ImageInputs {
        binary: &bytes,
        catalog: &catalog,
        ca_certificates: &ca,
        architecture,
        tag,
    })
    .map_err(file_error(&binary))?;
    let dir = workspace.join(IMAGE_DIR);
    crate::image::write(&layout, &dir).map_err(file_error(&dir))?;
    let size: usize = layout.files.iter().map(|(_, b)| b.len()).sum();
    println!(
        "wrote the linux/{architecture} image {} to {} ({:.1} MB; tag {tag})",
        layout.manifest_digest,
        dir.display(),
        size as f64 / 1e6
    );
    Ok(layout.manifest_digest)
}

/// The relay template, as JSON.
pub fn relay_template(workspace: &Path) -> Result<serde_json::Value, ToolError> {
    let path = workspace.join("generated/relay.yaml");
    let text = std::fs::read_to_string(&path).map_err(file_error(&path))?;
    yaml_serde::from_str(&text).map_err(|e| ToolError::Template(e.to_string()))
}

/// A parameter's value in a deployed stack; `None` when the stack does not exist (or cannot
/// be read).
pub fn deployed_parameter(stack: &str, name: &str) -> Option<String> {
    let query = format!("Stacks[0].Parameters[?ParameterKey=='{name}'].ParameterValue | [0]");
    aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack,
        "--query",
        &query,
        "--output",
        "text",
    ])
    .ok()
    .filter(|v| !v.is_empty() && v != "None")
}

/// The built image: its architecture and manifest digest (from the layout's index).
pub fn built_image(workspace: &Path) -> Option<(String, String)> {
    let index = std::fs::read(workspace.join(IMAGE_DIR).join("index.json")).ok()?;
    let index: serde_json::Value = serde_json::from_slice(&index).ok()?;
    let m = &index["manifests"][0];
    Some((
        m["platform"]["architecture"].as_str()?.to_owned(),
        m["digest"].as_str()?.to_owned(),
    ))
}

/// Whether skopeo runs.
pub fn skopeo_present() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pushes the built image to the stack's repository (tagged with its digest's first 12
/// digits), unless the repository has it already. The registry password goes to skopeo in a
/// private auth file, never on a command line, and the file is removed afterwards.
pub fn push_image(
    workspace: &Path,
    repository_uri: &str,
    digest: &str,
    region: &str,
) -> Result<(), ToolError> {
    let (registry, repository) = repository_uri
        .split_once('/')
        .ok_or_else(|| ToolError::Template(format!("{repository_uri} is not a repository URI")))?;
    let image_id = format!("imageDigest={digest}");
    if aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        repository,
        "--image-ids",
        &image_id,
        "--region",
        region,
    ])
    .is_ok()
    {
        println!("{repository_uri} already has {digest}");
        return Ok(());
    }
    let password = aws(&["ecr", "get-login-password", "--region", region])?;
    let dir = workspace.join("target/deploy");
    std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
    let authfile = dir.join(".ecr-auth.json");
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("AWS:{password}"),
    );
    let json = serde_json::json!({"auths": {registry: {"auth": auth}}}).to_string();
    write_private(&authfile, &json).map_err(file_error(&authfile))?;
    let tag = format!("sha-{}", &digest.trim_start_matches("sha256:")[..12]);
    let source = format!("oci:{}:latest", workspace.join(IMAGE_DIR).display());
    let destination = format!("docker://{repository_uri}:{tag}");
    println!("pushing {digest} to {repository_uri}:{tag}");
    let pushed = run(
        "skopeo",
        &[
            "copy",
            "--authfile",
            &authfile.display().to_string(),
            &source,
            &destination,
        ],
    );
    let _ = std::fs::remove_file(&authfile);
    pushed
}

/// Waits until the stack's service is stable (its tasks healthy behind the load balancer).
pub fn wait_for_service(stack: &str, cluster: &str, region: &str) -> Result<(), ToolError> {
    let service = aws(&[
        "cloudformation",
        "describe-stack-resource",
        "--stack-name",
        stack,
        "--logical-resource-id",
        "Service",
        "--query",
        "StackResourceDetail.PhysicalResourceId",
        "--output",
        "text",
    ])?;
    println!("waiting for the service to be stable (its tasks healthy behind the load balancer)");
    run(
        "aws",
        &[
            "ecs",
            "wait",
            "services-stable",
            "--cluster",
            cluster,
            "--services",
            &service,
            "--region",
            region,
        ],
    )
}
