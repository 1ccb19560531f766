//! `streamgate-server --template`: a template's WebSocket API served with its functions'
//! real bootstraps under the embedded Lambda Runtime API. `stacks.rs`: the generated chat
//! stack with the packaged (arm64) bootstraps, a hand-written stack that is not ours, what the
//! emulator names at start-up; `processes.rs`: Lambda's process behaviours (warm reuse, cold
//! starts, timeouts, init errors, idle stops). Here: what both use.

mod processes;
mod stacks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use streamgate_template_host::host::{TemplateHost, TemplateOptions};

/// Function output, captured.
#[derive(Clone, Default)]
pub(super) struct Logs(Arc<Mutex<Vec<(String, String)>>>);

impl Logs {
    pub(super) fn sink(&self) -> streamgate_template_host::runtime::pool::LogSink {
        let lines = self.0.clone();
        Arc::new(move |f: &str, l: &str| lines.lock().unwrap().push((f.to_owned(), l.to_owned())))
    }

    pub(super) fn of(&self, function: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

pub(super) struct Running {
    pub(super) server: TemplateHost,
    pub(super) addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(super) async fn start(options: TemplateOptions) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Running::on(options, listener).await
    }

    pub(super) async fn on(options: TemplateOptions, listener: tokio::net::TcpListener) -> Running {
        let addr = listener.local_addr().unwrap();
        let server = TemplateHost::start(options, &listener)
            .await
            .unwrap_or_else(|p| panic!("the template serves: {p:#?}"));
        let task = tokio::spawn(server.gateway.clone().serve(listener));
        Running { server, addr, task }
    }

    pub(super) fn url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.server.api.stage)
    }

    pub(super) fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        streamgate_template_host::host::dynamodb_client(
            self.server
                .dynamodb_endpoint
                .as_deref()
                .expect("a DynamoDB endpoint"),
            "us-east-1",
        )
    }

    pub(super) async fn stop(self) {
        self.server.gateway.shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

pub(super) async fn items(db: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    db.scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items()
        .len()
}

pub(super) async fn wait_for_items(db: &aws_sdk_dynamodb::Client, table: &str, n: usize) {
    for _ in 0..100 {
        if items(db, table).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{table} did not reach {n} items (has {})",
        items(db, table).await
    );
}

pub(super) fn host_architecture() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    }
}

/// A test binary of this package (built with the suite).
pub(super) fn test_binary(name: &str) -> std::path::PathBuf {
    streamgate_tests::template_host::parity_function().with_file_name(name)
}
