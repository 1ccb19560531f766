//! The voice relay's I/O: its static arm64 build, the OCI layout on disk, the deployed
//! stack's parameters, skopeo, and waiting for the service.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{ToolError, aws, file_error, output, run, write_private};
use crate::PROFILE;
use streamgate_contract::arch;

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
            "streamgate-voice-relay",
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
    let machine = arch::machine(&bytes[..bytes.len().min(64)]).map_err(|e| ToolError::File {
        path: binary.display().to_string(),
        error: std::io::Error::other(e.to_string()),
    })?;
    let architecture = match machine {
        arch::Machine::Aarch64 => "arm64",
        arch::Machine::X86_64 => "amd64",
        other => {
            return Err(ToolError::File {
                path: binary.display().to_string(),
                error: std::io::Error::other(format!("built for {other}, not arm64 or x86_64")),
            });
        }
    };
    let catalog_path = workspace.join("voice-relay/catalog.sample.json");
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
