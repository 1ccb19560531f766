//! The flags every binary that serves through the emulator shares (`streamgate-server`, and
//! `streamgate-relay` as ECS runs it): where to listen, which pages may open sockets, the idle
//! and lifetime timers (API Gateway's, from `streamgate_contract::limits`, by default), the
//! log format and the metrics switch. One definition, flattened into both, each flag also read
//! from the variable the contract names; [`ServeArgs::gateway_config`] turns them into the part
//! of a [`GatewayConfig`] they decide. What differs between the binaries (the port, the log
//! format) is a default, set with [`ServeDefaults`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Command, Parser, ValueEnum};
use streamgate_contract::relay::env;
use streamgate_contract::{config, limits};
use tokio::net::TcpListener;

use crate::gateway::GatewayConfig;
use crate::gateway::listener;
use crate::gateway::origin::AllowedOrigins;

/// `--port`'s default, unless the binary sets its own ([`ServeDefaults`]).
pub const DEFAULT_PORT: u16 = 3000;

/// The serve flags: one group, flattened (`#[command(flatten)]`) into each server binary.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0: every interface, as in a container).
    #[arg(long, default_value = "127.0.0.1", env = env::HOST)]
    pub host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT, env = env::PORT)]
    pub port: u16,
    /// Web pages allowed to open sockets, by origin (`https://app.example.com`; repeat it or
    /// separate with commas; `*` for any). Pages served from localhost, 127.0.0.1 or [::1]
    /// (any port) and clients that send no Origin (not browsers) are always allowed.
    #[arg(long = "allow-origin", value_name = "ORIGIN", env = env::ALLOWED_ORIGINS)]
    pub allowed_origins: Vec<String>,
    /// Seconds a socket may go without a frame before it is closed.
    #[arg(
        long,
        default_value_t = limits::IDLE_TIMEOUT.as_secs(),
        env = env::IDLE_TIMEOUT_S
    )]
    pub idle_timeout_s: u64,
    /// Longest connection, in seconds.
    #[arg(
        long,
        default_value_t = limits::MAX_CONNECTION_DURATION.as_secs(),
        env = env::MAX_LIFETIME_S
    )]
    pub max_lifetime_s: u64,
    /// Log as text or as JSON lines (for CloudWatch).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = env::LOG_FORMAT)]
    pub log_format: LogFormat,
    /// `off`: record no metrics (no `GET /metrics`, no EMF lines; to measure what they cost).
    #[arg(long, value_enum, default_value_t = OnOff::On, env = config::METRICS)]
    pub metrics: OnOff,
}

/// A possible value's help (none: `--help` lists the values on one line).
const NO_HELP: Option<&str> = None;

/// How the logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For a terminal.
    #[value(help = NO_HELP)]
    Text,
    /// One JSON object per line, for CloudWatch.
    #[value(help = NO_HELP)]
    Json,
}

/// A switch (`on` or `off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    #[value(help = NO_HELP)]
    On,
    /// Off.
    #[value(help = NO_HELP)]
    Off,
}

/// Why the serve flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServeArgsError {
    /// `--host` and `--port` make no socket address.
    #[error("bad --host/--port: {0}")]
    Address(std::net::AddrParseError),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// An `--allow-origin` entry is not an origin.
    #[error("--allow-origin: {0}")]
    Origins(String),
}

impl ServeArgs {
    /// The address `--host` and `--port` name.
    pub fn address(&self) -> Result<SocketAddr, ServeArgsError> {
        format!("{}:{}", self.host, self.port)
            .parse()
            .map_err(ServeArgsError::Address)
    }

    /// The listening socket on [`address`](Self::address) (inside a Tokio runtime).
    pub fn bind(&self) -> Result<TcpListener, ServeArgsError> {
        let address = self.address()?;
        listener::bind(address).map_err(|source| ServeArgsError::Listen { address, source })
    }

    /// A socket with no frame for this long is closed.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }

    /// A socket is closed after this long.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_s)
    }

    /// Whether the logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        self.log_format == LogFormat::Json
    }

    /// Whether metrics are recorded.
    pub fn metrics_on(&self) -> bool {
        self.metrics == OnOff::On
    }

    /// `base` with what these flags decide: the allowed origins and the idle and lifetime
    /// timers.
    pub fn gateway_config(&self, base: GatewayConfig) -> Result<GatewayConfig, ServeArgsError> {
        Ok(GatewayConfig {
            idle_timeout: self.idle_timeout(),
            max_lifetime: self.max_lifetime(),
            allowed_origins: AllowedOrigins::with(&self.allowed_origins)
                .map_err(|e| ServeArgsError::Origins(e.to_string()))?,
            ..base
        })
    }
}

