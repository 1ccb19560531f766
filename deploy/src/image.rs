//! The relay's container image as an OCI image layout, built without a Docker daemon or a base
//! image: one layer holding the static binary, the catalog, the CA bundle and a passwd entry
//! for the non-root user; a config naming the user, entry point, port and environment. The
//! same inputs give the same bytes (timestamps and owners are fixed), so the digest names the
//! contents.
//!
//! [`build`] is pure: it returns the files of the layout; [`write()`] puts them on disk.
//! `skopeo copy oci:DIR:TAG docker://...` pushes the result.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use streamgate_contract::relay;

/// What goes into the image.
pub struct ImageInputs<'a> {
    /// The relay binary (static, for `architecture`).
    pub binary: &'a [u8],
    /// The catalog served when no S3 object is named.
    pub catalog: &'a [u8],
    /// PEM CA certificates, for the relay's HTTPS calls (S3, the Realtime service).
    pub ca_certificates: &'a [u8],
    /// `arm64` or `amd64` (OCI's names).
    pub architecture: &'a str,
    /// The tag written in the layout's index.
    pub tag: &'a str,
}

/// An image layout: its files (path relative to the layout folder, bytes), and the digest of
/// its manifest (what a task definition names).
pub struct Layout {
    /// The files.
    pub files: Vec<(String, Vec<u8>)>,
    /// `sha256:...` of the manifest.
    pub manifest_digest: String,
}

/// Where the CA bundle sits in the image (the path rustls' native roots and OpenSSL read).
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn uid_gid() -> (u64, u64) {
    let (uid, gid) = relay::USER.split_once(':').expect("USER is uid:gid");
    (
        uid.parse().expect("USER's uid is a number"),
        gid.parse().expect("USER's gid is a number"),
    )
}

/// The layer: an uncompressed tar of the root file system.
pub fn layer_tar(inputs: &ImageInputs) -> std::io::Result<Vec<u8>> {
    let (uid, gid) = uid_gid();
    let passwd = format!(
        "root:x:0:0:root:/:/sbin/nologin\nrelay:x:{uid}:{gid}:streamgate relay:/:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nrelay:x:{gid}:\n");
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, data)
    };
    for (path, mode) in [
        ("etc/", 0o755),
        ("etc/ssl/", 0o755),
        ("etc/ssl/certs/", 0o755),
        ("etc/streamgate/", 0o755),
        ("tmp/", 0o1777),
    ] {
        dir(&mut tar, path, mode)?;
    }
    file(&mut tar, "etc/passwd", 0o644, passwd.as_bytes())?;
    file(&mut tar, "etc/group", 0o644, group.as_bytes())?;
    file(&mut tar, &CA_BUNDLE[1..], 0o644, inputs.ca_certificates)?;
    file(&mut tar, &relay::IMAGE_CATALOG[1..], 0o644, inputs.catalog)?;
    file(&mut tar, &relay::IMAGE_BINARY[1..], 0o755, inputs.binary)?;
    tar.into_inner()
}

/// The image config (OCI image spec): platform, user, entry point, port, environment.
pub fn config(inputs: &ImageInputs, diff_id: &str) -> Value {
    let port = format!("{}/tcp", relay::PORT);
    json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": inputs.architecture,
        "os": "linux",
        "config": {
            "User": relay::USER,
            "Entrypoint": [relay::IMAGE_BINARY],
            "ExposedPorts": {port: {}},
            "Env": [
                format!("{}=0.0.0.0", relay::env::HOST),
                format!("{}={}", relay::env::PORT, relay::PORT),
                format!("{}={}", relay::env::CATALOG, relay::IMAGE_CATALOG),
                format!("{}=json", relay::env::LOG_FORMAT),
                format!("SSL_CERT_FILE={CA_BUNDLE}"),
            ],
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.title": "streamgate-relay",
                "org.opencontainers.image.description": "The streamgate voice waiter (OpenAI Realtime relay)",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "streamgate-deploy image", "comment": "one layer: the static relay binary, its catalog and CA certificates"}],
    })
}

/// Builds the layout.
pub fn build(inputs: &ImageInputs) -> std::io::Result<Layout> {
    let tar = layer_tar(inputs)?;
    let diff_id = sha256(&tar);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    let layer = gz.finish()?;
    let config = serde_json::to_vec(&config(inputs, &diff_id)).expect("JSON");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha256(&layer),
            "size": layer.len(),
        }],
    }))
    .expect("JSON");
    let manifest_digest = sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": inputs.architecture, "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": inputs.tag},
        }],
    }))
    .expect("JSON");
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &sha256(bytes)["sha256:".len()..]);
    let files = vec![
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_owned(), index),
        (blob(&layer), layer),
        (blob(&config), config),
        (blob(&manifest), manifest),
    ];
    Ok(Layout {
        files,
        manifest_digest,
    })
}

/// Writes a layout into `dir` (emptied first).
pub fn write(layout: &Layout, dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    for (path, bytes) in &layout.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> ImageInputs<'static> {
        ImageInputs {
            binary: b"\x7fELF binary",
            catalog: b"{}",
            ca_certificates: b"-----BEGIN CERTIFICATE-----",
            architecture: "arm64",
            tag: "t1",
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_digest_and_blobs_are_named_by_their_digest() {
        let a = build(&inputs()).unwrap();
        let b = build(&inputs()).unwrap();
        assert_eq!(a.manifest_digest, b.manifest_digest);
        for (path, bytes) in &a.files {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256(bytes), format!("sha256:{hex}"));
            }
        }
        let other = ImageInputs {
            binary: b"\x7fELF other",
            ..inputs()
        };
        assert_ne!(build(&other).unwrap().manifest_digest, a.manifest_digest);
    }

    #[test]
    fn the_layer_holds_the_binary_executable_and_nothing_runs_as_root() {
        let tar = layer_tar(&inputs()).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            if path == relay::IMAGE_BINARY[1..] {
                assert_eq!(mode, 0o755);
            }
            seen.push(path);
        }
        assert!(seen.contains(&relay::IMAGE_BINARY[1..].to_owned()));
        assert!(seen.contains(&relay::IMAGE_CATALOG[1..].to_owned()));
        assert!(!seen.iter().any(|p| p.starts_with("bin/")), "no shell");
        let config = config(&inputs(), "sha256:x");
        assert_eq!(config["config"]["User"], relay::USER);
        assert!(!relay::USER.starts_with("0:"));
        assert_eq!(config["config"]["Entrypoint"][0], relay::IMAGE_BINARY);
    }
}
