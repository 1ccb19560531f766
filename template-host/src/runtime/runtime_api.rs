//! The Lambda Runtime API one function process talks to, as Lambda documents it
//! (`2018-06-01`): `GET /runtime/invocation/next` (a long poll that hands over the next
//! event with its `Lambda-Runtime-*` headers), `POST /runtime/invocation/{id}/response`,
//! `POST /runtime/invocation/{id}/error` and `POST /runtime/init/error`. Each process has its
//! own endpoint (`AWS_LAMBDA_RUNTIME_API`), so what it posts is tied to it. Only sockets of
//! this server's user are served, and only with a `Host` that names this machine
//! ([`streamgate_emulator::callers`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use streamgate_emulator::callers;
use streamgate_sync::Locked;

/// Lambda's limit on a synchronous response (6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime/";

/// How an invocation ended, as the process reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// `/response`: the payload.
    Response(Bytes),
    /// `/error`: the function's error (`errorType`, `errorMessage`).
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// `/init/error`, or an error before the first `/next`.
    InitError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
}

/// One invocation handed to a process.
#[derive(Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms` (epoch ms).
    pub deadline_ms: i64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
    /// The event.
    pub event: Value,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Reported>,
}

struct State {
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    current: Mutex<Option<(String, oneshot::Sender<Reported>)>>,
    /// Set when the process first asks for work (the end of its init).
    first_next: watch::Sender<Option<Instant>>,
    init_error: Mutex<Option<Reported>>,
}

/// A running Runtime API endpoint for one process.
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Starts an endpoint on a free loopback port; invocations come from `invocations`.
    pub async fn start(invocations: mpsc::Receiver<Invocation>) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            next: tokio::sync::Mutex::new(invocations),
            current: Mutex::new(None),
            first_next: watch::channel(None).0,
            init_error: Mutex::new(None),
        });
        let served = state.clone();
        let task = tokio::spawn(async move {
            let connections = tokio_util::task::TaskTracker::new();
            let own = callers::own_uid();
            while let Ok((stream, peer)) = listener.accept().await {
                // Only this server's user: another one must not take or answer invocations.
                let owner = callers::peer_uid(addr, peer);
                if owner != Some(own) {
                    tracing::warn!(?owner, "refused a Runtime API connection from another user");
                    connections.spawn(refuse(stream));
                    continue;
                }
                let state = served.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi { addr, state, task })
    }

    /// Resolves when the process first calls `/next` (its init is done).
    pub async fn initialized(&self) -> Instant {
        let mut rx = self.state.first_next.subscribe();
        loop {
            if let Some(at) = *rx.borrow_and_update() {
                return at;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The init error the process reported, if any.
    pub fn init_error(&self) -> Option<Reported> {
        self.state.init_error.locked().clone()
    }

    /// Takes back the invocation in flight (the process died with it).
    pub fn take_current(&self) -> Option<oneshot::Sender<Reported>> {
        self.state.current.locked().take().map(|(_, tx)| tx)
    }
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_body(error_type: &str, message: &str) -> Value {
    json!({"errorType": error_type, "errorMessage": message})
}

/// What an `/error` or `/init/error` post says: the JSON body's `errorType` and
/// `errorMessage`, else the `Lambda-Runtime-Function-Error-Type` header.
fn reported_error(headers: &http::HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok());
    let error_type = parsed["errorType"]
        .as_str()
        .or(header)
        .unwrap_or("Unhandled")
        .to_owned();
    let message = parsed["errorMessage"].as_str().unwrap_or("").to_owned();
    (error_type, message)
}

/// A 403 written to a socket that may not use the Runtime API, then closed.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = error_body(
        "AccessDeniedException",
        "not a process of this server's user",
    )
    .to_string();
    let answer = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        stream.write_all(answer.as_bytes()),
    )
    .await;
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !callers::is_local_host(req.headers().get(http::header::HOST).map(|h| h.as_bytes())) {
        return respond(
            StatusCode::FORBIDDEN,
            error_body("AccessDeniedException", "the Host is not this machine"),
        );
    }
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return respond(
            StatusCode::NOT_FOUND,
            error_body("NotFound", "unknown path"),
        );
    };
    let method = req.method().clone();
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(state).await,
        (Method::POST, ["invocation", id, outcome @ ("response" | "error")]) => {
            report(state, req, id, *outcome == "response").await
        }
        (Method::POST, ["init", "error"]) => init_error(state, req).await,
        _ => respond(
            StatusCode::NOT_FOUND,
            error_body("NotFound", "unknown Runtime API call"),
        ),
    }
}

/// `POST /invocation/{id}/response` (`response`) or `/error`: the outcome of the invocation
/// in flight, handed to its caller; a response over Lambda's limit fails the invocation.
async fn report(
    state: &State,
    req: Request<Incoming>,
    id: &str,
    response: bool,
) -> Response<Full<Bytes>> {
    let headers = req.headers().clone();
    let body = match Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            // Lambda fails the invocation when the response is too large.
            if let Some((_, tx)) = state.current.locked().take() {
                let _ = tx.send(Reported::Error {
                    error_type: "Function.ResponseSizeTooLarge".into(),
                    message: format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    ),
                });
            }
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body("RequestEntityTooLarge", "the response is over 6 MB"),
            );
        }
    };
    let mut current = state.current.locked();
    match current.take() {
        Some((current_id, tx)) if current_id == id => {
            let reported = if response {
                Reported::Response(body)
            } else {
                let (error_type, message) = reported_error(&headers, &body);
                Reported::Error {
                    error_type,
                    message,
                }
            };
            let _ = tx.send(reported);
            respond(StatusCode::ACCEPTED, json!({"status": "OK"}))
        }
        other => {
            *current = other;
            respond(
                StatusCode::BAD_REQUEST,
                error_body("InvalidRequestID", "no invocation in flight has this id"),
            )
        }
    }
}

/// `POST /init/error`: the function failed to initialise; kept for the pool to report.
async fn init_error(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let headers = req.headers().clone();
    let body = Limited::new(req.into_body(), 1 << 20)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (error_type, message) = reported_error(&headers, &body);
    *state.init_error.locked() = Some(Reported::InitError {
        error_type,
        message,
    });
    respond(StatusCode::ACCEPTED, json!({"status": "OK"}))
}

/// The long poll: waits for the next invocation, then hands it over.
async fn next(state: &State) -> Response<Full<Bytes>> {
    state.first_next.send_if_modified(|at| {
        if at.is_none() {
            *at = Some(Instant::now());
            true
        } else {
            false
        }
    });
    let invocation = {
        let mut rx = state.next.lock().await;
        rx.recv().await
    };
    let Some(inv) = invocation else {
        // The pool is gone: the process is about to be stopped.
        return respond(
            StatusCode::GONE,
            error_body("ServiceUnavailable", "shutting down"),
        );
    };
    let body = inv.event.to_string();
    *state.current.locked() = Some((inv.request_id.clone(), inv.reply));
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", inv.request_id);
    set("lambda-runtime-deadline-ms", inv.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", inv.function_arn);
    set("lambda-runtime-trace-id", inv.trace_id);
    r
}
