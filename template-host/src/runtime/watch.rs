//! `--watch`: each function's code folder is looked at a few times a second; when what is in
//! it changes (a handler edited, a bootstrap rebuilt) and has settled, the functions running
//! from it retire their warm processes, the next event starts one on the new code, and one
//! line says which functions reloaded. Polling, not file events: it works the same for a
//! folder on any file system, a symlinked bootstrap, or a build that replaces files.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::pool::Pool;

/// How often the folders are looked at.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// Files looked at per folder at most (a folder past it is watched on its first files only).
const MAX_ENTRIES: usize = 50_000;

/// Folders whose contents are not walked (their own timestamp still counts, so a package
/// added under `node_modules` is seen).
const NOT_WALKED: &[&str] = &["node_modules", "__pycache__", "target", ".git", ".aws-sam"];

/// Stops watching when dropped.
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches every pool's code folder; `say` gets one line per reload.
pub fn start(pools: &BTreeMap<String, Arc<Pool>>, say: Arc<dyn Fn(&str) + Send + Sync>) -> Watcher {
    let mut folders: BTreeMap<PathBuf, Vec<Weak<Pool>>> = BTreeMap::new();
    for pool in pools.values() {
        folders
            .entry(pool.launch().task_root.clone())
            .or_default()
            .push(Arc::downgrade(pool));
    }
    Watcher(tokio::spawn(async move {
        let mut seen: BTreeMap<PathBuf, u64> = folders
            .keys()
            .map(|dir| (dir.clone(), fingerprint(dir)))
            .collect();
        let mut changing: BTreeMap<PathBuf, u64> = BTreeMap::new();
        loop {
            tokio::time::sleep(INTERVAL).await;
            for (dir, pools) in &folders {
                let now = fingerprint(dir);
                if now == seen[dir] {
                    changing.remove(dir);
                    continue;
                }
                // Reload once the folder has stopped changing (an editor's or a build's
                // several writes are one change).
                if changing.insert(dir.clone(), now) != Some(now) {
                    continue;
                }
                changing.remove(dir);
                seen.insert(dir.clone(), now);
                let mut names = Vec::new();
                let mut retired = 0;
                for pool in pools.iter().filter_map(Weak::upgrade) {
                    retired += pool.reload();
                    names.push(pool.function().logical_id.clone());
                }
                if names.is_empty() {
                    return;
                }
                let line = format!(
                    "reloaded {} ({} changed; {retired} warm process(es) retired, the next event runs the new code)",
                    names.join(", "),
                    dir.display()
                );
                tracing::info!(functions = %names.join(","), "code changed: reloaded");
                say(&line);
            }
        }
    }))
}

/// What a folder holds, as one number: every file's path, size and modification time.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut entries = 0usize;
    while let Some(folder) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut children: Vec<_> = read.flatten().collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            entries += 1;
            if entries > MAX_ENTRIES {
                return hasher.finish();
            }
            let path = child.path();
            // Follows symlinks: a linked bootstrap that is rebuilt counts.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            path.hash(&mut hasher);
            meta.len().hash(&mut hasher);
            if let Ok(modified) = meta.modified() {
                modified.hash(&mut hasher);
            }
            let name = child.file_name();
            let walked = !NOT_WALKED.iter().any(|n| name == *n);
            if meta.is_dir() && walked {
                stack.push(path);
            }
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_fingerprint_moves_with_its_files_only() {
        let dir = std::env::temp_dir().join(format!("streamgate-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("node_modules/a")).unwrap();
        std::fs::write(dir.join("src/app.js"), "1").unwrap();
        let first = fingerprint(&dir);
        assert_eq!(first, fingerprint(&dir), "nothing changed");
        std::fs::write(dir.join("src/app.js"), "22").unwrap();
        let second = fingerprint(&dir);
        assert_ne!(first, second, "an edited file");
        std::fs::write(dir.join("src/new.js"), "").unwrap();
        assert_ne!(second, fingerprint(&dir), "a new file");
        let third = fingerprint(&dir);
        std::fs::write(dir.join("node_modules/a/x.js"), "").unwrap();
        assert_eq!(
            third,
            fingerprint(&dir),
            "node_modules' insides are not walked"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
