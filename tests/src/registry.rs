//! Debian's `docker-registry` (the reference registry server) on loopback, and `skopeo`, which
//! pushes OCI layouts to it and reads images back, as `just deploy-relay` does with ECR.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A registry on a free loopback port, with its storage in a scratch folder; stopped on drop.
pub struct LocalRegistry {
    child: Child,
    port: u16,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalRegistry {
    /// Starts it and waits until it answers.
    ///
    /// # Panics
    /// When `docker-registry` is not installed (with the setup step) or does not answer.
    pub fn start(dir: &Path) -> LocalRegistry {
        let port = crate::free_port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("docker-registry does not start ({e}): run `just setup` (apt-get install docker-registry)")
            });
        let registry = LocalRegistry { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:PORT/{name}`.
    pub fn reference(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }
}

/// Runs `skopeo ARGS` (plain HTTP to loopback registries).
///
/// # Panics
/// When skopeo is not installed (with the setup step).
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("skopeo does not run ({e}): run `just setup` (apt-get install skopeo)")
        })
}

/// `skopeo ARGS`, which must succeed; its standard output.
pub fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image layout `just image` writes.
///
/// # Panics
/// When it is missing, with the command that builds it.
pub fn built_image() -> PathBuf {
    let dir = crate::workspace_root().join("target/image/oci");
    assert!(
        dir.join("index.json").is_file(),
        "{} holds no image: run `just image` (`just test` does)",
        dir.display()
    );
    dir
}
