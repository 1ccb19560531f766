//! `$connect` and `$disconnect`: the connection record is written and deleted.

use std::time::Duration;

use streamgate_contract::{ApiKind, ConnectionRecord};
use tracing::{Instrument, error, info};

use super::span;
use crate::event::{self, WsEvent, WsResponse};
use crate::ports::ConnectionStore;
use crate::settings::ChatSettings;

/// The connection record of a CONNECT event.
pub fn connection_record(
    event: &WsEvent,
    ttl: Duration,
) -> Result<ConnectionRecord, event::MissingField> {
    let target = event::target(event)?;
    let ctx = &event.request_context;
    Ok(ConnectionRecord::new(
        ApiKind::Chat,
        target.connection_id,
        target.domain_name,
        target.stage,
        ctx.connected_at,
        ttl,
    )
    .from_client(
        ctx.identity.source_ip.clone(),
        ctx.identity.user_agent.clone(),
    ))
}

/// `$connect`: writes the connection record; 200, or 500 when it cannot be written.
pub async fn connect(
    event: &WsEvent,
    store: &dyn ConnectionStore,
    settings: &ChatSettings,
) -> WsResponse {
    async {
        let record = match connection_record(event, settings.connection_ttl) {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "malformed CONNECT event");
                return event::status(400);
            }
        };
        match store.put(&record).await {
            Ok(()) => {
                info!("connected");
                event::status(200)
            }
            Err(e) => {
                error!(error = %e, "cannot write the connection record");
                event::status(500)
            }
        }
    }
    .instrument(span("connect", event))
    .await
}

/// `$disconnect`: deletes the connection record (best effort; records also expire).
pub async fn disconnect(event: &WsEvent, store: &dyn ConnectionStore) -> WsResponse {
    async {
        let Some(id) = event.request_context.connection_id.as_deref() else {
            error!("DISCONNECT event without a connection id");
            return event::status(400);
        };
        match store.delete(id).await {
            Ok(()) => {
                info!(
                    status_code = event.request_context.disconnect_status_code,
                    "disconnected"
                );
                event::status(200)
            }
            Err(e) => {
                error!(error = %e, "cannot delete the connection record");
                event::status(500)
            }
        }
    }
    .instrument(span("disconnect", event))
    .await
}
