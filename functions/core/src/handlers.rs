//! The four handlers of the chat API.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use streamgate_contract::config::DEFAULT_CONNECTION_TTL_SECONDS;
use streamgate_contract::routes::api::ACTION_FIELD;
use streamgate_contract::{
    ApiKind, ConnectionRecord, ErrorCode, ErrorFrame, Function, MessageRequest, ServerFrame, Usage,
};
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, warn};

use crate::coalesce::{CoalesceSettings, Coalescer};
use crate::event::{self, WsEvent, WsResponse};
use crate::ports::{
    ClientPush, ConnectionStore, LlmError, LlmEvent, LlmProvider, LlmRequest, PushError, Target,
};
use crate::retry::RetryPolicy;

/// Attempts at a throttled `@connections` post, unless configured.
pub const DEFAULT_POST_ATTEMPTS: u32 = 3;

/// Settings of the handlers.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// How long a connection record lives (DynamoDB TTL).
    pub connection_ttl: Duration,
    /// Coalescing of chunk frames.
    pub coalesce: CoalesceSettings,
    /// Retries of the model provider.
    pub retry: RetryPolicy,
    /// Instructions given to the model.
    pub system_prompt: Option<String>,
    /// The most tokens an answer may have.
    pub max_tokens: u32,
    /// Attempts at a throttled `@connections` post.
    pub post_attempts: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            connection_ttl: Duration::from_secs(DEFAULT_CONNECTION_TTL_SECONDS),
            coalesce: CoalesceSettings::default(),
            retry: RetryPolicy::default(),
            system_prompt: None,
            max_tokens: 1024,
            post_attempts: DEFAULT_POST_ATTEMPTS,
        }
    }
}

/// All the handlers with all their dependencies: what the local server hosts.
#[derive(Clone)]
pub struct ChatApp {
    /// Connection records.
    pub store: Arc<dyn ConnectionStore>,
    /// Frames to clients.
    pub push: Arc<dyn ClientPush>,
    /// The model.
    pub llm: Arc<dyn LlmProvider>,
    /// Settings.
    pub settings: ChatSettings,
}

impl ChatApp {
    /// Runs the handler of `function` on `event`.
    pub async fn handle(&self, function: Function, event: &WsEvent) -> WsResponse {
        match function {
            Function::Connect => connect(event, self.store.as_ref(), &self.settings).await,
            Function::Disconnect => disconnect(event, self.store.as_ref()).await,
            Function::Message => {
                message(
                    event,
                    self.push.as_ref(),
                    self.store.as_ref(),
                    self.llm.as_ref(),
                    &self.settings,
                )
                .await
            }
            Function::Default => default(event, self.push.as_ref(), self.store.as_ref()).await,
        }
    }
}

fn span(name: &'static str, event: &WsEvent) -> tracing::Span {
    tracing::info_span!(
        "handler",
        function = name,
        request_id = event::request_id(event).unwrap_or("-"),
        connection_id = event
            .request_context
            .connection_id
            .as_deref()
            .unwrap_or("-"),
    )
}

// ------------------------------------------------------------------ $connect

/// The connection record of a CONNECT event.
pub fn connection_record(
    event: &WsEvent,
    ttl: Duration,
) -> Result<ConnectionRecord, event::MissingField> {
    let target = event::target(event)?;
    let ctx = &event.request_context;
    let connected_at_ms = ctx.connected_at;
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    Ok(ConnectionRecord {
        connection_id: target.connection_id,
        connected_at_ms,
        ttl_epoch_seconds: connected_at_ms.div_euclid(1000).saturating_add(ttl_secs),
        domain_name: target.domain_name,
        stage: target.stage,
        source_ip: ctx.identity.source_ip.clone(),
        user_agent: ctx.identity.user_agent.clone(),
        api: ApiKind::Chat,
        restaurant_id: None,
        language: None,
    })
}

/// `$connect`: writes the connection record; 200, or 500 when it cannot be written.
pub async fn connect(
    event: &WsEvent,
    store: &dyn ConnectionStore,
    settings: &ChatSettings,
) -> WsResponse {
    async {
        let record = match connection_record(event, settings.connection_ttl) {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "malformed CONNECT event");
                return event::status(400);
            }
        };
        match store.put(&record).await {
            Ok(()) => {
                info!("connected");
                event::status(200)
            }
            Err(e) => {
                error!(error = %e, "cannot write the connection record");
                event::status(500)
            }
        }
    }
    .instrument(span("connect", event))
    .await
}

