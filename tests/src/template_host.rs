//! The second host of the parity suite: the same scripted [`Recorder`] behind real function
//! processes. The harness writes a CloudFormation template for the API under test (its
//! routes, integrations, route responses, authorizer, stage), each function being the
//! `parity-function` bootstrap, and serves it with `streamgate-server`'s template mode:
//! events cross the Lambda Runtime API into a process, which asks the recorder (over HTTP)
//! what to answer.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use streamgate_emulator::api::{ApiRoute, RouteIntegration, reserved};
use streamgate_emulator::{AuthDecision, Authorizer, GatewayConfig, Integration};
use streamgate_template_host::host::{TemplateHost, TemplateOptions};

use crate::packaging::scratch_dir;
use crate::recorder::Recorder;

/// The `parity-function` binary (built with the test suite).
pub fn parity_function() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/");
    let bin = dir.join("parity-function");
    assert!(
        bin.is_file(),
        "{} is missing: build the test binaries first (`cargo build -p streamgate-tests --bins`, which `just test` does)",
        bin.display()
    );
    bin
}

/// Serves the recorder (and an authorizer) to function processes: `POST /invoke` with
/// `{route, event}` and `POST /authorize` with `{event}`.
pub async fn serve_recorder(
    recorder: Arc<Recorder>,
    authorizer: Option<Arc<dyn Authorizer>>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let recorder = recorder.clone();
            let authorizer = authorizer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let recorder = recorder.clone();
                    let authorizer = authorizer.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let request: Value = serde_json::from_slice(&body).unwrap();
                        let answer = match path.as_str() {
                            "/invoke" => invoke(&recorder, &request).await,
                            _ => authorize(authorizer.as_deref(), &request).await,
                        };
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(
                            answer.to_string(),
                        ))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, task)
}

async fn invoke(recorder: &Recorder, request: &Value) -> Value {
    let route = ApiRoute::proxy(request["route"].as_str().unwrap_or_default());
    let outcome = AssertUnwindSafe(recorder.invoke(&route, request["event"].clone()))
        .catch_unwind()
        .await;
    match outcome {
        Ok(Ok(response)) => json!({"response": serde_json::to_value(&response).unwrap()}),
        Ok(Err(error)) => json!({"error": error.to_string()}),
        // What panics in process is a process that dies mid-invocation here.
        Err(_) => json!({"exit": true}),
    }
}

async fn authorize(authorizer: Option<&dyn Authorizer>, request: &Value) -> Value {
    let decision = match authorizer {
        Some(a) => a.authorize(&request["event"]).await,
        None => AuthDecision::Error,
    };
    let policy = |effect: &str, principal: &str, context: Map<String, Value>| {
        json!({
            "principalId": principal,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": request["event"]["methodArn"]}
            ]},
            "context": context,
        })
    };
    match decision {
        AuthDecision::Allow {
            principal_id,
            context,
        } => json!({"response": policy("Allow", &principal_id, context)}),
        AuthDecision::Deny => json!({"response": policy("Deny", "nobody", Map::new())}),
        AuthDecision::Unauthorized => json!({"error": "Unauthorized"}),
        AuthDecision::Error => json!({"error": "the authorizer failed"}),
    }
}

/// A `bootstrap` shell script in `dir/function/` speaking the Runtime API with curl, for
/// functions that misbehave on purpose: `$BEFORE` runs once, then each event's answer is
/// `$ANSWER` after `$EACH` ran. `$DIR` is the folder the test reads (the template's
/// `PARITY_RECORDER_URL`, which the parity harness would use for its recorder).
pub fn script_bootstrap(dir: &Path, before: &str, each: &str, answer: &str) -> PathBuf {
    let function = dir.join("function");
    std::fs::create_dir_all(&function).unwrap();
    let script = format!(
        r#"#!/bin/bash
DIR="$PARITY_RECORDER_URL"
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
echo "$AWS_LAMBDA_RUNTIME_API" > "$DIR/runtime-api"
{before}
while true; do
  curl -sS -D "$DIR/headers-$$" -o "$DIR/event-$$" "$API/invocation/next" || exit 1
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$DIR/headers-$$" | cut -d' ' -f2 | tr -d '\r')
  echo "$id" >> "$DIR/invocations"
  cp "$DIR/event-$$" "$DIR/last-event"
  {each}
  curl -sS -X POST -d '{answer}' "$API/invocation/$id/response" > /dev/null
done
"#
    );
    let path = function.join("bootstrap");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    function
}

pub use crate::packaging::lambda_architecture;

