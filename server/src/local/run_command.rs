//! `--run CMD`: a command run beside the served API (a user's own tests, in CI). It starts once
//! the server listens, with where to reach the API in its environment; the server stops when
//! it ends and exits with its status. It runs in a process group of its own that the reaper
//! watches, so it and what it left in the background go with the server however that ends.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitStatus;
use std::time::Duration;

use streamgate_emulator::process::StopSignal;
use streamgate_local_services::reaper;

/// Where the command reaches the API, and what else it is given.
pub(super) struct Reach<'a> {
    /// The listening socket's address.
    pub(super) listening: SocketAddr,
    /// The stage.
    pub(super) stage: &'a str,
    /// A development token, when the server has the development issuer.
    pub(super) token: Option<String>,
    /// More variables (the template host's local credentials and endpoints).
    pub(super) extra: BTreeMap<String, String>,
}

/// The variables the command gets on top of the server's own environment.
pub(super) fn environment(reach: Reach<'_>) -> BTreeMap<String, String> {
    // A server listening on every interface is reached on loopback.
    let ip = match reach.listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let at = SocketAddr::new(ip, reach.listening.port());
    let stage = reach.stage;
    let mut env = reach.extra;
    env.extend([
        ("STREAMGATE_WS_URL".to_owned(), format!("ws://{at}/{stage}")),
        ("STREAMGATE_HTTP_URL".to_owned(), format!("http://{at}/")),
        (
            "STREAMGATE_MANAGEMENT_URL".to_owned(),
            format!("http://{at}/{stage}"),
        ),
    ]);
    if let Some(token) = reach.token {
        env.insert("STREAMGATE_TOKEN".to_owned(), token);
    }
    env
}

/// Serves until a stop signal, or, with `command`, until the command ends: the exit code the
/// server is to end with, `None` for its own.
pub(super) async fn until_stopped_or_done(
    command: Option<&str>,
    env: BTreeMap<String, String>,
    stop: &mut StopSignal,
) -> Result<Option<u8>, String> {
    let Some(command) = command else {
        stop.wait().await;
        return Ok(None);
    };
    // The banner before the command's own output, which goes straight to the terminal.
    streamgate_emulator::stdout::flush(Duration::from_secs(1));
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the --run command with /bin/sh: {e}"))?;
    let pgid = child.id().unwrap_or_default();
    reaper::watch(pgid);
    let status = tokio::select! {
        status = child.wait() => Some(status),
        () = stop.wait() => None,
    };
    // What it left in the background goes with it.
    reaper::kill_group(pgid);
    if status.is_none() {
        let _ = child.wait().await;
    }
    reaper::forget(pgid);
    match status {
        Some(Ok(status)) => {
            let code = exit_code(status);
            tracing::info!(code, "the --run command ended");
            Ok(Some(code))
        }
        Some(Err(e)) => Err(format!("the --run command could not be waited for: {e}")),
        None => Err("stopped before the --run command ended".to_owned()),
    }
}

/// The server's exit code for the command's `status`: its own code, or 128 plus the signal
/// that ended it, as a shell reports it.
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_server_on_every_interface_is_reached_on_loopback() {
        let env = environment(Reach {
            listening: "0.0.0.0:3001".parse().unwrap(),
            stage: "dev",
            token: Some("t".into()),
            extra: BTreeMap::from([("AWS_REGION".to_owned(), "us-east-1".to_owned())]),
        });
        assert_eq!(env["STREAMGATE_WS_URL"], "ws://127.0.0.1:3001/dev");
        assert_eq!(
            env["STREAMGATE_MANAGEMENT_URL"],
            "http://127.0.0.1:3001/dev"
        );
        assert_eq!(env["STREAMGATE_HTTP_URL"], "http://127.0.0.1:3001/");
        assert_eq!(env["STREAMGATE_TOKEN"], "t");
        assert_eq!(env["AWS_REGION"], "us-east-1");
        let env = environment(Reach {
            listening: "[::]:80".parse().unwrap(),
            stage: "prod",
            token: None,
            extra: BTreeMap::new(),
        });
        assert_eq!(env["STREAMGATE_WS_URL"], "ws://[::1]:80/prod");
        assert!(!env.contains_key("STREAMGATE_TOKEN"));
    }

    #[test]
    fn the_exit_code_is_the_commands_as_a_shell_reports_it() {
        // Wait statuses as waitpid(2) gives them: the code in the second byte, or the signal.
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        // Ended by SIGTERM (15).
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