// ------------------------------------------------------------------ $disconnect

/// `$disconnect`: deletes the connection record (best effort; records also expire).
pub async fn disconnect(event: &WsEvent, store: &dyn ConnectionStore) -> WsResponse {
    async {
        let Some(id) = event.request_context.connection_id.as_deref() else {
            error!("DISCONNECT event without a connection id");
            return event::status(400);
        };
        match store.delete(id).await {
            Ok(()) => {
                info!(
                    status_code = event.request_context.disconnect_status_code,
                    "disconnected"
                );
                event::status(200)
            }
            Err(e) => {
                error!(error = %e, "cannot delete the connection record");
                event::status(500)
            }
        }
    }
    .instrument(span("disconnect", event))
    .await
}

// ------------------------------------------------------------------ $default

/// The `unknown_action` frame for a body that matched no route.
pub fn unknown_action_frame(body: Option<&str>) -> ErrorFrame {
    let parsed = body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    let Some(object) = parsed.as_ref().and_then(|v| v.as_object()) else {
        return ErrorFrame::unknown_action(format!(
            "frames must be JSON objects with an \"{ACTION_FIELD}\" field"
        ));
    };
    let request_id = object
        .get("requestId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let error = match object.get(ACTION_FIELD) {
        None => format!("the frame has no \"{ACTION_FIELD}\" field"),
        Some(serde_json::Value::String(a)) => {
            let shown: String = a.chars().take(64).collect();
            format!("unknown action {shown:?}")
        }
        Some(other) => {
            let shown: String = other.to_string().chars().take(64).collect();
            format!("unknown action {shown}")
        }
    };
    let frame = ErrorFrame::unknown_action(error);
    match request_id {
        Some(id) => frame.for_request(id),
        None => frame,
    }
}

/// `$default`: answers an `unknown_action` error frame listing the valid actions.
pub async fn default(
    event: &WsEvent,
    push: &dyn ClientPush,
    store: &dyn ConnectionStore,
) -> WsResponse {
    async {
        let target = match event::target(event) {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "malformed MESSAGE event");
                return event::status(400);
            }
        };
        let frame = ServerFrame::Error(unknown_action_frame(event.body.as_deref()));
        let out = Outbox {
            push,
            store,
            target: &target,
            // `$default` takes no settings: it posts one frame.
            attempts: DEFAULT_POST_ATTEMPTS,
        };
        match out.post(&frame.to_json()).await {
            Ok(()) => {}
            Err(e) => out.failed(e).await,
        }
        event::status(200)
    }
    .instrument(span("default", event))
    .await
}

// ------------------------------------------------------------------ message

/// Posts frames to one connection.
struct Outbox<'a> {
    push: &'a dyn ClientPush,
    store: &'a dyn ConnectionStore,
    target: &'a Target,
    attempts: u32,
}

