//! `streamgate-server`: the chat API served locally (the emulator hosting the chat handlers in
//! this process), a template's API (`--template`, the template host), and the voice relay
//! beside either. The library holds the in-process host; the binary composes the crates.

pub mod in_process;

pub use in_process::ChatIntegration;
