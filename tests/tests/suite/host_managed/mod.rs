//! The stacks people already have under `streamgate-server --template`: SAM templates with
//! Node.js (ES modules and CommonJS) and Python functions, a CDK app's `cdk.out`, SAM's own
//! WebSocket API with a Lambda authorizer, handlers that throw or time out, `--watch`. The
//! fixtures in `tests/fixtures/` are copied to a scratch folder and served as they are; the
//! SDKs come from the runtime cache under `target/` (installed by the first test that needs
//! one, with npm and pip from the package registries).
//! `node.rs`: the Node.js stacks; `python.rs`; `cdk.rs`; `watch.rs`; `startup.rs`: the
//! server binary's banner and its refusal without `node` or `python3`.

mod cdk;
mod node;
mod python;
mod sessions;
mod startup;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::dynamodb_local::jar_dir;
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::workspace_root;

use super::host_template::{Logs, Running};

/// The runtime cache the tests share (kept between runs, like a user's).
pub(super) fn cache_dir() -> PathBuf {
    workspace_root().join("target/streamgate-cache")
}

/// `tests/fixtures/<name>` copied to a fresh scratch folder (`as_name`).
pub(super) fn fixture(name: &str, as_name: &str) -> PathBuf {
    let dir = scratch_dir(as_name);
    copy_tree(&workspace_root().join("tests/fixtures").join(name), &dir);
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_name() == "node_modules" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Start-up lines (an SDK being installed, a reload), captured.
#[derive(Clone, Default)]
pub(super) struct Said(Arc<Mutex<Vec<String>>>);

impl Said {
    pub(super) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Options for `template` with the shared cache, DynamoDB Local and captured output.
pub(super) fn options(template: PathBuf, logs: &Logs, said: &Said) -> TemplateOptions {
    let mut options = TemplateOptions::new(template);
    options.cache_dir = cache_dir();
    options.dynamodb_local_dir = Some(jar_dir());
    options.logs = logs.sink();
    let lines = said.0.clone();
    options.progress = Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_owned()));
    options
}

/// `template` served with [`options`], its function output and start-up lines captured.
pub(super) async fn serve(template: PathBuf) -> (Running, Logs, Said) {
    let (logs, said) = (Logs::default(), Said::default());
    let running = Running::start(options(template, &logs, &said)).await;
    (running, logs, said)
}

/// The problems a template is refused with.
pub(super) async fn refused(options: TemplateOptions) -> Vec<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    match TemplateHost::start(options, &listener).await {
        Ok(_) => panic!("the template was served"),
        Err(problems) => problems.into(),
    }
}

/// The status API Gateway answers a handshake with.
pub(super) async fn handshake_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("no HTTP answer: {e}"),
    }
}

/// Waits until `check` holds (5 s at most).
pub(super) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 5 s");
}
