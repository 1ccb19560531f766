//! A development issuer: an Ed25519 key made from a seed the caller draws (nothing persists),
//! its discovery document and JWKS, and tokens signed with it. The local server serves it on
//! loopback and prints a token from it; the tests mint every kind of bad token with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Paths under the issuer URL.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The key set's path under the issuer URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// An issuer whose key lives only in this process.
pub struct DevIssuer {
    issuer: String,
    audience: String,
    kid: String,
    key: EncodingKey,
    public: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DevIssuer {
    /// The issuer at `issuer` (its `iss`), issuing tokens for `audience`, with the key
    /// derived from `seed` (draw it at random).
    pub fn new(issuer: &str, audience: &str, seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .expect("an Ed25519 key always encodes as PKCS#8");
        let public = URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes());
        DevIssuer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            kid: format!("dev-{}", &public[..12]),
            key: EncodingKey::from_ed_der(der.as_bytes()),
            public,
        }
    }

    /// The issuer URL (tokens' `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience its tokens are for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key id its tokens name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}{JWKS_PATH}", self.issuer),
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"]
        })
    }

    /// The key set.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": self.public,
            "kid": self.kid, "alg": "EdDSA", "use": "sig"
        }]})
    }

    /// A token for `user` valid for `ttl`.
    pub fn token(&self, user: &str, ttl: Duration) -> String {
        let now = now();
        self.sign(&json!({
            "iss": self.issuer, "aud": self.audience, "sub": user,
            "iat": now, "exp": now + ttl.as_secs(), "token_use": "id"
        }))
    }

    /// A token with exactly `claims`, signed with this issuer's key and naming its key id.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("Ed25519 signing cannot fail")
    }
}
