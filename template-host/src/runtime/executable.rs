//! Whether a file is a program this machine would start (a file with an execute bit), and
//! finding one on `PATH`: what a `bootstrap`, qemu and the managed runtimes' tools are
//! checked with.

use std::path::{Path, PathBuf};

/// `program` on `PATH`.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| is_executable(p))
    })
}

/// Whether `p` is a file with an execute bit.
#[cfg(unix)]
pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `p` is a file (no execute bits to check).
#[cfg(not(unix))]
pub(crate) fn is_executable(p: &Path) -> bool {
    p.is_file()
}
