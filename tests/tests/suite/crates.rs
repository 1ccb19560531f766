//! The crates meant to be installed (`streamgate-server` and every crate it is built from),
//! as `cargo package` sees them: versions on every workspace dependency, metadata the
//! registry requires, and nothing they need left outside their folders.

use std::process::Command;

use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::workspace_root;

/// `streamgate-server` and what it depends on, in the workspace.
const INSTALLABLE: [&str; 12] = [
    "streamgate-server",
    "streamgate-contract",
    "streamgate-core",
    "streamgate-llm",
    "streamgate-aws",
    "streamgate-auth",
    "streamgate-telemetry",
    "streamgate-sync",
    "streamgate-emulator",
    "streamgate-local-services",
    "streamgate-template-host",
    "streamgate-voice-relay",
];

#[test]
fn the_server_and_its_crates_are_accepted_by_cargo_package() {
    let target = scratch_dir("cargo-package");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace_root())
        .args(["package", "--no-verify", "--allow-dirty", "--quiet"])
        .arg("--target-dir")
        .arg(&target);
    for name in INSTALLABLE {
        cargo.args(["-p", name]);
    }
    let out = cargo.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo package: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in INSTALLABLE {
        let crate_file = target.join(format!(
            "package/{name}-{}.crate",
            env!("CARGO_PKG_VERSION")
        ));
        assert!(crate_file.is_file(), "{} was written", crate_file.display());
    }
}
