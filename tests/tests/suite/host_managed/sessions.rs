//! A Python and a Node.js function whose init starts a plain child, a child in a new session
//! (`start_new_session=True`, `detached: true`) and a daemon whose parent exits at once: all
//! three go with an idle stop, as everything in a Lambda sandbox goes with it (`/proc`, by
//! the pids they wrote).

use std::time::Duration;

use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::template_host::alive;

use super::{handshake_status, serve};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      StageName: dev
      Routes:
        $connect: {FunctionArn: !GetAtt Connect.Arn}
  Connect:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: RUNTIME
      CodeUri: app/
      Handler: spawn.handler
      Environment:
        Variables:
          OUT: OUT_DIR
"#;

const SPAWN: &str = r#"import os, subprocess

OUT = os.environ["OUT"]

def note(name, pid):
    with open(os.path.join(OUT, name), "w") as f:
        f.write(str(pid))

note("plain", subprocess.Popen(["sleep", "1000"]).pid)
note("session", subprocess.Popen(["sleep", "1000"], start_new_session=True).pid)
middle = os.fork()
if middle == 0:
    os.setsid()
    if os.fork() == 0:
        note("daemon", os.getpid())
        os.execvp("sleep", ["sleep", "1000"])
    os._exit(0)
os.waitpid(middle, 0)

def handler(event, context):
    return {"statusCode": 200}
"#;

const SPAWN_JS: &str = r#"const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const OUT = process.env.OUT;
const note = (name, pid) => fs.writeFileSync(path.join(OUT, name), String(pid));

note('plain', spawn('sleep', ['1000'], { stdio: 'ignore' }).pid);
note('session', spawn('sleep', ['1000'], { stdio: 'ignore', detached: true }).pid);
spawn('sh', ['-c', 'sleep 1000 & echo $! > "$OUT/daemon"'], { stdio: 'ignore', detached: true });

exports.handler = async () => ({ statusCode: 200 });
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_python_function_starts_in_a_new_session_goes_with_an_idle_stop() {
    goes_with_an_idle_stop("python", "python3.12", "spawn.py", SPAWN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_node_function_starts_detached_goes_with_an_idle_stop() {
    goes_with_an_idle_stop("node", "nodejs20.x", "spawn.js", SPAWN_JS).await;
}

async fn goes_with_an_idle_stop(name: &str, runtime: &str, file: &str, code: &str) {
    let dir = scratch_dir(&format!("managed-{name}-sessions"));
    let out = dir.join("out");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(dir.join("app").join(file), code).unwrap();
    let template = TEMPLATE
        .replace("OUT_DIR", &out.display().to_string())
        .replace("RUNTIME", runtime);
    std::fs::write(dir.join("template.yaml"), template).unwrap();
    let (running, _, _) = serve(dir.join("template.yaml")).await;
    assert_eq!(handshake_status(&running.url()).await, 101);
    let mut pids = Vec::new();
    for name in ["plain", "session", "daemon"] {
        let path = out.join(name);
        let mut pid = None;
        for _ in 0..100 {
            if let Some(p) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                pid = Some(p);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = pid.unwrap_or_else(|| panic!("{name} was not started"));
        assert!(alive(pid), "{name} runs");
        pids.push(pid);
    }
    running.server.host.stop_all_idle();
    for _ in 0..100 {
        if pids.iter().all(|p| !alive(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(
        left.is_empty(),
        "still running after an idle stop: {left:?}"
    );
    running.stop().await;
}
