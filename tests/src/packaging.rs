//! What the packaging tests drive: the artifacts `just package` built, S3 and Secrets Manager
//! on loopback (moto's server) for `aws cloudformation package` and `just secret`, the AWS CLI with local credentials, and
//! qemu for arm64 binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use streamgate_contract::Function;

use crate::{python_tool, workspace_root};

/// The arm64 `bootstrap` of `function` that `just package` wrote.
///
/// # Panics
/// When it is missing, with the command that builds it.
pub fn packaged_bootstrap(function: Function) -> PathBuf {
    let path = streamgate_deploy::bootstrap_path(&workspace_root(), function);
    assert!(
        path.is_file(),
        "{} is not packaged: run `just package arm64` (`just test` does)",
        path.display()
    );
    path
}

/// moto's server from `.venv` on loopback (it answers for S3, Secrets Manager and the other
/// services it mocks on one port), stopped on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MotoServer {
    /// Starts the server on a free port and waits until it answers.
    ///
    /// # Panics
    /// When moto is not installed or does not answer within 20 s.
    pub fn start() -> MotoServer {
        let port = crate::free_port();
        let child = Command::new(python_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (run `just setup`)");
        let moto = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS CLI from `.venv`, with local credentials, its S3 calls sent here, no instance
    /// metadata lookups and an empty home (no user configuration).
    pub fn aws(&self, home: &Path) -> Command {
        let mut cmd = aws_cli(home);
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_S3", self.endpoint());
        cmd
    }
}

/// The AWS CLI from `.venv` with nothing but `home` as its home: no credentials, region or
/// configuration unless the caller adds them, and no instance metadata lookups.
pub fn aws_cli(home: &Path) -> Command {
    let mut cmd = Command::new(python_tool("aws"));
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `qemu-aarch64`, which runs arm64 binaries here.
///
/// # Panics
/// When it is not installed, with the setup step.
pub fn qemu_aarch64() -> (PathBuf, PathBuf) {
    let qemu = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("qemu-aarch64"))
                .find(|q| q.is_file())
        })
        .unwrap_or_else(|| {
            panic!("qemu-aarch64 is not installed: run `just setup` (apt-get install qemu-user)")
        });
    let sysroot = PathBuf::from("/usr/aarch64-linux-gnu");
    assert!(
        sysroot.join("lib/ld-linux-aarch64.so.1").exists(),
        "arm64 libraries are not installed: run `just setup` (apt-get install libc6-arm64-cross)"
    );
    (qemu, sysroot)
}

/// A fresh empty folder under `target/` (removed first if it exists).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = workspace_root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// This machine's architecture as Lambda names it (`Architectures`).
pub fn lambda_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}
