//! The issuer's keys over HTTP: `{issuer}/.well-known/openid-configuration` names the
//! `jwks_uri` (read once), which is read on every fetch. HTTPS only, except for an issuer on
//! this machine (the local server's development issuer); bodies are capped and requests time
//! out, so a slow or hostile issuer cannot hold a handshake.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

use crate::verifier::{KeySource, KeysError};

/// Discovery documents and key sets larger than this are refused.
const BODY_MAX_BYTES: usize = 256 * 1024;

/// Keys read from an OIDC issuer.
pub struct OidcKeySource {
    issuer: String,
    http: reqwest::Client,
    jwks_uri: Mutex<Option<String>>,
}

/// Whether `url` may be fetched: `https://`, or `http://` to a loopback host.
pub fn fetchable(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl OidcKeySource {
    /// Keys of `issuer`; refused unless the issuer is HTTPS or on this machine.
    pub fn new(issuer: &str) -> Result<Self, KeysError> {
        if !fetchable(issuer) {
            return Err(KeysError(format!(
                "the issuer {issuer:?} is not an https:// URL (plain http is accepted only on this machine)"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeysError(format!("cannot build the HTTP client: {e}")))?;
        Ok(OidcKeySource {
            issuer: issuer.trim_end_matches('/').to_owned(),
            http,
            jwks_uri: Mutex::new(None),
        })
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, KeysError> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| KeysError(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(KeysError(format!("GET {url}: {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| KeysError(format!("GET {url}: {e}")))?
        {
            if body.len() + chunk.len() > BODY_MAX_BYTES {
                return Err(KeysError(format!(
                    "GET {url}: larger than {BODY_MAX_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| KeysError(format!("GET {url}: not JSON: {e}")))
    }

    async fn jwks_uri(&self) -> Result<String, KeysError> {
        let mut known = self.jwks_uri.lock().await;
        if let Some(uri) = known.as_ref() {
            return Ok(uri.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc = self.get_json(&url).await?;
        let named = doc["issuer"].as_str().unwrap_or("").trim_end_matches('/');
        if named != self.issuer {
            return Err(KeysError(format!(
                "{url} names the issuer {named:?}, not {:?}",
                self.issuer
            )));
        }
        let uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| KeysError(format!("{url} has no jwks_uri")))?;
        if !fetchable(uri) {
            return Err(KeysError(format!("{url}: jwks_uri {uri:?} is not https")));
        }
        *known = Some(uri.to_owned());
        Ok(uri.to_owned())
    }
}

#[async_trait]
impl KeySource for OidcKeySource {
    async fn fetch(&self) -> Result<JwkSet, KeysError> {
        let uri = self.jwks_uri().await?;
        let value = self.get_json(&uri).await?;
        serde_json::from_value(value).map_err(|e| KeysError(format!("{uri}: not a JWKS: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::fetchable;

    #[test]
    fn only_https_or_this_machine() {
        assert!(fetchable(
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
        ));
        assert!(fetchable("http://127.0.0.1:3000/dev-issuer"));
        assert!(fetchable("http://localhost:3000"));
        assert!(fetchable("http://[::1]:80/x"));
        assert!(!fetchable("http://issuer.example.com"));
        assert!(!fetchable("http://127.0.0.1.evil.example/"));
        assert!(!fetchable("ftp://127.0.0.1/"));
    }
}
