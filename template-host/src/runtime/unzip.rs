//! Unpacking a function's zip as Lambda does: the files' Unix modes kept, symbolic links kept
//! as links, and a zip that would unzip past Lambda's 250 MB refused before anything is
//! written (as Lambda refuses it at deploy time). Entries that name a place outside the
//! folder are skipped, and links are made only after every file is written, so no entry is
//! ever written through a link.

use std::io::Read;
use std::path::Path;

/// Lambda's limit on a function's code, unzipped (250 MB).
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

/// The file-type bits of a Unix mode that mark a symbolic link.
const SYMLINK: u32 = 0o120_000;
const FILE_TYPE: u32 = 0o170_000;

/// The longest link target read from an entry.
const MAX_LINK_BYTES: u64 = 4096;

/// Unpacks `zip_path` into `into`.
pub(super) fn unzip(zip_path: &Path, into: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(zip_path)?;
    let mut archive = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(std::io::Error::other)?;
        total = total.saturating_add(entry.size());
    }
    if total > MAX_UNZIPPED_BYTES {
        return Err(std::io::Error::other(format!(
            "it unzips to {total} bytes; Lambda's limit is {MAX_UNZIPPED_BYTES} (250 MB)"
        )));
    }
    std::fs::create_dir_all(into)?;
    let mut written: u64 = 0;
    let mut links = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(std::io::Error::other)?;
        let Some(relative) = entry.enclosed_name() else {
            continue;
        };
        let out = into.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&out)?;
            continue;
        }
        if entry.unix_mode().is_some_and(|m| m & FILE_TYPE == SYMLINK) {
            let mut target = String::new();
            (&mut entry)
                .take(MAX_LINK_BYTES)
                .read_to_string(&mut target)?;
            links.push((out, target));
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut target = std::fs::File::create(&out)?;
        // The declared size can lie; what is written is held to it too.
        let budget = MAX_UNZIPPED_BYTES.saturating_sub(written);
        let copied = std::io::copy(&mut (&mut entry).take(budget + 1), &mut target)?;
        written += copied;
        if copied > budget {
            return Err(std::io::Error::other(format!(
                "it unzips past Lambda's limit of {MAX_UNZIPPED_BYTES} bytes (250 MB)"
            )));
        }
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
    }
    // Links last: nothing is written after them, so none is followed here.
    for (out, target) in links {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if out.symlink_metadata().is_ok() {
            continue;
        }
        std::os::unix::fs::symlink(&target, &out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn links_are_kept_as_links_and_never_written_through() {
        let root = std::env::temp_dir().join(format!("streamgate-unzip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let zip_path = root.join("code.zip");
        let outside = root.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let file = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        zip.start_file("bin/tool", file).unwrap();
        zip.write_all(b"#!/bin/sh\necho tool\n").unwrap();
        zip.add_symlink("bootstrap", "bin/tool", file).unwrap();
        // A link out of the folder, then a file "through" it: the file must not land outside.
        zip.add_symlink("escape", outside.display().to_string(), file)
            .unwrap();
        zip.start_file("escape/planted", file).unwrap();
        zip.write_all(b"x").unwrap();
        zip.finish().unwrap();
        let into = root.join("unpacked");
        unzip(&zip_path, &into).unwrap();
        let link = into.join("bootstrap");
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("bin/tool"));
        assert_eq!(
            std::fs::read_to_string(&link).unwrap(),
            "#!/bin/sh\necho tool\n"
        );
        assert!(
            !outside.join("planted").exists(),
            "nothing written through a link"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
