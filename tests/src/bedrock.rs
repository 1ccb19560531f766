//! Amazon Bedrock `ConverseStream` on loopback: the `application/vnd.amazon.eventstream`
//! frames (prelude, headers, payload, CRCs) written by the SDK's own event-stream crate, and
//! the JSON errors with `x-amzn-errortype`. The SDK client reading them is the proof that the
//! bytes are Bedrock's.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::mock_http::{Part, Reply};

fn frame(headers: &[(&str, &str)], payload: &Value) -> Part {
    let mut message = Message::new(Bytes::from(payload.to_string()));
    for (name, value) in headers {
        message = message.add_header(Header::new(
            name.to_string(),
            HeaderValue::String(value.to_string().into()),
        ));
    }
    let mut bytes = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut bytes)
        .expect("an event-stream message encodes");
    Part::Bytes(Bytes::from(bytes))
}

/// One event (`messageStart`, `contentBlockDelta`, `messageStop`, `metadata`, ...).
pub fn event(event_type: &str, payload: Value) -> Part {
    frame(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        &payload,
    )
}

/// An exception in the stream (`throttlingException`, `modelStreamErrorException`, ...).
pub fn exception(exception_type: &str, message: &str) -> Part {
    frame(
        &[
            (":message-type", "exception"),
            (":exception-type", exception_type),
            (":content-type", "application/json"),
        ],
        &json!({"message": message}),
    )
}

/// A text delta of content block 0.
pub fn delta(text: &str) -> Part {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": text}}),
    )
}

/// The events of a whole answer: start, one delta per piece, stop, then usage.
pub fn answer(pieces: &[&str], input_tokens: u64, output_tokens: u64) -> Vec<Part> {
    let mut parts = vec![event("messageStart", json!({"role": "assistant"}))];
    parts.extend(pieces.iter().map(|p| delta(p)));
    parts.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    parts.push(event("messageStop", json!({"stopReason": "end_turn"})));
    parts.push(event(
        "metadata",
        json!({"usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}, "metrics": {"latencyMs": 120}}),
    ));
    parts
}

/// A streamed response of these frames.
pub fn stream(parts: Vec<Part>) -> Reply {
    Reply {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/vnd.amazon.eventstream".into(),
        )],
        body: parts,
    }
}

/// An error before the stream: the status, `x-amzn-errortype` and a JSON message.
pub fn error(status: u16, error_type: &str, message: &str) -> Reply {
    Reply::json(status, json!({"message": message})).header("x-amzn-errortype", error_type)
}
