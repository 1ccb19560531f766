//! A scripted HTTP/1.1 server on loopback, for upstreams (LLM providers) and the
//! `@connections` API. Each request gets the next scripted response; the server records
//! what it received and notices when a client closes a streaming response early.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, ...
    pub method: String,
    /// The raw path and query, as sent (percent-encoding kept).
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Bytes,
}

impl Received {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// One piece of a scripted body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Send these bytes.
    Bytes(Bytes),
    /// Wait.
    Pause(Duration),
    /// Keep the response open without sending, until the client goes away.
    Stall,
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body, piece by piece.
    pub body: Vec<Part>,
}

impl Reply {
    /// A response with this status and no body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::status(status)
            .header("content-type", "application/json")
            .bytes(body.to_string())
    }

    /// An event stream made of these pieces.
    pub fn sse(parts: Vec<Part>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: parts,
        }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// With more body bytes.
    pub fn bytes(mut self, b: impl Into<Bytes>) -> Reply {
        self.body.push(Part::Bytes(b.into()));
        self
    }
}

/// Shorthand for a body piece.
pub fn text(s: &str) -> Part {
    Part::Bytes(Bytes::from(s.to_owned()))
}

/// Shorthand for a pause.
pub fn pause(ms: u64) -> Part {
    Part::Pause(Duration::from_millis(ms))
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
    received: Vec<Received>,
    closed_early: usize,
    sent_at: Vec<Vec<std::time::Instant>>,
}

/// A running mock server; it stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    closed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Starts a server that answers requests with `script`, in order, then 404.
    pub async fn start(script: Vec<Reply>) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let closed = Arc::new(Notify::new());
        let (st, cl) = (state.clone(), closed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                // Like real servers: no Nagle delay between small SSE writes.
                let _ = stream.set_nodelay(true);
                let (st, cl) = (st.clone(), cl.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, st.clone(), cl.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MockServer {
            addr,
            state,
            closed,
            task,
        }
    }

    /// Answers every request after the script with `reply`.
    pub fn otherwise(&self, reply: Reply) {
        self.state.lock().unwrap().fallback = Some(reply);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the server received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// When the server handed each body piece of the answer to request `index` (0-based, in
    /// arrival order) to its connection.
    pub fn sent_at(&self, index: usize) -> Vec<std::time::Instant> {
        self.state
            .lock()
            .unwrap()
            .sent_at
            .get(index)
            .cloned()
            .unwrap_or_default()
    }

    /// Queues more scripted replies.
    pub fn push_script(&self, script: Vec<Reply>) {
        self.state.lock().unwrap().script.extend(script);
    }

    /// How many streaming responses the client closed before their end.
    pub fn closed_early(&self) -> usize {
        self.state.lock().unwrap().closed_early
    }

    /// Waits until a client closed a streaming response early (or panics after `within`).
    pub async fn wait_closed_early(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.closed.notified();
            if self.closed_early() > 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the client did not close the response within {within:?}");
            }
        }
    }
}

type Body = StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

async fn handle(
    req: hyper::Request<Incoming>,
    state: Arc<Mutex<State>>,
    closed: Arc<Notify>,
) -> Result<hyper::Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (index, reply) = {
        let mut s = state.lock().unwrap();
        let index = s.received.len();
        s.sent_at.push(Vec::new());
        s.received.push(Received {
            method,
            path,
            headers,
            body,
        });
        let reply = s
            .script
            .pop_front()
            .or_else(|| s.fallback.clone())
            .unwrap_or_else(|| Reply::status(404));
        (index, reply)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let parts = reply.body.clone();
    tokio::spawn(async move {
        let mut early = false;
        for part in parts {
            match part {
                Part::Bytes(b) => {
                    let sent = tx.send(b).await;
                    state.lock().unwrap().sent_at[index].push(std::time::Instant::now());
                    if sent.is_err() {
                        early = true;
                        break;
                    }
                }
                Part::Pause(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = tx.closed() => { early = true; break; }
                    }
                }
                Part::Stall => {
                    tx.closed().await;
                    early = true;
                    break;
                }
            }
        }
        if early {
            state.lock().unwrap().closed_early += 1;
            closed.notify_waiters();
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    })
    .boxed();
    let mut builder = hyper::Response::builder().status(reply.status);
    for (n, v) in &reply.headers {
        builder = builder.header(n, v);
    }
    Ok(builder
        .body(StreamBody::new(stream))
        .expect("a valid scripted response"))
}
