//! Log targets that are never more verbose than `info`, whatever `RUST_LOG` asks: at `debug`
//! and `trace` these dependencies log whole HTTP and WebSocket handshakes, headers included,
//! and so the `Authorization: Bearer` key of an upstream call. Every log filter the binaries
//! build applies this cap after `RUST_LOG`.

/// The capped targets (a target covers its submodules).
pub const CAPPED_TARGETS: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "http_body_util",
    "rustls",
    "reqwest",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_http",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// The most verbose level a capped target logs at.
pub const CAP: &str = "info";
