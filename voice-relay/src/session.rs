//! The voice relay's state: the catalog, the stores, the places among the open sessions, and
//! what each session starts with (admission, setup, the connection record, the upstream
//! dial). One client socket's session runs in [`super::session_loop`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use streamgate_contract::{ApiKind, ConnectionRecord};
use streamgate_core::memory::MemoryQuotas;
use streamgate_core::{ConnectionStore, QuotaStore};

use super::admission::{Admission, Admissions, Refusal};
use super::budget::{self, user_of};
use super::catalog::{Catalog, Restaurant};
use super::protocol::{self, SessionSetup};
use super::settings::RealtimeConfig;
use super::upstream::{Dial, Upstream, UpstreamError};
use streamgate_emulator::events::ConnectionInfo;
use streamgate_sync::ReadWrite;

/// The relay.
pub struct RealtimeService {
    pub(crate) config: RealtimeConfig,
    /// The catalog now; replaced whole when it is refreshed (sessions keep the restaurant
    /// they started with).
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) store: Arc<dyn ConnectionStore>,
    quotas: Arc<dyn QuotaStore>,
    pub(crate) dropped_audio: AtomicU64,
    admissions: Arc<Admissions>,
}

impl RealtimeService {
    /// A relay writing connection records to `store`, with voice budgets in memory.
    pub fn new(config: RealtimeConfig, store: Arc<dyn ConnectionStore>) -> Arc<RealtimeService> {
        RealtimeService::with_quotas(config, store, Arc::new(MemoryQuotas::new()))
    }

    /// A relay writing connection records to `store` and charging voice to `quotas`.
    pub fn with_quotas(
        config: RealtimeConfig,
        store: Arc<dyn ConnectionStore>,
        quotas: Arc<dyn QuotaStore>,
    ) -> Arc<RealtimeService> {
        Arc::new(RealtimeService {
            catalog: RwLock::new(config.catalog.clone()),
            config,
            store,
            quotas,
            dropped_audio: AtomicU64::new(0),
            admissions: Arc::new(Admissions::default()),
        })
    }

    /// The catalog now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.reading().clone()
    }

    /// Replaces the catalog: new sessions see it; running ones keep their restaurant.
    pub fn replace_catalog(&self, catalog: Catalog) {
        *self.catalog.writing() = Arc::new(catalog);
    }

    /// Voice sessions open now.
    pub fn sessions(&self) -> u64 {
        self.admissions.live()
    }

    /// Charges one step of `user`'s daily voice budget (none when the budget is 0).
    pub async fn charge_voice(&self, user: &str) -> Result<(), Refusal> {
        budget::charge(self.quotas.as_ref(), self.config.daily_voice_seconds, user).await
    }

    /// Audio frames dropped for slow clients so far.
    pub fn dropped_audio(&self) -> u64 {
        self.dropped_audio.load(Ordering::Relaxed)
    }

    /// Checks a handshake: the restaurant, the language (default `en`; a language tag, see
    /// [`protocol::is_language_tag`]), and a place among the sessions for `client` (its
    /// address), within the global and per-client caps.
    pub fn admit(
        self: &Arc<Self>,
        query: &[(String, String)],
        client: &str,
    ) -> Result<Admission, Refusal> {
        let get = |k: &str| {
            query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
        };
        let id = get("restaurantId")
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::MissingRestaurant)?;
        let restaurant = self
            .catalog()
            .restaurant(&id)
            .cloned()
            .ok_or(Refusal::UnknownRestaurant(id))?;
        let language = get("language")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "en".to_owned());
        if !protocol::is_language_tag(&language) {
            return Err(Refusal::BadLanguage);
        }
        let ticket = self.admissions.take(
            client,
            self.config.max_sessions,
            self.config.max_sessions_per_client,
        )?;
        Ok(Admission {
            restaurant,
            language,
            ticket,
        })
    }

    /// What the protocol needs to know about this server and this session.
    pub(crate) fn setup(&self, restaurant: Restaurant, language: String) -> SessionSetup {
        SessionSetup {
            restaurant,
            language,
            voice: self.config.voice.clone(),
            transcription_model: self.config.transcription_model.clone(),
            missing_key: self
                .config
                .api_key
                .is_none()
                .then(|| self.config.api_key_var.clone()),
        }
    }

    pub(crate) async fn open_upstream(&self) -> Result<Upstream, UpstreamError> {
        let key = self.config.api_key.as_ref().ok_or(UpstreamError::NoKey)?;
        Upstream::connect(Dial {
            base_url: &self.config.base_url,
            model: &self.config.model,
            key,
            events_to_upstream: self.config.events_to_upstream,
            events_from_upstream: self.config.events_from_upstream,
        })
        .await
    }

    pub(crate) fn record(&self, info: &ConnectionInfo, setup: &SessionSetup) -> ConnectionRecord {
        ConnectionRecord::new(
            ApiKind::Realtime,
            info.connection_id.clone(),
            info.domain_name.clone(),
            info.stage.clone(),
            info.connected_at,
            self.config.record_ttl,
        )
        .from_client(Some(info.source_ip.clone()), info.user_agent.clone())
        .for_restaurant(setup.restaurant.id.clone(), setup.language.clone())
        .for_user(user_of(info).map(str::to_owned))
    }
}
