//! What the HTTP providers share: error mapping, `retry-after`, timeouts, and the SSE body
//! driver that turns a response into an [`LlmStream`].

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use streamgate_core::{ApiKey, LlmError, LlmEvent, LlmStream};

use crate::sse::{SseEvent, SseParser};

/// Timeouts of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP/TLS connection.
    pub connect: Duration,
    /// Waiting for the response headers, and for each piece of the body after that.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// Longest `retry-after` we take from a provider.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Reads `retry-after-ms` (milliseconds) or `retry-after` (seconds) from response headers.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let asked = if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    } else {
        get("retry-after")
            .and_then(|v| v.parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    };
    asked.map(|d| d.min(MAX_RETRY_AFTER))
}

/// The `type`/`code` an error body names, for logs and error messages (never the message
/// text, which can quote the request or a masked key).
pub fn error_label(body: &serde_json::Value) -> String {
    let err = body.get("error").unwrap_or(body);
    let ty = err.get("type").and_then(|v| v.as_str());
    let code = err.get("code").map(|c| match c {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    match (ty, code) {
        (Some(t), Some(c)) if t != c => format!("{t}/{c}"),
        (Some(t), _) => t.to_owned(),
        (None, Some(c)) => c,
        (None, None) => "unspecified".to_owned(),
    }
}

/// Maps an HTTP error status to a typed error.
pub fn status_error(status: u16, label: &str, retry_after: Option<Duration>) -> LlmError {
    let message = format!("HTTP {status} {label}");
    match status {
        401 | 403 => LlmError::Auth(message),
        429 => LlmError::RateLimited {
            message,
            retry_after,
        },
        408 | 409 | 500..=599 => LlmError::Unavailable {
            message,
            retryable: true,
            retry_after,
        },
        _ => LlmError::Rejected(message),
    }
}

/// Reads a failed response into a typed error, logging the provider's message (redacted).
pub async fn response_error(response: reqwest::Response, key: Option<&ApiKey>) -> LlmError {
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let label = error_label(&body);
    let detail = body
        .pointer("/error/message")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let detail = key.map_or_else(|| detail.to_owned(), |k| k.redact(detail));
    tracing::warn!(status, label = %label, detail = %detail, "model provider answered an error");
    status_error(status, &label, wait)
}

/// Maps a transport failure to a typed error.
pub fn transport_error(e: &reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout("no answer within the timeout".into())
    } else if e.is_connect() {
        LlmError::Unavailable {
            message: "cannot connect".into(),
            retryable: true,
            retry_after: None,
        }
    } else {
        LlmError::Unavailable {
            message: "the connection failed".into(),
            retryable: true,
            retry_after: None,
        }
    }
}

/// What one SSE event means to a provider.
pub enum Decoded {
    /// Zero or more answer events.
    Events(Vec<LlmEvent>),
    /// The answer is complete.
    End,
}

/// How a provider reads its events.
pub trait Decoder: Send + 'static {
    /// Decodes one event.
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, LlmError>;
    /// Called when the body ends without [`Decoded::End`]: is that a complete answer?
    fn at_eof(&mut self) -> Result<Vec<LlmEvent>, LlmError>;
}

struct Driver<D> {
    body: BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>,
    parser: SseParser,
    decoder: D,
    pending: VecDeque<Result<LlmEvent, LlmError>>,
    idle: Duration,
    done: bool,
}

impl<D: Decoder> Driver<D> {
    fn take(&mut self, events: Vec<SseEvent>) {
        for event in events {
            if self.done {
                return;
            }
            match self.decoder.decode(event) {
                Ok(Decoded::Events(es)) => self.pending.extend(es.into_iter().map(Ok)),
                Ok(Decoded::End) => self.done = true,
                Err(e) => {
                    self.pending.push_back(Err(e));
                    self.done = true;
                }
            }
        }
    }
}

