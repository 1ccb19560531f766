//! Who may connect: the API's access (a JWT from an OIDC issuer, or `Public`, chosen
//! explicitly), where a client puts its token, what the authorizer hands the routes, and the
//! verification limits every verifier (the Lambda authorizer, the local server, the voice
//! relay) applies.

/// How clients are let in on `$connect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A bearer JWT from an OIDC issuer: the stack's `AuthIssuer` and `AuthAudience`
    /// parameters, or a Cognito user pool the stack creates when `AuthIssuer` is empty. The
    /// authorizer function checks it on `$connect`.
    Jwt,
    /// Anyone may connect and spend the operator's model key. Never a default: a stack whose
    /// `$connect` has no authorizer is refused unless the contract says this.
    Public,
}

/// The chat API's access.
pub const API_ACCESS: Access = Access::Jwt;

/// The query parameter a browser puts its token in (browsers cannot set headers on a
/// WebSocket); other clients send `Authorization: Bearer TOKEN`.
pub const TOKEN_QUERY_PARAMETER: &str = "token";

/// The authorizer context key holding the user's id (the token's `sub`); later events carry
/// it under `requestContext.authorizer`.
pub const CONTEXT_USER_ID: &str = "userId";

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// A key id the cached JWKS does not have makes the verifier fetch the JWKS again at most
/// this often, in seconds (key rotation, without letting random `kid`s flood the issuer).
pub const JWKS_REFETCH_INTERVAL_SECONDS: u64 = 60;

/// Tokens longer than this are refused before they are parsed.
pub const TOKEN_MAX_BYTES: usize = 16 * 1024;
