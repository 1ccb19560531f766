//! Finding a function's `bootstrap` (a folder, a zip, or a packaged artifact under
//! `--artifacts`), checking it is a program Lambda could run for the declared architecture,
//! and how to start it on this machine (natively, or an arm64 binary under `qemu-aarch64`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::executable::{is_executable, on_path};
use super::managed::Toolchain;
use crate::template::rules::Family;
use crate::template::{Code, FunctionDef};
use streamgate_contract::arch::{self, Architecture, Machine};

/// How to start a function's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The folder holding the code (`LAMBDA_TASK_ROOT`, the working directory).
    pub task_root: PathBuf,
    /// The program and its leading arguments (`[bootstrap]`,
    /// `[qemu-aarch64, -L, sysroot, bootstrap]`, or a managed runtime's `[node, loop]`).
    pub command: Vec<String>,
    /// Variables of the runtime itself (`AWS_EXECUTION_ENV`, module paths).
    pub environment: BTreeMap<String, String>,
}

/// Where a managed runtime's functions find what runs them.
pub struct Managed<'a> {
    /// Node.js and Python, when the template has such functions.
    pub toolchains: &'a BTreeMap<Family, Toolchain>,
    /// The cache.
    pub cache: &'a Path,
    /// Variables every managed process gets (the local API's endpoint for the loop).
    pub environment: &'a BTreeMap<String, String>,
}

/// Where a function's code is on disk: `artifacts` (when given) holds one folder per
/// function named as the template's `Code` folder (`target/lambda/<name>`), or by logical id
/// for packaged templates; `unpack_dir` receives zips.
pub fn locate(
    f: &FunctionDef,
    artifacts: Option<&Path>,
    unpack_dir: &Path,
    managed: &Managed<'_>,
) -> Result<Launch, String> {
    let task_root = task_root(f, artifacts, unpack_dir)?;
    match f.family {
        Family::Provided => bootstrap(f, task_root),
        family => {
            let toolchain = managed
                .toolchains
                .get(&family)
                .ok_or_else(|| format!("{}: no toolchain for {}", f.logical_id, f.runtime))?;
            handler_file(f, &task_root)?;
            let mut environment = toolchain.environment(&f.runtime, managed.cache);
            environment.extend(managed.environment.clone());
            Ok(Launch {
                task_root,
                command: toolchain.command(),
                environment,
            })
        }
    }
}

/// The file a managed runtime loads for `f.handler`, checked at start-up (Lambda would
/// report `Runtime.ImportModuleError` at the first event).
fn handler_file(f: &FunctionDef, task_root: &Path) -> Result<PathBuf, String> {
    if Path::new(&f.handler).components().any(|c| {
        matches!(
            c,
            std::path::Component::ParentDir | std::path::Component::RootDir
        )
    }) {
        return Err(format!(
            "{}: Handler {:?} must name a file under the function's code folder",
            f.logical_id, f.handler
        ));
    }
    let (dir, rest) = f.handler.rsplit_once('/').unwrap_or(("", &f.handler));
    let (candidates, form): (Vec<String>, &str) = match f.family {
        Family::Node => {
            let Some((file, _)) = rest
                .split_once('.')
                .filter(|(file, e)| !file.is_empty() && !e.is_empty())
            else {
                return Err(format!(
                    "{}: Handler {:?} is not FILE.EXPORT (index.handler)",
                    f.logical_id, f.handler
                ));
            };
            (
                [".js", ".mjs", ".cjs"]
                    .iter()
                    .map(|ext| format!("{file}{ext}"))
                    .collect(),
                ".js, .mjs or .cjs file",
            )
        }
        _ => {
            let Some((module, _)) = f
                .handler
                .rsplit_once('.')
                .filter(|(m, e)| !m.is_empty() && !e.is_empty())
            else {
                return Err(format!(
                    "{}: Handler {:?} is not MODULE.FUNCTION (app.handler)",
                    f.logical_id, f.handler
                ));
            };
            let module = module.replace('.', "/");
            (
                vec![format!("{module}.py"), format!("{module}/__init__.py")],
                ".py module",
            )
        }
    };
    let base = if f.family == Family::Node {
        task_root.join(dir)
    } else {
        task_root.to_path_buf()
    };
    candidates
        .iter()
        .map(|c| base.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{}: Handler {:?} names no {form} in {} (Lambda would fail with Runtime.ImportModuleError)",
                f.logical_id,
                f.handler,
                task_root.display()
            )
        })
}

