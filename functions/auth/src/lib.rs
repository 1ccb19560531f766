//! Who may connect: a bearer JWT from an OIDC issuer, checked the same way by the Lambda
//! authorizer, the local server and the voice relay.
//!
//! * [`check`]: the decision on one token against a key set (no I/O): algorithms pinned to
//!   the key type, `iss`, `aud` or Cognito's `client_id`, `exp`/`nbf` with 60 s of skew,
//!   `token_use` where present, a subject.
//! * [`Verifier`]: the key set cached across calls, fetched again on an unknown key id at most
//!   once a minute, through a [`KeySource`].
//! * [`oidc`]: the [`KeySource`] that reads an issuer's discovery document and JWKS over HTTPS
//!   (plain HTTP only for loopback issuers).
//! * [`request`]: where a token is in a `$connect` event, and the authorizer's answers.
//! * [`dev`]: a development issuer (an in-memory key, its JWKS, tokens) for local runs and tests.
//!
//! A token is a secret: nothing here logs it, and no error carries it.

mod check;
pub mod dev;
pub mod oidc;
pub mod request;
mod verifier;

pub use check::{Identity, JwtSettings, Reason, SettingsError, Verdict, check};
pub use jsonwebtoken::jwk::JwkSet;
pub use oidc::OidcKeySource;
pub use verifier::{KeySource, KeysError, Verifier};
