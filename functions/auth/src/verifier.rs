//! The key set cached across calls (warm Lambda invocations, every handshake of a server),
//! fetched again when a token names a key it does not have, at most once a minute.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use streamgate_contract::access::JWKS_REFETCH_INTERVAL_SECONDS;
use streamgate_contract::metrics::Metric;
use tokio::sync::Mutex;

use crate::check::{Identity, JwtSettings, Reason, check};

/// After a failed fetch, the next one waits this long (an issuer that is down is not
/// hammered by every handshake).
const RETRY_AFTER_FAILURE_SECONDS: u64 = 5;

/// Why the keys could not be fetched (logged; never shown to clients).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeysError(pub String);

/// Where the issuer's keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The issuer's current key set.
    async fn fetch(&self) -> Result<JwkSet, KeysError>;
}

#[derive(Default)]
struct Cache {
    keys: Option<Arc<JwkSet>>,
    /// When the last fetch was tried, and whether it worked.
    last_attempt: Option<(u64, bool)>,
    fetches: u64,
}

/// Checks tokens against an issuer's keys.
pub struct Verifier {
    settings: JwtSettings,
    source: Arc<dyn KeySource>,
    cache: Mutex<Cache>,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Verifier {
    /// A verifier of `settings`' tokens with keys from `source`.
    pub fn new(settings: JwtSettings, source: Arc<dyn KeySource>) -> Self {
        Verifier::with_clock(settings, source, Arc::new(epoch_seconds))
    }

    /// The same, with the clock the refetch interval is measured on (tests move it).
    pub fn with_clock(
        settings: JwtSettings,
        source: Arc<dyn KeySource>,
        clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Self {
        Verifier {
            settings,
            source,
            cache: Mutex::new(Cache::default()),
            clock,
        }
    }

    /// Whose tokens this verifier accepts.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// How many times the key set has been fetched (or tried).
    pub async fn fetches(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    /// Fetches the keys now, so the first handshake does not wait for them.
    pub async fn warm(&self) -> Result<(), KeysError> {
        let mut cache = self.cache.lock().await;
        self.fetch_into(&mut cache).await.map(|_| ())
    }

    /// Checks `token` (none: [`Reason::Missing`]).
    pub async fn verify(&self, token: Option<&str>) -> Result<Identity, Reason> {
        let verdict = self.verify_uncounted(token).await;
        match &verdict {
            Ok(_) => streamgate_telemetry::count(Metric::SignIns, &[]),
            Err(reason) => streamgate_telemetry::count(Metric::SignInRefusals, &[reason.as_str()]),
        }
        verdict
    }

    async fn verify_uncounted(&self, token: Option<&str>) -> Result<Identity, Reason> {
        let token = token.ok_or(Reason::Missing)?;
        let keys = self.keys(false).await?;
        match check(token, &keys, &self.settings) {
            Err(Reason::UnknownKey) => {
                // A rotated key set may know it; `keys(true)` fetches only when allowed.
                let fresher = self.keys(true).await?;
                if Arc::ptr_eq(&fresher, &keys) {
                    return Err(Reason::UnknownKey);
                }
                check(token, &fresher, &self.settings)
            }
            result => result,
        }
    }

    /// The cached keys, fetched when there are none yet or when `unknown_key` asks and the
    /// last fetch is old enough. Callers wait for one fetch instead of starting their own.
    async fn keys(&self, unknown_key: bool) -> Result<Arc<JwkSet>, Reason> {
        let mut cache = self.cache.lock().await;
        let now = (self.clock)();
        let due = match cache.last_attempt {
            None => true,
            Some((at, ok)) => {
                let wait = if ok {
                    JWKS_REFETCH_INTERVAL_SECONDS
                } else {
                    RETRY_AFTER_FAILURE_SECONDS
                };
                now.saturating_sub(at) >= wait
            }
        };
        let wanted = cache.keys.is_none() || unknown_key;
        if wanted && due {
            match self.fetch_into(&mut cache).await {
                Ok(keys) => return Ok(keys),
                Err(e) => {
                    tracing::warn!(issuer = %self.settings.issuer, error = %e, "the issuer's keys could not be fetched");
                }
            }
        }
        cache.keys.clone().ok_or(Reason::KeysUnavailable)
    }

    async fn fetch_into(&self, cache: &mut Cache) -> Result<Arc<JwkSet>, KeysError> {
        cache.fetches += 1;
        let result = self.source.fetch().await;
        let now = (self.clock)();
        cache.last_attempt = Some((now, result.is_ok()));
        let keys = Arc::new(result?);
        cache.keys = Some(keys.clone());
        Ok(keys)
    }
}
