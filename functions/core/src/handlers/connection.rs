//! `$connect` and `$disconnect`: the connection record is written and deleted, and the
//! user's place among their connections taken and given back.

use std::time::Duration;

use streamgate_contract::metrics::Metric;
use streamgate_contract::{ApiKind, ConnectionRecord};
use tracing::{Instrument, error, info};

use super::{ChatApp, span};
use crate::event::{self, WsEvent, WsResponse};
use crate::quota::{self, QuotaError};

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
    )
    .for_user(event::user_id(event).map(str::to_owned)))
}

/// `$connect`: takes the user's place among their connections (429 when they hold as many
/// as they may) and writes the connection record; 200, or 500 when either cannot be written.
pub(super) async fn connect(app: &ChatApp, event: &WsEvent) -> WsResponse {
    let settings = &app.settings;
    async {
        let record = match connection_record(event, settings.connection_ttl) {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "malformed CONNECT event");
                return event::status(400);
            }
        };
        if let Some(user) = record.user_id.as_deref() {
            let taken = quota::open_connection(
                app.quotas.as_ref(),
                &settings.quotas,
                user,
                &record.connection_id,
                crate::clock::now(),
            )
            .await;
            match taken {
                Ok(()) => {}
                Err(QuotaError::Exceeded(e)) => {
                    streamgate_telemetry::count(Metric::QuotaRefusals, &[e.quota]);
                    info!(
                        limit = settings.quotas.max_connections,
                        "refused: {}", e.sentence
                    );
                    return event::status(429);
                }
                Err(QuotaError::Store(e)) => {
                    error!(error = %e, "cannot take the connection's place");
                    return event::status(500);
                }
            }
        }
        match app.store.put(&record).await {
            Ok(()) => {
                streamgate_telemetry::count(Metric::ConnectionsOpened, &[]);
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

/// `$disconnect`: deletes the connection record and gives the user's place back (best
/// effort; records and places also expire).
pub(super) async fn disconnect(app: &ChatApp, event: &WsEvent) -> WsResponse {
    async {
        let Some(id) = event.request_context.connection_id.as_deref() else {
            error!("DISCONNECT event without a connection id");
            return event::status(400);
        };
        if let Some(user) = event::user_id(event)
            && let Err(e) = quota::close_connection(app.quotas.as_ref(), user, id).await
        {
            error!(error = %e, "cannot give the connection's place back");
        }
        match app.store.delete(id).await {
            Ok(()) => {
                streamgate_telemetry::count(Metric::ConnectionsClosed, &[]);
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