impl LogFormat {
    /// The flag's value for this format.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// A binary's own defaults for the [`ServeArgs`] it flattens; every other default is the same
/// in every binary.
#[derive(Debug, Clone, Copy)]
pub struct ServeDefaults {
    /// `--port`'s default.
    pub port: u16,
    /// `--log-format`'s default.
    pub log_format: LogFormat,
}

impl ServeDefaults {
    /// `command`, which flattens a [`ServeArgs`], with these defaults (shown by `--help` too).
    pub fn apply(self, command: Command) -> Command {
        // Once per process: clap keeps a default as a `&'static str`.
        let port: &'static str = Box::leak(self.port.to_string().into_boxed_str());
        command
            .mut_arg("port", |arg| arg.default_value(port))
            .mut_arg("log_format", |arg| {
                arg.default_value(self.log_format.as_str())
            })
    }

    /// This process's arguments parsed into `P` with these defaults; like
    /// [`Parser::parse`], a bad argument (or `--help`) prints and exits.
    pub fn parse<P: Parser>(self) -> P {
        let mut command = self.apply(P::command());
        let mut matches = command.get_matches_mut();
        P::from_arg_matches_mut(&mut matches)
            .map_err(|e| e.format(&mut command))
            .unwrap_or_else(|e| e.exit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    #[derive(Parser, Debug)]
    struct Server {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(defaults: Option<ServeDefaults>, args: &[&str]) -> ServeArgs {
        let command = Server::command();
        let mut command = match defaults {
            Some(d) => d.apply(command),
            None => command,
        };
        let mut matches = command
            .try_get_matches_from_mut(std::iter::once("server").chain(args.iter().copied()))
            .expect("the arguments parse");
        Server::from_arg_matches_mut(&mut matches)
            .expect("the matches fit")
            .serve
    }

    #[test]
    fn the_flags_are_well_formed() {
        Server::command().debug_assert();
        let relay = ServeDefaults {
            port: 8080,
            log_format: LogFormat::Json,
        };
        relay.apply(Server::command()).debug_assert();
    }

    #[test]
    fn the_timers_default_to_api_gateways() {
        let serve = parse(None, &[]);
        assert_eq!(serve.idle_timeout(), limits::IDLE_TIMEOUT);
        assert_eq!(serve.max_lifetime(), limits::MAX_CONNECTION_DURATION);
        assert_eq!(serve.port, DEFAULT_PORT);
        assert!(!serve.json_logs());
        assert!(serve.metrics_on());
        let config = serve
            .gateway_config(GatewayConfig::default())
            .expect("no origin to refuse");
        assert_eq!(config.idle_timeout, limits::IDLE_TIMEOUT);
        assert_eq!(config.max_lifetime, limits::MAX_CONNECTION_DURATION);
    }

    #[test]
    fn a_binary_sets_its_own_port_and_log_format() {
        let defaults = ServeDefaults {
            port: 8080,
            log_format: LogFormat::Json,
        };
        let serve = parse(Some(defaults), &[]);
        assert_eq!(serve.port, 8080);
        assert!(serve.json_logs());
        let serve = parse(Some(defaults), &["--port", "9", "--log-format", "text"]);
        assert_eq!(serve.port, 9);
        assert!(!serve.json_logs());
    }

    #[test]
    fn the_flags_decide_their_part_of_the_gateway() {
        let serve = parse(
            None,
            &[
                "--idle-timeout-s",
                "5",
                "--max-lifetime-s",
                "60",
                "--allow-origin",
                "https://app.example.com",
                "--metrics",
                "off",
            ],
        );
        assert!(!serve.metrics_on());
        let base = GatewayConfig {
            trusted_proxy_hops: 2,
            ..GatewayConfig::default()
        };
        let config = serve.gateway_config(base).expect("a good origin");
        assert_eq!(config.idle_timeout, Duration::from_secs(5));
        assert_eq!(config.max_lifetime, Duration::from_secs(60));
        assert_eq!(config.trusted_proxy_hops, 2);
        let bad = parse(None, &["--allow-origin", "not an origin"]);
        let error = bad
            .gateway_config(GatewayConfig::default())
            .expect_err("not an origin");
        assert!(error.to_string().starts_with("--allow-origin: "), "{error}");
    }

    #[test]
    fn a_bad_host_is_named() {
        let serve = parse(None, &["--host", "not a host"]);
        let error = serve.address().expect_err("not an address");
        assert!(
            error.to_string().starts_with("bad --host/--port: "),
            "{error}"
        );
    }
}
