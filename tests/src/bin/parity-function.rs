//! A `provided.al2023` function for the parity suite, speaking the Lambda Runtime API
//! directly (no runtime library): each event goes to the test's recorder
//! (`PARITY_RECORDER_URL`), which says what to answer: a proxy response, an error (posted
//! to `/error`), or an exit mid-invocation (a crash). `PARITY_ROLE=authorizer` sends the
//! event to the recorder's authorizer instead. `PARITY_INIT_ERROR` reports `/init/error`.

#![allow(
    clippy::unwrap_used,
    reason = "a test tool: a step that fails ends the run, saying where"
)]

use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let base = format!("http://{api}/2018-06-01/runtime");
    let http = reqwest::Client::new();
    if let Ok(message) = std::env::var("PARITY_INIT_ERROR") {
        let _ = http
            .post(format!("{base}/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Parity.InitError")
            .json(&json!({"errorType": "Parity.InitError", "errorMessage": message}))
            .send()
            .await;
        std::process::exit(1);
    }
    let recorder = std::env::var("PARITY_RECORDER_URL").expect("PARITY_RECORDER_URL");
    let role = std::env::var("PARITY_ROLE").unwrap_or_default();
    let route = std::env::var("PARITY_ROUTE").unwrap_or_default();
    loop {
        let next = http
            .get(format!("{base}/invocation/next"))
            .send()
            .await
            .expect("the Runtime API answers /next");
        let id = next
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id")
            .to_owned();
        let event: Value = next.json().await.expect("a JSON event");
        let (path, request) = if role == "authorizer" {
            ("authorize", json!({"event": event}))
        } else {
            ("invoke", json!({"route": route, "event": event}))
        };
        let answer: Value = http
            .post(format!("{recorder}/{path}"))
            .json(&request)
            .send()
            .await
            .expect("the recorder answers")
            .json()
            .await
            .expect("the recorder answers JSON");
        if answer["exit"] == true {
            std::process::exit(3);
        }
        if let Some(message) = answer["error"].as_str() {
            http.post(format!("{base}/invocation/{id}/error"))
                .header("Lambda-Runtime-Function-Error-Type", "Parity.Error")
                .json(&json!({"errorType": "Parity.Error", "errorMessage": message}))
                .send()
                .await
                .expect("/error is accepted");
            continue;
        }
        http.post(format!("{base}/invocation/{id}/response"))
            .json(&answer["response"])
            .send()
            .await
            .expect("/response is accepted");
    }
}