/// The answer stream of a successful response. Dropping it drops the response, which
/// closes the connection to the provider.
pub fn sse_stream<D: Decoder>(
    response: reqwest::Response,
    decoder: D,
    idle: Duration,
) -> LlmStream {
    let driver = Driver {
        body: response.bytes_stream().boxed(),
        parser: SseParser::default(),
        decoder,
        pending: VecDeque::new(),
        idle,
        done: false,
    };
    stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(item) = d.pending.pop_front() {
                return Some((item, d));
            }
            if d.done {
                return None;
            }
            match tokio::time::timeout(d.idle, d.body.next()).await {
                Err(_) => {
                    d.done = true;
                    let secs = d.idle.as_secs_f64();
                    d.pending.push_back(Err(LlmError::Timeout(format!(
                        "nothing received for {secs:.1} s"
                    ))));
                }
                Ok(Some(Ok(bytes))) => match d.parser.feed(&bytes) {
                    Ok(events) => d.take(events),
                    Err(e) => {
                        d.done = true;
                        d.pending.push_back(Err(LlmError::Protocol(e.to_string())));
                    }
                },
                Ok(Some(Err(e))) => {
                    d.done = true;
                    d.pending.push_back(Err(transport_error(&e)));
                }
                Ok(None) => {
                    let events = d.parser.finish();
                    d.take(events);
                    if !d.done {
                        d.done = true;
                        match d.decoder.at_eof() {
                            Ok(es) => d.pending.extend(es.into_iter().map(Ok)),
                            Err(e) => d.pending.push_back(Err(e)),
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

/// How a provider carries its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// A header of its own (`x-api-key: KEY`).
    Named(&'static str),
}

/// A provider's streaming endpoint: the client, the URL, the key and the timeouts.
#[derive(Debug, Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    url: String,
    key: Option<ApiKey>,
    key_header: KeyHeader,
    timeouts: Timeouts,
}

impl Endpoint {
    /// `{base}/v1/{path_after_v1}` (the base may end in `/v1`).
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        path_after_v1: &str,
        key: Option<ApiKey>,
        key_header: KeyHeader,
        timeouts: Timeouts,
    ) -> Endpoint {
        Endpoint {
            http,
            url: endpoint(base_url, path_after_v1),
            key,
            key_header,
            timeouts,
        }
    }

    /// Posts `body` with `headers` and returns the answer stream, or the typed error of a
    /// failed response.
    pub async fn stream<D: Decoder>(
        &self,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
        decoder: D,
    ) -> Result<LlmStream, LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "text/event-stream")
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(key) = &self.key {
            request = match self.key_header {
                KeyHeader::Bearer => request.bearer_auth(key.expose()),
                KeyHeader::Named(name) => request.header(name, key.expose()),
            };
        }
        let response = send(request, self.timeouts.idle).await?;
        if !response.status().is_success() {
            return Err(response_error(response, self.key.as_ref()).await);
        }
        Ok(sse_stream(response, decoder, self.timeouts.idle))
    }
}

/// Sends a request, waiting at most `idle` for the response headers.
pub async fn send(
    request: reqwest::RequestBuilder,
    idle: Duration,
) -> Result<reqwest::Response, LlmError> {
    match tokio::time::timeout(idle, request.send()).await {
        Err(_) => Err(LlmError::Timeout(format!(
            "no response headers within {:.1} s",
            idle.as_secs_f64()
        ))),
        Ok(Err(e)) => Err(transport_error(&e)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Joins a base URL and an API path, accepting bases with or without the `/v1` suffix.
pub fn endpoint(base: &str, path_after_v1: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/{path_after_v1}")
    } else {
        format!("{base}/v1/{path_after_v1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn error_labels_take_string_or_integer_codes() {
        let openai = serde_json::json!({"error": {"message": "m", "type": "requests", "code": "rate_limit_exceeded"}});
        assert_eq!(error_label(&openai), "requests/rate_limit_exceeded");
        let vllm =
            serde_json::json!({"error": {"message": "m", "type": "BadRequestError", "code": 400}});
        assert_eq!(error_label(&vllm), "BadRequestError/400");
        let anthropic = serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "m"}});
        assert_eq!(error_label(&anthropic), "overloaded_error");
        assert_eq!(error_label(&serde_json::Value::Null), "unspecified");
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        assert!(matches!(status_error(401, "x", None), LlmError::Auth(_)));
        assert!(matches!(status_error(403, "x", None), LlmError::Auth(_)));
        assert!(matches!(
            status_error(429, "x", None),
            LlmError::RateLimited { .. }
        ));
        for s in [408, 409, 500, 503, 529] {
            assert!(status_error(s, "x", None).retryable(), "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert!(
                matches!(status_error(s, "x", None), LlmError::Rejected(_)),
                "{s}"
            );
        }
    }

    #[test]
    fn endpoints_accept_bases_with_or_without_v1() {
        assert_eq!(
            endpoint("https://api.openai.com", "chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://localhost:11434/v1/", "chat/completions"),
            "http://localhost:11434/v1/chat/completions"
        );
    }
}
