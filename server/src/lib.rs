//! `streamgate-server`: the chat API served locally (the emulator hosting the chat handlers in
//! this process), a template's API (`--template`, the template host), and the voice relay
//! beside either. The library holds the in-process host and `local` (the serving command,
//! composing the crates); the binaries, `streamgate` and `streamgate-server`, parse flags.

pub mod in_process;
pub mod local;

pub use in_process::ChatIntegration;
