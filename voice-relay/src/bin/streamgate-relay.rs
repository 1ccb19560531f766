//! `streamgate-relay`: what `streamgate relay` runs, under the name the relay's container
//! image and its task definition use (the same flags; `streamgate_voice_relay::standalone`).

use std::process::ExitCode;

use clap::Parser;
use streamgate_voice_relay::standalone::{ABOUT, LONG_ABOUT, RelayArgs, SERVE_DEFAULTS};

#[derive(Parser, Debug)]
#[command(name = "streamgate-relay", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(flatten)]
    relay: RelayArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = SERVE_DEFAULTS.parse();
    streamgate_voice_relay::standalone::main(cli.relay, "streamgate-relay").await
}
