//! The files a template host works with besides the template: `sam build`'s output used in
//! its place, the private copies `--watch` runs `provided.*` functions from, and the scratch
//! folders of servers that are gone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::StartError;
use crate::template;

/// With `--watch`, each `provided.*` function in a folder runs from a private copy (a rebuild
/// can then replace the bootstrap a warm process runs); returns each one's own folder.
pub(super) fn mirror_bootstraps(
    functions: &mut BTreeMap<String, template::FunctionDef>,
    scratch: &std::path::Path,
) -> Result<BTreeMap<String, PathBuf>, StartError> {
    let mut own = BTreeMap::new();
    for (id, f) in functions.iter_mut() {
        let template::Code::Path(dir) = &f.code else {
            continue;
        };
        if f.family != template::rules::Family::Provided || !dir.is_dir() {
            continue;
        }
        let copy = scratch.join(format!("{id}-watched"));
        crate::runtime::mirror::refresh(dir, &copy).map_err(|e| {
            StartError::one(format!(
                "{id}: cannot copy {} to run it: {e}",
                dir.display()
            ))
        })?;
        own.insert(id.clone(), dir.clone());
        f.code = template::Code::Path(copy);
    }
    Ok(own)
}

/// `sam build`'s output beside `template` (`.aws-sam/build/template.yaml`), used in its place
/// when present, as `sam local` does.
pub(super) fn sam_build_output(template: &std::path::Path) -> Option<PathBuf> {
    if template.components().any(|c| c.as_os_str() == ".aws-sam") {
        return None;
    }
    let built = template
        .parent()?
        .join(".aws-sam")
        .join("build")
        .join("template.yaml");
    built.is_file().then_some(built)
}

/// Makes the scratch folder `dir` for this user alone (mode 0700: unpacked code and inline
/// code are nobody else's to read). A folder already there under that name is removed first
/// when it is this user's (a server with the same pid, gone), and refused when it is not (a
/// shared temporary folder where another user made it first, to read or plant code).
pub(super) fn private_scratch(dir: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if let Ok(meta) = dir.symlink_metadata() {
        let ours = meta.is_dir() && meta.uid() == streamgate_emulator::callers::own_uid();
        if !ours {
            return Err(StartError::one(format!(
                "{} already exists and is not this user's folder: remove it, or set TMPDIR to a folder of your own",
                dir.display()
            )));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| StartError::one(format!("cannot create {}: {e}", dir.display())))
}

/// Scratch folders are named `{SCRATCH_PREFIX}{pid}-{api id}`.
pub(super) const SCRATCH_PREFIX: &str = "streamgate-functions-";

/// Removes the scratch folders of servers that are no longer running (one that was killed
/// could not remove its own).
pub(super) fn remove_stale_scratch(temp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !running {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamgate_emulator::ids;

    #[test]
    fn scratch_folders_of_servers_that_are_gone_are_removed() {
        let temp = std::env::temp_dir().join(format!(
            "streamgate-scratch-test-{}-{}",
            std::process::id(),
            ids::new_api_id()
        ));
        // A pid above the kernel's largest is never running; this process is.
        let gone = temp.join(format!("{SCRATCH_PREFIX}4194305-abc"));
        let ours = temp.join(format!("{SCRATCH_PREFIX}{}-abc", std::process::id()));
        let other = temp.join("unrelated-4194305-abc");
        for dir in [&gone, &ours, &other] {
            std::fs::create_dir_all(dir.join("Function")).unwrap();
        }
        remove_stale_scratch(&temp);
        assert!(
            !gone.exists(),
            "a killed server's unpacked zips are removed"
        );
        assert!(ours.exists(), "a running server's are kept");
        assert!(other.exists(), "other folders are left alone");
        let _ = std::fs::remove_dir_all(&temp);
    }

    #[test]
    fn a_scratch_folder_is_private_and_another_users_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("streamgate-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("left")).unwrap();
        private_scratch(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(
            !dir.join("left").exists(),
            "a folder of our own left there is made anew"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // A link where the folder should be is not followed.
        let target =
            std::env::temp_dir().join(format!("streamgate-private-t-{}", std::process::id()));
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let refused = private_scratch(&dir).unwrap_err();
        assert!(
            refused.to_string().contains("not this user's folder"),
            "{refused}"
        );
        std::fs::remove_file(&dir).unwrap();
        std::fs::remove_dir_all(&target).unwrap();
    }
}
