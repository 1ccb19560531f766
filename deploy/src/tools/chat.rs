//! The chat stack's I/O: the template, the packaged `bootstrap`s and their sources,
//! cargo-lambda, the artifacts bucket and `aws cloudformation package`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use streamgate_contract::Function;

use super::{ToolError, aws, file_error, output, run};
use crate::artifact;
use crate::preflight::{ArtifactState, Found};
use crate::{PROFILE, bootstrap_path, zipped_size};
use streamgate_contract::arch::{self, Architecture};

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
                machine: arch::machine(&bytes),
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
pub fn package(workspace: &Path, arch: Architecture, force: bool) -> Result<(), ToolError> {
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
    if !installed
        .lines()
        .any(|l| l.trim() == artifact::rust_target(arch))
    {
        println!("adding the Rust target {}", artifact::rust_target(arch));
        run("rustup", &["target", "add", artifact::rust_target(arch)])?;
    }
    let flag = match arch {
        Architecture::Arm64 => "--arm64",
        Architecture::X86_64 => "--x86-64",
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