impl Outbox<'_> {
    /// Posts one frame, retrying a throttled post with a short backoff.
    async fn post(&self, data: &str) -> Result<(), PushError> {
        let mut attempt = 1;
        loop {
            match self.push.post(self.target, data).await {
                Err(PushError::Throttled) if attempt < self.attempts => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Deals with a failed post: a gone client's record is deleted.
    async fn failed(&self, e: PushError) {
        if e == PushError::Gone {
            info!("client gone; deleting its record");
            if let Err(e) = self.store.delete(&self.target.connection_id).await {
                warn!(error = %e, "cannot delete the record of a gone connection");
            }
        } else {
            error!(error = %e, "cannot post to the client");
        }
    }
}

/// The error frame for a provider failure. The sentence is fixed per code: upstream messages
/// stay in the logs.
pub fn llm_error_frame(e: &LlmError) -> ErrorFrame {
    let (code, sentence) = match e {
        LlmError::Auth(_) => (
            ErrorCode::LlmAuth,
            "the model provider refused the credentials",
        ),
        LlmError::RateLimited { .. } => (
            ErrorCode::LlmRateLimited,
            "the model provider is rate limiting requests; try again shortly",
        ),
        LlmError::Rejected(_) => (
            ErrorCode::LlmRejected,
            "the model provider rejected the request",
        ),
        LlmError::Unavailable { .. } | LlmError::Protocol(_) => (
            ErrorCode::LlmUnavailable,
            "the model provider is unavailable",
        ),
        LlmError::Timeout(_) => (
            ErrorCode::LlmTimeout,
            "the model provider stopped answering",
        ),
    };
    ErrorFrame::new(code, sentence)
}

/// How an answer ended.
enum End {
    /// The provider finished.
    Done(Option<Usage>),
    /// The provider failed.
    Failed(LlmError),
    /// The client is gone, or cannot be posted to: stop everything.
    ClientLost(PushError),
}

/// `message`: streams the model's answer as `chunk` frames, then one `done` or `error`.
pub async fn message(
    event: &WsEvent,
    push: &dyn ClientPush,
    store: &dyn ConnectionStore,
    llm: &dyn LlmProvider,
    settings: &ChatSettings,
) -> WsResponse {
    async {
        let target = match event::target(event) {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "malformed MESSAGE event");
                return event::status(400);
            }
        };
        let out = Outbox {
            push,
            store,
            target: &target,
            attempts: settings.post_attempts.max(1),
        };
        let fallback_id = event::request_id(event).unwrap_or("-").to_owned();
        let request = match MessageRequest::parse(event.body.as_deref()) {
            Ok(r) => r,
            Err(frame) => {
                let frame = match frame.request_id {
                    Some(_) => frame,
                    None => frame.for_request(fallback_id),
                };
                info!(code = frame.code.as_str(), "bad message");
                if let Err(e) = out.post(&ServerFrame::Error(frame).to_json()).await {
                    out.failed(e).await;
                }
                return event::status(200);
            }
        };
        let request_id = request.request_id.clone().unwrap_or(fallback_id);
        let llm_request = LlmRequest {
            system: settings.system_prompt.clone(),
            input: request.data,
            max_tokens: settings.max_tokens,
        };
        let started = Instant::now();
        let end = stream_answer(&out, &request_id, llm, &llm_request, settings).await;
        let terminal = match end {
            End::Done(usage) => ServerFrame::Done {
                request_id: request_id.clone(),
                usage,
            },
            End::Failed(e) => {
                warn!(provider = llm.name(), error = %e, "the model provider failed");
                ServerFrame::Error(llm_error_frame(&e).for_request(request_id.clone()))
            }
            End::ClientLost(e) => {
                out.failed(e).await;
                return event::status(200);
            }
        };
        match out.post(&terminal.to_json()).await {
            Ok(()) => info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                ok = matches!(terminal, ServerFrame::Done { .. }),
                "answer finished"
            ),
            Err(e) => out.failed(e).await,
        }
        event::status(200)
    }
    .instrument(span("message", event))
    .await
}

/// Streams the answer as chunk frames (at most one post in flight, so frames stay in
/// order), retrying the provider only while nothing has reached the coalescer.
async fn stream_answer(
    out: &Outbox<'_>,
    request_id: &str,
    llm: &dyn LlmProvider,
    request: &LlmRequest,
    settings: &ChatSettings,
) -> End {
    let mut coalescer = Coalescer::new(settings.coalesce);
    let mut in_flight: Option<BoxFuture<'_, Result<(), PushError>>> = None;
    let mut usage = None;
    let mut received_any = false;
    let mut attempt = 1;
    let chunk = |content: String| {
        ServerFrame::Chunk {
            request_id: request_id.to_owned(),
            content,
        }
        .to_json()
    };

    let outcome: Result<(), LlmError> = 'attempts: loop {
        let mut stream = match llm.stream(request).await {
            Ok(s) => s,
            Err(e) => match settings.retry.next_delay(attempt, &e) {
                Some(delay) => {
                    debug!(attempt, error = %e, ?delay, "retrying the model provider");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue 'attempts;
                }
                None => break Err(e),
            },
        };
        loop {
            let now = Instant::now();
            if in_flight.is_none() && coalescer.is_due(now) {
                // Due now: post without a trip through the timer.
                if let Some(content) = coalescer.take(now) {
                    let frame = chunk(content);
                    in_flight = Some(Box::pin(async move { out.post(&frame).await }));
                }
            }
            let due = coalescer.due_at(now);
            tokio::select! {
                biased;
                result = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    if let Err(e) = result {
                        // Dropping the stream here closes the upstream request at once.
                        drop(stream);
                        return End::ClientLost(e);
                    }
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if in_flight.is_none() && due.is_some() => {
                    if let Some(content) = coalescer.take(Instant::now()) {
                        let frame = chunk(content);
                        in_flight = Some(Box::pin(async move { out.post(&frame).await }));
                    }
                }
                next = stream.next(), if !coalescer.is_full() => match next {
                    Some(Ok(LlmEvent::Delta(text))) => {
                        if !text.is_empty() {
                            received_any = true;
                            coalescer.push(&text);
                        }
                    }
                    Some(Ok(LlmEvent::Usage(u))) => usage = Some(u),
                    Some(Err(e)) => {
                        if !received_any {
                            if let Some(delay) = settings.retry.next_delay(attempt, &e) {
                                debug!(attempt, error = %e, ?delay, "retrying the model provider");
                                drop(stream);
                                tokio::time::sleep(delay).await;
                                attempt += 1;
                                continue 'attempts;
                            }
                        }
                        break 'attempts Err(e);
                    }
                    None => break 'attempts Ok(()),
                },
            }
        }
    };

    // Flush what is left, in order, before the terminal frame.
    if let Some(f) = in_flight.take() {
        if let Err(e) = f.await {
            return End::ClientLost(e);
        }
    }
    while let Some(content) = coalescer.take(Instant::now()) {
        if let Err(e) = out.post(&chunk(content)).await {
            return End::ClientLost(e);
        }
    }
    match outcome {
        Ok(()) => End::Done(usage),
        Err(e) => End::Failed(e),
    }
}

