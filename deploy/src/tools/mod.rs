//! The I/O of packaging and deploying: cargo-lambda, the AWS CLI, skopeo and the files on
//! disk. Decisions live in [`crate::preflight`]; this module only gathers and runs. What both
//! stacks use is here (running tools, the AWS CLI's configuration, deploying a template,
//! outputs, secrets, deleting a stack); [`chat`] packages and uploads the functions, [`relay`]
//! builds, pushes and waits for the voice relay's image.

pub mod chat;
pub mod relay;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::preflight::CliConfig;

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

pub(super) fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |error| ToolError::File {
        path: path.display().to_string(),
        error,
    }
}

/// A command that could not start: missing (with the setup step), or another reason.
pub(super) fn not_started(program: &'static str, shown: &str, e: std::io::Error) -> ToolError {
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
pub(super) fn output(
    program: &'static str,
    args: &[&str],
    shown: &str,
) -> Result<String, ToolError> {
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
pub(super) fn run(program: &'static str, args: &[&str]) -> Result<(), ToolError> {
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

pub(super) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
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
