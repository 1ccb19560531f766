//! The workspace's integration tests, in one binary (one link of the harness and the AWS
//! SDKs instead of one per file). One module per area; `cargo test --test suite AREA::` runs
//! one area, e.g. `cargo test --test suite local_server::`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a step that fails is a failed test, and says where"
)]

mod abuse;
mod answer_cap;
mod authorizer;
mod bedrock;
mod binaries;
mod browser;
mod chat_app;
mod contract;
mod conversations;
mod crates;
mod deploy_relay;
mod doctor;
mod dynamodb;
mod handlers;
mod host_managed;
mod host_template;
mod host_template_hostile;
mod image;
mod lambda_binaries;
mod local_server;
mod message;
mod observability;
mod package;
mod providers;
mod push;
mod quotas;
mod readme;
mod relay_auth;
mod relay_process;
mod relay_protocol;
mod run_mode;
mod secrets;
mod server_binary;
mod stack_chat;
mod stack_relay;
mod voice_browser;
