//! `--watch`: each function's code folder is looked at a few times a second; when what is in
//! it changes (a handler edited, a bootstrap rebuilt) and has settled, the functions running
//! from it retire their warm processes, the next event starts one on the new code, and one
//! line says which functions reloaded. A cargo-lambda function's crate is watched too: a
//! change to its sources rebuilds it first. Polling, not file events: it works the same for a
//! folder on any file system, a symlinked bootstrap, or a build that replaces files.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::cargo_lambda::RustCrate;
use super::pool::Pool;

/// One watched folder: the functions running from it, the crate to build first (a
/// cargo-lambda function's sources), and the private copy to refresh (a `provided.*`
/// function's folder, see [`super::mirror`]).
struct Watched {
    dir: PathBuf,
    pools: Vec<Weak<Pool>>,
    build: Option<RustCrate>,
    mirror: Option<(PathBuf, PathBuf)>,
}

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

/// Watches every pool's code folder and every crate's sources; `say` gets one line per reload
/// (and a build's output).
/// `mirrors` maps a function (logical id) to its own folder, when it runs from a private copy.
pub fn start(
    pools: &BTreeMap<String, Arc<Pool>>,
    crates: &[RustCrate],
    mirrors: &BTreeMap<String, PathBuf>,
    say: Arc<dyn Fn(&str) + Send + Sync>,
) -> Watcher {
    let mut by_dir: BTreeMap<(PathBuf, Option<PathBuf>), Vec<Weak<Pool>>> = BTreeMap::new();
    for (id, pool) in pools {
        let root = pool.launch().task_root.clone();
        let key = match mirrors.get(id) {
            Some(own) => (own.clone(), Some(root)),
            None => (root, None),
        };
        by_dir.entry(key).or_default().push(Arc::downgrade(pool));
    }
    let mut watched: Vec<Watched> = by_dir
        .into_iter()
        .map(|((dir, copy), pools)| Watched {
            mirror: copy.map(|to| (dir.clone(), to)),
            dir,
            pools,
            build: None,
        })
        .collect();
    for krate in crates {
        if let Some(pool) = pools.get(&krate.function) {
            let copy = pool.launch().task_root.clone();
            watched.push(Watched {
                dir: krate.dir.clone(),
                pools: vec![Arc::downgrade(pool)],
                build: Some(krate.clone()),
                mirror: mirrors.get(&krate.function).map(|own| (own.clone(), copy)),
            });
        }
    }
    Watcher(tokio::spawn(watch(watched, say)))
}

async fn watch(watched: Vec<Watched>, say: Arc<dyn Fn(&str) + Send + Sync>) {
    let look = |w: &Watched| fingerprint(&w.dir);
    let mut seen: Vec<u64> = watched.iter().map(look).collect();
    let mut changing: Vec<Option<u64>> = vec![None; watched.len()];
    loop {
        tokio::time::sleep(INTERVAL).await;
        for (i, w) in watched.iter().enumerate() {
            let now = look(w);
            if now == seen[i] {
                changing[i] = None;
                continue;
            }
            // Reload once the folder has stopped changing (an editor's or a build's several
            // writes are one change).
            if changing[i].replace(now) != Some(now) {
                continue;
            }
            changing[i] = None;
            if let Some(krate) = &w.build
                && let Err(e) = krate.build(&*say).await
            {
                say(&format!("{e} (the last build keeps serving)"));
                seen[i] = look(w);
                continue;
            }
            if let Some((from, to)) = &w.mirror
                && let Err(e) = super::mirror::refresh(from, to)
            {
                say(&format!("cannot copy {} to run it: {e}", from.display()));
                continue;
            }
            let mut names = Vec::new();
            let mut retired = 0;
            for pool in w.pools.iter().filter_map(Weak::upgrade) {
                retired += pool.reload();
                names.push(pool.function().logical_id.clone());
            }
            if names.is_empty() {
                return;
            }
            tracing::info!(functions = %names.join(","), "code changed: reloaded");
            say(&format!(
                "reloaded {} ({} changed; {retired} warm process(es) retired, the next event runs the new code)",
                names.join(", "),
                w.dir.display()
            ));
            // What this reload wrote (a rebuilt bootstrap) is not a change of its own.
            seen = watched.iter().map(look).collect();
        }
    }
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