/// The folder a function's code is in: its own, a zip unpacked, or inline code written out.
fn task_root(
    f: &FunctionDef,
    artifacts: Option<&Path>,
    unpack_dir: &Path,
) -> Result<PathBuf, String> {
    if let Code::Inline(source) = &f.code {
        let dir = unpack_dir.join(&f.logical_id);
        let file = if f.family == Family::Python {
            "index.py"
        } else {
            "index.js"
        };
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(dir.join(file), source))
            .map_err(|e| format!("{}: cannot write its inline code: {e}", f.logical_id))?;
        return Ok(dir);
    }
    let path = match (&f.code, artifacts) {
        (Code::Path(p), Some(dir)) => {
            let name = p.file_name().map(PathBuf::from).unwrap_or_default();
            let candidate = dir.join(&name);
            if candidate.exists() {
                candidate
            } else {
                p.clone()
            }
        }
        (Code::Path(p), None) => p.clone(),
        (Code::S3 { .. }, Some(dir)) => dir.join(&f.logical_id),
        (Code::S3 { key }, None) => {
            return Err(format!(
                "{}: its code is in S3 ({key}); pass --artifacts DIR with a folder per function",
                f.logical_id
            ));
        }
        (Code::Inline(_), _) => unreachable!("written out above"),
    };
    let task_root = if path.is_dir() {
        path
    } else if path.extension().is_some_and(|e| e == "zip") && path.is_file() {
        let into = unpack_dir.join(&f.logical_id);
        unzip(&path, &into)
            .map_err(|e| format!("{}: cannot unpack {}: {e}", f.logical_id, path.display()))?;
        into
    } else {
        let hint = match f.family {
            Family::Provided => {
                "package the functions first: `just package`, or cargo lambda build"
            }
            _ => "the template's CodeUri or Code names a folder or zip relative to the template",
        };
        return Err(format!(
            "{}: no code at {} ({hint})",
            f.logical_id,
            path.display()
        ));
    };
    Ok(std::fs::canonicalize(&task_root).unwrap_or(task_root))
}

/// A `provided.*` function's `bootstrap`: there, executable, built for the declared
/// architecture; run natively or under qemu.
fn bootstrap(f: &FunctionDef, task_root: PathBuf) -> Result<Launch, String> {
    let bootstrap = task_root.join("bootstrap");
    let mut header = [0u8; arch::ELF_HEADER_BYTES];
    let read = std::fs::File::open(&bootstrap).and_then(|mut file| file.read_exact(&mut header));
    if read.is_err() {
        return Err(format!(
            "{}: {} has no bootstrap (Lambda would fail with Runtime.InvalidEntrypoint)",
            f.logical_id,
            task_root.display()
        ));
    }
    if !is_executable(&bootstrap) {
        return Err(format!(
            "{}: {} is not executable (Lambda would fail with Runtime.InvalidEntrypoint)",
            f.logical_id,
            bootstrap.display()
        ));
    }
    // A file that is not a 64-bit ELF of a Lambda architecture (a script) is not checked.
    let built = arch::machine(&header).ok().and_then(Machine::architecture);
    let shown = bootstrap.display().to_string();
    if let Some(built) = built
        && built.name() != f.architecture
    {
        return Err(format!(
            "{}: {shown} is built for {} but the function's architecture is {} (Lambda would fail with Runtime.InvalidEntrypoint; package for {} or set the template's architecture)",
            f.logical_id,
            built.name(),
            f.architecture,
            f.architecture
        ));
    }
    let command = if built == Some(Architecture::Arm64)
        && Architecture::host() != Some(Architecture::Arm64)
    {
        let Some(qemu) = on_path("qemu-aarch64") else {
            return Err(format!(
                "{}: {shown} is an arm64 binary; running it here needs qemu-aarch64 (apt install qemu-user libc6-arm64-cross), or package for this machine",
                f.logical_id
            ));
        };
        let mut c = vec![qemu.display().to_string()];
        let sysroot = Path::new("/usr/aarch64-linux-gnu");
        if sysroot.is_dir() {
            c.extend(["-L".to_owned(), sysroot.display().to_string()]);
        }
        c.push(shown);
        c
    } else {
        vec![shown]
    };
    Ok(Launch {
        task_root,
        command,
        environment: BTreeMap::new(),
    })
}

pub use super::unzip::MAX_UNZIPPED_BYTES;
use super::unzip::unzip;

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(handler: &str, family: Family) -> FunctionDef {
        FunctionDef {
            logical_id: "F".into(),
            name: "f".into(),
            code: Code::Path(PathBuf::new()),
            handler: handler.into(),
            runtime: String::new(),
            family,
            metadata: serde_json::Value::Null,
            architecture: "x86_64".into(),
            timeout: std::time::Duration::from_secs(3),
            memory_mb: 128,
            environment: BTreeMap::new(),
            logging: BTreeMap::new(),
        }
    }

    #[test]
    fn handlers_name_files_under_the_code_folder() {
        let root = std::env::temp_dir().join(format!("streamgate-handlers-{}", std::process::id()));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("src/app.mjs"), "").unwrap();
        std::fs::write(root.join("pkg/mod.py"), "").unwrap();
        let found = handler_file(&managed("src/app.handler", Family::Node), &root).unwrap();
        assert!(found.ends_with("src/app.mjs"));
        let found = handler_file(&managed("pkg.mod.handler", Family::Python), &root).unwrap();
        assert!(found.ends_with("pkg/mod.py"));
        for (bad, family) in [
            ("../outside.handler", Family::Node),
            ("/etc/passwd.handler", Family::Node),
            ("app", Family::Node),
            ("src/missing.handler", Family::Node),
            ("handler", Family::Python),
        ] {
            assert!(handler_file(&managed(bad, family), &root).is_err(), "{bad}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
