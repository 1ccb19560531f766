//! Rust functions of a SAM template built with cargo-lambda (`Metadata.BuildMethod:
//! rust-cargolambda`, `CodeUri` the crate): served from the bootstrap cargo-lambda builds
//! (`target/lambda/<binary>/bootstrap`, in the crate's or its workspace's `target`), built at
//! start-up when there is none, and rebuilt by `--watch` when the crate's sources change.
//! Built in debug mode, for quick rebuilds (as `SAM_BUILD_MODE=debug sam build`).

use std::path::PathBuf;

use crate::template::{Code, FunctionDef};

/// A function's crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustCrate {
    /// The function's logical id.
    pub function: String,
    /// The crate's folder (`CodeUri`).
    pub dir: PathBuf,
    /// The binary (`Metadata.BuildProperties.Binary`, else the package's name).
    pub binary: String,
    /// `Architectures: [arm64]`.
    pub arm64: bool,
}

impl RustCrate {
    /// The crate behind `f`, when SAM would build it with cargo-lambda.
    pub fn of(f: &FunctionDef) -> Option<RustCrate> {
        if f.metadata["BuildMethod"].as_str() != Some("rust-cargolambda") {
            return None;
        }
        let Code::Path(dir) = &f.code else {
            return None;
        };
        let binary = match f.metadata["BuildProperties"]["Binary"].as_str() {
            Some(b) => b.to_owned(),
            None => package_name(&std::fs::read_to_string(dir.join("Cargo.toml")).ok()?)?,
        };
        Some(RustCrate {
            function: f.logical_id.clone(),
            dir: dir.clone(),
            binary,
            arm64: f.architecture == "arm64",
        })
    }

    /// The folder holding the built bootstrap, if there is one: `target/lambda/<binary>`
    /// in the crate or the nearest folder above it (a workspace's).
    pub fn built(&self) -> Option<PathBuf> {
        self.dir
            .ancestors()
            .map(|d| d.join("target/lambda").join(&self.binary))
            .find(|d| d.join("bootstrap").is_file())
    }

    /// `cargo lambda build` of the binary, its output through `say`.
    pub async fn build(&self, say: &(dyn Fn(&str) + Sync)) -> Result<PathBuf, String> {
        let mut command = tokio::process::Command::new("cargo-lambda");
        command.args(["lambda", "build", "--bin", &self.binary]);
        let native = (std::env::consts::ARCH == "aarch64") == self.arm64;
        command.arg(if self.arm64 { "--arm64" } else { "--x86-64" });
        if native {
            // No cross-compiling: plain cargo, no zig needed.
            command.args(["--compiler", "cargo"]);
        }
        command.current_dir(&self.dir);
        say(&format!(
            "building {} with cargo lambda ({})",
            self.function,
            self.dir.display()
        ));
        let (status, last) = super::tool::run(command, "cargo-lambda", say)
            .await
            .map_err(|e| {
                format!(
                    "{}: {e}: install it (pip install cargo-lambda, or cargo install cargo-lambda)",
                    self.function
                )
            })?;
        if !status.success() {
            return Err(format!(
                "{}: cargo lambda build failed ({status}): {}",
                self.function,
                last.join(" | ")
            ));
        }
        self.built().ok_or_else(|| {
            format!(
                "{}: cargo lambda build made no target/lambda/{}/bootstrap",
                self.function, self.binary
            )
        })
    }
}

/// `[package] name` of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// Points every cargo-lambda function at its built bootstrap (building the missing ones);
/// returns their crates, for `--watch`.
pub async fn prepare(
    functions: &mut std::collections::BTreeMap<String, FunctionDef>,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Vec<RustCrate>, Vec<String>> {
    let mut crates = Vec::new();
    let mut problems = Vec::new();
    for f in functions.values_mut() {
        let Some(krate) = RustCrate::of(f) else {
            continue;
        };
        let built = match krate.built() {
            Some(dir) => Ok(dir),
            None => krate.build(say).await,
        };
        match built {
            Ok(dir) => {
                f.code = Code::Path(dir);
                crates.push(krate);
            }
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(crates)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_the_package_unless_named() {
        let manifest = "[package]\nname = \"ws-echo\"\nversion = \"0.1.0\"\n\n[dependencies]\nname = \"other\"\n";
        assert_eq!(package_name(manifest), Some("ws-echo".into()));
        assert_eq!(package_name("[workspace]\nmembers = []\n"), None);
    }
}
