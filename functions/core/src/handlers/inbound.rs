//! What the handlers that answer a client's frame (`message`, `history`, `conversations`,
//! `cancel`) start with: the connection the frame came from, who owns what it names, and
//! the request id an answer carries when the frame names none.

use streamgate_contract::conversation::Owner;
use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorFrame, Route};

use crate::conversation::owner_of;
use crate::event::{self, WsEvent};
use crate::ports::Target;

/// A client's frame, as a handler answering it starts.
pub(super) struct Inbound {
    /// The connection it came from (where answers are posted).
    pub(super) target: Target,
    /// Who owns the conversations it names.
    pub(super) owner: Owner,
    /// API Gateway's id of the request, which answers carry when the frame names no id.
    pub(super) fallback_id: String,
}

impl Inbound {
    /// The frame of `event`, counted under `route`; `None` (answered 400) when the event is
    /// not a client's frame.
    pub(super) fn of(event: &WsEvent, route: Route) -> Option<Inbound> {
        let (Some(target), Some(owner)) = (event::message_target(event), owner_of(event)) else {
            return None;
        };
        streamgate_telemetry::count(Metric::Messages, &[route.key()]);
        Some(Inbound {
            target,
            owner,
            fallback_id: event::request_id(event).unwrap_or("-").to_owned(),
        })
    }

    /// `frame` (a refusal of the frame as sent) answering this request: with its own request
    /// id when it found one, else with the fallback.
    pub(super) fn refusal(&self, frame: ErrorFrame) -> ErrorFrame {
        match frame.request_id {
            Some(_) => frame,
            None => frame.for_request(self.fallback_id.clone()),
        }
    }
}