/// A setting has a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {expected}, not {value:?}")]
pub struct SettingError {
    /// The variable.
    pub name: &'static str,
    /// What it must be.
    pub expected: &'static str,
    /// What it is.
    pub value: String,
}

/// Reads a whole number setting.
pub fn number_setting(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SettingError> {
    let Some(value) = get(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(SettingError {
            name,
            expected: "a whole number in its allowed range",
            value,
        }),
    }
}

impl ChatSettings {
    /// Settings from configuration variables (`get` looks one up, e.g. in the environment);
    /// missing ones keep their defaults.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<ChatSettings, SettingError> {
        use streamgate_contract::config as env;
        let mut s = ChatSettings::default();
        if let Some(ttl) = number_setting(get, env::CONNECTION_TTL_SECONDS, 60, 31_536_000)? {
            s.connection_ttl = Duration::from_secs(ttl);
        }
        if let Some(ms) = number_setting(get, env::CHUNK_WINDOW_MS, 0, 10_000)? {
            s.coalesce.window = Duration::from_millis(ms);
        }
        if let Some(bytes) = number_setting(get, env::CHUNK_MAX_BYTES, 1, 32 * 1024)? {
            s.coalesce.max_bytes = bytes as usize;
        }
        if let Some(tokens) = number_setting(get, env::LLM_MAX_TOKENS, 1, 1_000_000)? {
            s.max_tokens = tokens as u32;
        }
        Ok(s)
    }
}

/// A 500 response, for a function started without what its handler needs.
pub fn status_internal() -> WsResponse {
    event::status(500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings_come_from_configuration_variables() {
        use streamgate_contract::config as env;
        let vars: HashMap<&str, &str> = [
            (env::CONNECTION_TTL_SECONDS, "7200"),
            (env::CHUNK_WINDOW_MS, "25"),
        ]
        .into();
        let get = |k: &str| vars.get(k).map(|v| v.to_string());
        let s = ChatSettings::from_lookup(&get).unwrap();
        assert_eq!(s.connection_ttl, Duration::from_secs(7200));
        assert_eq!(s.coalesce.window, Duration::from_millis(25));
        assert_eq!(s.coalesce.max_bytes, CoalesceSettings::default().max_bytes);

        let bad = |k: &str| (k == env::CHUNK_MAX_BYTES).then(|| "lots".to_owned());
        let e = ChatSettings::from_lookup(&bad).unwrap_err();
        assert_eq!(e.name, env::CHUNK_MAX_BYTES);
        assert!(e.to_string().contains("\"lots\""));
    }

    #[test]
    fn unknown_action_frames_name_the_action_and_list_the_valid_ones() {
        let f = unknown_action_frame(Some(r#"{"action":"dance","requestId":"r1"}"#));
        assert_eq!(f.code, ErrorCode::UnknownAction);
        assert!(f.error.contains("\"dance\""), "{}", f.error);
        assert_eq!(f.request_id.as_deref(), Some("r1"));
        assert_eq!(
            f.actions,
            Some(
                streamgate_contract::Route::actions()
                    .map(String::from)
                    .collect()
            )
        );
        let f = unknown_action_frame(Some("not json"));
        assert!(f.error.contains("JSON objects"), "{}", f.error);
        let f = unknown_action_frame(Some(r#"{"action": 7}"#));
        assert!(f.error.contains('7'), "{}", f.error);
        let f = unknown_action_frame(Some(r#"{"data": "x"}"#));
        assert!(f.error.contains("no \"action\""), "{}", f.error);
    }
}
