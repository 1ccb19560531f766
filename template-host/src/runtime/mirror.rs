//! A private copy of a `provided.*` function's folder, for `--watch`: the processes run the
//! copy, so a rebuild (`cargo lambda build` writing over `target/lambda/<name>/bootstrap`) is
//! never refused with "Text file busy" while a warm process runs the old bootstrap. Files are
//! replaced by rename, which a running program does not notice.

use std::path::Path;

/// Copies `from` into `to` (created if needed), each file written beside its place and renamed
/// over it.
pub fn refresh(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        // A linked folder stays a link (its contents are not the function's own to copy); a
        // linked file is copied as the file it names (a linked bootstrap that is rebuilt).
        let meta = std::fs::metadata(&source)?;
        if meta.is_dir() && entry.file_type()?.is_symlink() {
            if target.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(std::fs::canonicalize(&source)?, &target)?;
            }
            continue;
        }
        if meta.is_dir() {
            refresh(&source, &target)?;
            continue;
        }
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(entry.file_name());
        temp_name.push(".streamgate-new");
        let temp = to.join(temp_name);
        std::fs::copy(&source, &temp)?;
        std::fs::rename(&temp, &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_program_is_replaced_by_rename() {
        let root = std::env::temp_dir().join(format!("streamgate-mirror-{}", std::process::id()));
        let (from, to) = (root.join("from"), root.join("to"));
        std::fs::create_dir_all(from.join("lib")).unwrap();
        std::fs::write(from.join("bootstrap"), "one").unwrap();
        std::fs::write(from.join("lib/data"), "x").unwrap();
        refresh(&from, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("bootstrap")).unwrap(),
            "one"
        );
        assert_eq!(std::fs::read_to_string(to.join("lib/data")).unwrap(), "x");
        // Held open (as a running program's file is) while it is replaced.
        let held = std::fs::File::open(to.join("bootstrap")).unwrap();
        std::fs::write(from.join("bootstrap"), "two").unwrap();
        refresh(&from, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("bootstrap")).unwrap(),
            "two"
        );
        drop(held);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_linked_folder_stays_a_link_and_a_linked_file_is_copied() {
        let root =
            std::env::temp_dir().join(format!("streamgate-mirror-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (from, to, big) = (root.join("from"), root.join("to"), root.join("big"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&big).unwrap();
        std::fs::write(big.join("model"), "weights").unwrap();
        std::fs::write(root.join("built"), "bin").unwrap();
        std::os::unix::fs::symlink(&big, from.join("data")).unwrap();
        std::os::unix::fs::symlink("../built", from.join("bootstrap")).unwrap();
        refresh(&from, &to).unwrap();
        let data = to.join("data");
        assert!(data.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(data.join("model")).unwrap(),
            "weights"
        );
        let bootstrap = to.join("bootstrap");
        assert!(
            !bootstrap
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(bootstrap).unwrap(), "bin");
        refresh(&from, &to).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
