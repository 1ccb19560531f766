//! The relay's OCI image (`just image`): pushed to a loopback registry (Debian's
//! `docker-registry`) with skopeo and read back; its platform, user, entry point and port; and
//! its own binary, unpacked from the pulled image's root file system, passing the relay
//! scenarios under qemu-aarch64.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::Value;
use streamgate_contract::relay;
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_tests::packaging::{qemu_aarch64, scratch_dir};
use streamgate_tests::registry::{LocalRegistry, built_image, skopeo_ok};
use streamgate_tests::relay_process::{RelayProcess, drain_scenario, http_get};

const KEY: &str = "sk-image-test";

/// Pushes the built image to a fresh registry and pulls it back into an OCI layout; returns
/// the registry, the image reference and the pulled layout folder.
fn pushed_and_pulled(name: &str) -> (LocalRegistry, String, std::path::PathBuf) {
    let dir = scratch_dir(name);
    let registry = LocalRegistry::start(&dir);
    let reference = format!("docker://{}:t1", registry.reference("streamgate-relay"));
    let layout = format!("oci:{}:latest", built_image().display());
    skopeo_ok(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &layout,
        &reference,
    ]);
    let pulled = dir.join("pulled");
    skopeo_ok(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &reference,
        &format!("oci:{}:t1", pulled.display()),
    ]);
    (registry, reference, pulled)
}

fn blob(layout: &std::path::Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).expect("the blob is in the layout")
}

#[test]
fn the_image_reads_back_from_a_registry_as_linux_arm64_non_root_with_its_entry_point_and_port() {
    let (_registry, reference, _) = pushed_and_pulled("image-inspect");
    let inspect: Value =
        serde_json::from_str(&skopeo_ok(&["inspect", "--tls-verify=false", &reference])).unwrap();
    assert_eq!(inspect["Architecture"], "arm64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1, "one layer");
    let config: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &reference,
    ]))
    .unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    let c = &config["config"];
    assert_eq!(c["User"], relay::USER);
    let uid = c["User"].as_str().unwrap().split(':').next().unwrap();
    assert_ne!(uid, "0", "not root");
    assert_eq!(c["Entrypoint"], serde_json::json!([relay::IMAGE_BINARY]));
    assert!(
        c["ExposedPorts"]
            .get(format!("{}/tcp", relay::PORT))
            .is_some(),
        "{c}"
    );
    let manifest: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &reference,
    ]))
    .unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[tokio::test]
async fn the_binary_unpacked_from_the_pulled_image_passes_the_relay_scenarios() {
    let (_registry, _, pulled) = pushed_and_pulled("image-run");
    // The pulled layout's one layer is the root file system.
    let index: Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(
        &pulled,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let layer = blob(&pulled, manifest["layers"][0]["digest"].as_str().unwrap());
    let rootfs = pulled.parent().unwrap().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(pulled.parent().unwrap().join("layer.tar.gz"), &layer).unwrap();
    let untar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(pulled.parent().unwrap().join("layer.tar.gz"))
        .arg("-C")
        .arg(&rootfs)
        .output()
        .unwrap();
    assert!(
        untar.status.success(),
        "{}",
        String::from_utf8_lossy(&untar.stderr)
    );
    assert!(!rootfs.join("bin/sh").exists(), "no shell in the image");
    let binary = rootfs.join(&relay::IMAGE_BINARY[1..]);
    let elf = std::fs::read(&binary).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 183, "EM_AARCH64");
    // Static: no program interpreter (PT_INTERP) to load.
    assert!(
        !elf.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "the binary is static"
    );

    let (qemu, _) = qemu_aarch64();
    let command: Vec<OsString> = vec![qemu.into(), binary.into()];
    let catalog = rootfs.join(&relay::IMAGE_CATALOG[1..]);
    let mock = MockRealtime::start(KEY).await;
    let url = mock.url();
    let mut relay = RelayProcess::start(
        &command,
        &[
            "--realtime-url",
            &url,
            "--catalog",
            catalog.to_str().unwrap(),
            "--drain-timeout-s",
            "20",
        ],
        &[("OPENAI_API_KEY", KEY)],
    )
    .await
    .unwrap();
    let (status, body) = http_get(&relay.url("/restaurants.json")).await;
    assert_eq!(status, 200);
    assert!(body.contains("r-123"), "the image's catalog: {body}");
    drain_scenario(&mut relay, &mock, Duration::from_secs(20)).await;
}