/// A template for `config`'s API where every function is `bootstrap_dir`'s bootstrap.
pub fn template_for(
    config: &GatewayConfig,
    bootstrap_dir: &std::path::Path,
    recorder_url: &str,
    with_authorizer: bool,
) -> Value {
    let architecture = lambda_architecture();
    let mut resources = Map::new();
    resources.insert(
        "Api".into(),
        json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": "parity", "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": "$request.body.action"
        }}),
    );
    let function = |role: &str, route: &str, timeout_s: u64| {
        json!({"Type": "AWS::Lambda::Function", "Properties": {
            "Code": bootstrap_dir.display().to_string(),
            "Handler": "bootstrap",
            "Runtime": "provided.al2023",
            "Architectures": [architecture],
            "MemorySize": 128,
            "Timeout": timeout_s,
            "Role": "arn:aws:iam::123456789012:role/parity",
            "Environment": {"Variables": {
                "PARITY_RECORDER_URL": recorder_url, "PARITY_ROLE": role, "PARITY_ROUTE": route
            }}
        }})
    };
    let arn = |f: &str| json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{f}.Arn}}/invocations")});
    for (i, route) in config.routes.iter().enumerate() {
        let f = format!("Function{i}");
        resources.insert(
            f.clone(),
            function("route", &route.key, route.function_timeout.as_secs().max(1)),
        );
        let mut integration = json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
            "ApiId": {"Ref": "Api"}, "IntegrationType": "AWS_PROXY", "IntegrationUri": arn(&f),
            "TimeoutInMillis": config.integration_timeout(route).as_millis() as u64,
        }});
        if let RouteIntegration::Event(_) = route.integration {
            panic!("the parity suite drives proxy routes");
        }
        integration["Properties"]["IntegrationMethod"] = json!("POST");
        resources.insert(format!("Integration{i}"), integration);
        let mut r = json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": {
            "ApiId": {"Ref": "Api"}, "RouteKey": route.key,
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": format!("Integration{i}")}]]},
        }});
        if with_authorizer && route.key == reserved::CONNECT {
            r["Properties"]["AuthorizationType"] = json!("CUSTOM");
            r["Properties"]["AuthorizerId"] = json!({"Ref": "Authorizer"});
        }
        if route.two_way {
            r["Properties"]["RouteResponseSelectionExpression"] = json!(reserved::DEFAULT);
            resources.insert(
                format!("Response{i}"),
                json!({"Type": "AWS::ApiGatewayV2::RouteResponse", "Properties": {
                    "ApiId": {"Ref": "Api"}, "RouteId": {"Ref": format!("Route{i}")}, "RouteResponseKey": reserved::DEFAULT
                }}),
            );
        }
        resources.insert(format!("Route{i}"), r);
    }
    if with_authorizer {
        resources.insert("AuthorizerFunction".into(), function("authorizer", "", 10));
        resources.insert(
            "Authorizer".into(),
            json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {
                "ApiId": {"Ref": "Api"}, "AuthorizerType": "REQUEST", "Name": "parity",
                "AuthorizerUri": arn("AuthorizerFunction"),
            }}),
        );
    }
    resources.insert(
        "Stage".into(),
        json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": {"Ref": "Api"}, "StageName": config.stage, "AutoDeploy": true
        }}),
    );
    json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
}

/// A template host hosting `recorder` in `parity-function` processes (from a SAM template
/// when `sam`).
pub struct ProcessHost {
    /// The server.
    pub server: TemplateHost,
    _recorder: tokio::task::JoinHandle<()>,
}

impl Drop for ProcessHost {
    fn drop(&mut self) {
        self._recorder.abort();
    }
}

impl ProcessHost {
    /// Starts it on `listener`.
    pub async fn start(
        config: GatewayConfig,
        recorder: &Arc<Recorder>,
        authorizer: Option<Arc<dyn Authorizer>>,
        listener: &tokio::net::TcpListener,
        sam: bool,
    ) -> ProcessHost {
        let with_authorizer = authorizer.is_some();
        let (url, task) = serve_recorder(recorder.clone(), authorizer).await;
        let port = listener.local_addr().unwrap().port();
        let dir = scratch_dir(&format!("parity-host-{port}"));
        let code = dir.join("function");
        std::fs::create_dir_all(&code).unwrap();
        std::os::unix::fs::symlink(parity_function(), code.join("bootstrap")).unwrap();
        let template = dir.join("template.json");
        let text = if sam {
            crate::sam_template::sam_template_for(&config, &code, &url, with_authorizer)
        } else {
            template_for(&config, &code, &url, with_authorizer)
        };
        std::fs::write(&template, text.to_string()).unwrap();
        let mut options = TemplateOptions::new(&template);
        options.gateway = config;
        options.logs = Arc::new(|_: &str, _: &str| {});
        options.parameters = BTreeMap::new();
        let server = TemplateHost::start(options, listener)
            .await
            .unwrap_or_else(|p| panic!("the parity template serves: {p:?}"));
        *recorder.registry_slot() = Some(server.gateway.registry().clone());
        ProcessHost {
            server,
            _recorder: task,
        }
    }
}

/// Every process below `pid` (children, theirs, ...), from `/proc`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat"))
            && let Some((_, rest)) = stat.rsplit_once(") ")
            && let Some(ppid) = rest.split(' ').nth(1).and_then(|v| v.parse().ok())
        {
            parents.entry(ppid).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        for c in parents.get(&p).cloned().unwrap_or_default() {
            out.push(c);
            next.push(c);
        }
    }
    out
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    // A zombie has exited: only its table entry is left until its parent reaps it.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// Points a streamgate stack at a development issuer served on `listener`'s port, as
/// `streamgate-server --template` does with `--auth dev`: its `AuthIssuer` and `AuthAudience`
/// parameters name the issuer, the template host serves it; returns a token for `user`.
pub fn sign_in(
    options: &mut streamgate_template_host::TemplateOptions,
    listener: &tokio::net::TcpListener,
    user: &str,
) -> String {
    use streamgate_emulator::access::{DEV_AUDIENCE, DEV_ISSUER_PATH};
    let port = listener.local_addr().unwrap().port();
    let dev = std::sync::Arc::new(streamgate_auth::dev::DevIssuer::new(
        &format!("http://127.0.0.1:{port}{DEV_ISSUER_PATH}"),
        DEV_AUDIENCE,
        rand::random(),
    ));
    options.local_parameters = [
        ("AuthIssuer".to_owned(), dev.issuer().to_owned()),
        ("AuthAudience".to_owned(), dev.audience().to_owned()),
    ]
    .into();
    options.dev_issuer = Some(dev.clone());
    dev.token(user, std::time::Duration::from_secs(600))
}
