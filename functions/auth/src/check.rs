//! The decision on one token against a key set: pure, so every trap is tested without a
//! network.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use streamgate_contract::access::{CLOCK_SKEW_SECONDS, TOKEN_MAX_BYTES};

/// Whose tokens are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// The issuer, exactly as tokens carry it in `iss`.
    pub issuer: String,
    /// Accepted `aud` values (ID tokens) or `client_id` values (Cognito access tokens).
    pub audiences: Vec<String>,
}

/// Why settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// No issuer.
    #[error("{0} is not set: name the OIDC issuer whose tokens are accepted")]
    NoIssuer(&'static str),
    /// No audience.
    #[error("{0} is not set: name the audience (app client id) tokens must be for")]
    NoAudience(&'static str),
}

impl JwtSettings {
    /// Settings from the contract's variables (`STREAMGATE_AUTH_ISSUER`,
    /// `STREAMGATE_AUTH_AUDIENCE`, comma-separated).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        use streamgate_contract::config::{AUTH_AUDIENCE, AUTH_ISSUER};
        let issuer = lookup(AUTH_ISSUER)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(SettingsError::NoIssuer(AUTH_ISSUER))?;
        let audiences: Vec<String> = lookup(AUTH_AUDIENCE)
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(SettingsError::NoAudience(AUTH_AUDIENCE));
        }
        Ok(JwtSettings { issuer, audiences })
    }
}

/// Who a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`: the user's id everywhere (principal, quotas, logs).
    pub user_id: String,
}

/// What a refusal answers, as API Gateway answers its authorizer's outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 401: no token, or one that does not prove anything.
    Unauthorized,
    /// 403: a genuine token that is not for this API.
    Forbidden,
    /// 500: the check itself could not be made (the issuer's keys are out of reach).
    Failed,
}

/// Why a token was refused. The reason is logged; the client sees only the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// No token in the request.
    #[error("no token")]
    Missing,
    /// Not a JWT, or larger than any real one.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// An algorithm its key may not be used with (`none`, `HS*` against a public key, ...).
    #[error("the token's algorithm is not allowed for its key")]
    Algorithm,
    /// A key id the issuer's key set does not have.
    #[error("the token names no key of the issuer")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// Past `exp` (and the skew).
    #[error("the token has expired")]
    Expired,
    /// Before `nbf` (and the skew).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Another issuer.
    #[error("the token is from another issuer")]
    Issuer,
    /// No usable `sub`.
    #[error("the token names no subject")]
    Subject,
    /// For another audience or app client.
    #[error("the token is for another audience")]
    Audience,
    /// A `token_use` other than `id` or `access`.
    #[error("the token's use is not accepted")]
    TokenUse,
    /// The issuer's keys could not be fetched.
    #[error("the issuer's keys could not be fetched")]
    KeysUnavailable,
}

impl Reason {
    /// The answer this refusal gets.
    pub fn verdict(self) -> Verdict {
        match self {
            Reason::Audience | Reason::TokenUse => Verdict::Forbidden,
            Reason::KeysUnavailable => Verdict::Failed,
            _ => Verdict::Unauthorized,
        }
    }

    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::Algorithm => "algorithm",
            Reason::UnknownKey => "unknown_key",
            Reason::Signature => "signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Issuer => "issuer",
            Reason::Subject => "subject",
            Reason::Audience => "audience",
            Reason::TokenUse => "token_use",
            Reason::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// The claims read beyond what `jsonwebtoken` checks.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    client_id: Option<String>,
    token_use: Option<String>,
}

/// The signature algorithms a key may verify: its own `alg` when it names one, else those of
/// its type. Never an HMAC algorithm (a JWKS holds public keys; using one as an HMAC secret
/// is the key-confusion attack), never `none` (which `jsonwebtoken` cannot even parse).
fn allowed_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Vec::new();
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => Vec::new(),
    };
    let named = match jwk.common.key_algorithm {
        None => return by_type,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::RS384) => Algorithm::RS384,
        Some(KeyAlgorithm::RS512) => Algorithm::RS512,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::PS384) => Algorithm::PS384,
        Some(KeyAlgorithm::PS512) => Algorithm::PS512,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::ES384) => Algorithm::ES384,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return Vec::new(),
    };
    by_type.into_iter().filter(|a| *a == named).collect()
}

/// The key a token names: by `kid`, or the only signing key when the token names none.
fn key_for<'a>(keys: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
}

/// Checks `token` against `keys` under `settings`. [`Reason::UnknownKey`] tells the caller
/// that a fresher key set might know the key.
pub fn check(token: &str, keys: &JwkSet, settings: &JwtSettings) -> Result<Identity, Reason> {
    if token.is_empty() || token.len() > TOKEN_MAX_BYTES {
        return Err(Reason::Malformed);
    }
    let header = decode_header(token).map_err(|_| Reason::Malformed)?;
    let jwk = key_for(keys, header.kid.as_deref()).ok_or(Reason::UnknownKey)?;
    if !allowed_algorithms(jwk).contains(&header.alg) {
        return Err(Reason::Algorithm);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Reason::Signature)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.leeway = CLOCK_SKEW_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    // `aud` is checked below: Cognito access tokens carry `client_id` instead.
    validation.validate_aud = false;
    validation.set_issuer(&[settings.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Reason::Signature,
            ErrorKind::ExpiredSignature => Reason::Expired,
            ErrorKind::ImmatureSignature => Reason::NotYetValid,
            ErrorKind::InvalidIssuer => Reason::Issuer,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Reason::Algorithm,
            ErrorKind::MissingRequiredClaim(c) if c == "sub" => Reason::Subject,
            _ => Reason::Malformed,
        })?
        .claims;
    let accepted = |v: &str| settings.audiences.iter().any(|a| a == v);
    let audience_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => accepted(a),
        Some(serde_json::Value::Array(list)) => {
            list.iter().filter_map(|a| a.as_str()).any(accepted)
        }
        Some(_) => false,
        None => claims.client_id.as_deref().is_some_and(accepted),
    };
    if !audience_ok {
        return Err(Reason::Audience);
    }
    if let Some(used_for) = &claims.token_use
        && used_for != "id"
        && used_for != "access"
    {
        return Err(Reason::TokenUse);
    }
    match claims.sub {
        Some(sub) if subject_ok(&sub) => Ok(Identity { user_id: sub }),
        _ => Err(Reason::Subject),
    }
}

/// A subject fit to be a user id everywhere it goes (quota keys, logs, the request template
/// API Gateway renders without escaping): 1 to 256 characters of letters, digits and
/// `-_.:|@+=/`. Cognito's UUIDs, Auth0's `provider|id`, Google's digits and Entra's ids fit.
fn subject_ok(sub: &str) -> bool {
    (1..=256).contains(&sub.len())
        && sub
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:|@+=/".contains(c))
}
