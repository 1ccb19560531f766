//! Who may connect to a local server: the `--auth` flags both server binaries share, the
//! development issuer (`--auth dev`, the default: a key in memory, its discovery document and
//! JWKS served on this server's port, a token printed at start-up), a real issuer
//! (`--auth-issuer`), or nobody checked (`--auth none`); and [`JwtAuthorizer`], the `$connect`
//! hook that checks the token as the Lambda authorizer does, with the same verifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use streamgate_auth::dev::DevIssuer;
use streamgate_auth::request::token_from_event;
use streamgate_auth::{JwtSettings, OidcKeySource, Verdict, Verifier};
use streamgate_contract::access::CONTEXT_USER_ID;
use streamgate_contract::config as env;

use crate::integration::{AuthDecision, Authorizer};

/// Where the development issuer lives on the server's port.
pub const DEV_ISSUER_PATH: &str = "/dev-issuer";
/// The audience the development issuer's tokens are for.
pub const DEV_AUDIENCE: &str = "streamgate-local";
/// How long the printed development token is valid.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// How connections are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// A development issuer inside this server; its token is printed at start-up.
    Dev,
    /// No check: anyone who reaches the port may connect.
    None,
}

/// The `--auth` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct AccessArgs {
    /// Who may connect: `dev` (a development issuer inside this server, whose token is
    /// printed at start-up) or `none` (no check at all). --auth-issuer overrides it.
    #[arg(
        long = "auth",
        value_enum,
        default_value = "dev",
        env = "STREAMGATE_AUTH"
    )]
    pub mode: AuthMode,
    /// A real OIDC issuer whose tokens may connect (`https://...`; Cognito's is
    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`).
    #[arg(long, value_name = "URL", env = env::AUTH_ISSUER)]
    pub auth_issuer: Option<String>,
    /// The audiences (or Cognito app clients) accepted, comma-separated; needed with
    /// --auth-issuer.
    #[arg(long, value_name = "AUD", env = env::AUTH_AUDIENCE)]
    pub auth_audience: Option<String>,
}

/// The access a server runs with.
#[derive(Debug, Clone)]
pub enum Access {
    /// Nobody is checked.
    Open,
    /// The development issuer, served on this server.
    Dev(Arc<DevIssuer>),
    /// A real issuer.
    Issuer(JwtSettings),
}

impl AccessArgs {
    /// The access these flags ask for, on a server whose own loopback URL is `base`
    /// (`http://127.0.0.1:PORT`), with `seed` drawn at random for a development key.
    pub fn resolve(&self, base: &str, seed: [u8; 32]) -> Result<Access, String> {
        if let Some(issuer) = self.auth_issuer.as_deref().filter(|i| !i.trim().is_empty()) {
            let lookup = |name: &str| match name {
                env::AUTH_ISSUER => Some(issuer.to_owned()),
                env::AUTH_AUDIENCE => self.auth_audience.clone(),
                _ => None,
            };
            let settings = JwtSettings::from_lookup(&lookup).map_err(|e| match e {
                streamgate_auth::SettingsError::NoAudience(_) => {
                    "--auth-issuer needs --auth-audience (the app client id tokens are for)"
                        .to_owned()
                }
                other => other.to_string(),
            })?;
            if !streamgate_auth::oidc::fetchable(&settings.issuer) {
                return Err(format!(
                    "--auth-issuer {}: not an https:// URL (plain http only on this machine)",
                    settings.issuer
                ));
            }
            return Ok(Access::Issuer(settings));
        }
        Ok(match self.mode {
            AuthMode::None => Access::Open,
            AuthMode::Dev => Access::Dev(Arc::new(DevIssuer::new(
                &format!("{base}{DEV_ISSUER_PATH}"),
                DEV_AUDIENCE,
                seed,
            ))),
        })
    }
}

impl Access {
    /// The `$connect` hook (none when nobody is checked).
    pub fn authorizer(&self) -> Result<Option<Arc<dyn Authorizer>>, String> {
        let settings = match self {
            Access::Open => return Ok(None),
            Access::Dev(dev) => JwtSettings {
                issuer: dev.issuer().to_owned(),
                audiences: vec![dev.audience().to_owned()],
            },
            Access::Issuer(settings) => settings.clone(),
        };
        let source = OidcKeySource::new(&settings.issuer).map_err(|e| e.to_string())?;
        Ok(Some(Arc::new(JwtAuthorizer(Verifier::new(
            settings,
            Arc::new(source),
        )))))
    }

    /// The development issuer, when it is the one.
    pub fn dev_issuer(&self) -> Option<Arc<DevIssuer>> {
        match self {
            Access::Dev(dev) => Some(dev.clone()),
            _ => None,
        }
    }

    /// One line for the banner, in plain words.
    pub fn describe(&self) -> String {
        match self {
            Access::Open => {
                "auth:            NONE: anyone who reaches this port may connect (--auth none)"
                    .to_owned()
            }
            Access::Dev(dev) => format!(
                "auth:            development issuer {} (tokens for {})",
                dev.issuer(),
                dev.audience()
            ),
            Access::Issuer(s) => format!(
                "auth:            tokens of {} for {}",
                s.issuer,
                s.audiences.join(", ")
            ),
        }
    }
}

/// The `$connect` hook that checks a bearer JWT (header or `token` query parameter): the user
/// in, with `userId` in the context later events carry; 401, 403 or 500 otherwise, as API
/// Gateway answers its authorizer's outcomes. Only the reason is logged, never the token.
pub struct JwtAuthorizer(pub Verifier);

#[async_trait]
impl Authorizer for JwtAuthorizer {
    async fn authorize(&self, event: &Value) -> AuthDecision {
        match self.0.verify(token_from_event(event)).await {
            Ok(identity) => {
                let mut context = Map::new();
                context.insert(CONTEXT_USER_ID.into(), json!(identity.user_id));
                AuthDecision::Allow {
                    principal_id: identity.user_id,
                    context,
                }
            }
            Err(reason) => {
                tracing::info!(reason = reason.as_str(), "refused a connection's token");
                match reason.verdict() {
                    Verdict::Unauthorized => AuthDecision::Unauthorized,
                    Verdict::Forbidden => AuthDecision::Deny,
                    Verdict::Failed => AuthDecision::Error,
                }
            }
        }
    }
}
