//! `streamgate-server`: what `streamgate local` runs, under the name the first releases had
//! (the same flags; `streamgate_server::local`).

use std::process::ExitCode;

use clap::Parser;
use streamgate_server::local::{ABOUT, LONG_ABOUT, LocalArgs};

#[derive(Parser, Debug)]
#[command(name = "streamgate-server", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(flatten)]
    local: LocalArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    streamgate_server::local::main(Cli::parse().local, "streamgate-server").await
}
