//! What an emulated WebSocket API is: its routes (key, integration, route response), its
//! route selection expression, and the request templates of its non-proxy integrations.
//! The contract's chat API is one such API ([`ApiRoute::contract`]); a CloudFormation
//! template describes others (the template host's reader). Pure: no I/O.

pub mod selection;
pub mod vtl;

use std::time::Duration;

use streamgate_contract::{Invocation, Route, RouteKind, limits};

pub use selection::SelectionExpression;
pub use vtl::RequestTemplate;

/// How API Gateway calls a route's function.
#[derive(Debug, Clone)]
pub enum RouteIntegration {
    /// A Lambda proxy integration: API Gateway waits for the answer, at most the integration
    /// timeout.
    Proxy,
    /// An `AWS` integration with `X-Amz-Invocation-Type: 'Event'`: the event is what the
    /// request template renders; API Gateway does not wait; the function runs to its own
    /// timeout.
    Event(RequestTemplate),
}

/// One route of an emulated API.
#[derive(Debug, Clone)]
pub struct ApiRoute {
    /// The route key (`$connect`, `$default`, `sendmessage`...).
    pub key: String,
    /// How its function is called.
    pub integration: RouteIntegration,
    /// Whether the route has a route response (two-way): the function's `body` goes to the
    /// client.
    pub two_way: bool,
    /// API Gateway stops waiting for a proxy integration after this long (none: the
    /// gateway's setting).
    pub integration_timeout: Option<Duration>,
    /// The function's own timeout (an event invocation runs at most this long).
    pub function_timeout: Duration,
}

impl ApiRoute {
    /// How API Gateway selects this route, from its key.
    pub fn kind(&self) -> RouteKind {
        kind_of(&self.key)
    }

    /// A proxy route with Lambda's default function timeout.
    pub fn proxy(key: &str) -> ApiRoute {
        ApiRoute {
            key: key.to_owned(),
            integration: RouteIntegration::Proxy,
            two_way: false,
            integration_timeout: None,
            function_timeout: limits::INTEGRATION_TIMEOUT,
        }
    }

    /// A contract route as the generated template deploys it (an asynchronous route renders
    /// the same request template the stack carries).
    pub fn contract(route: Route) -> ApiRoute {
        let integration = match route.invocation() {
            Invocation::Synchronous => RouteIntegration::Proxy,
            Invocation::Asynchronous => RouteIntegration::Event(
                RequestTemplate::parse(&streamgate_contract::invocation::request_template())
                    .expect("the contract's request template is in the supported subset"),
            ),
        };
        ApiRoute {
            key: route.key().to_owned(),
            integration,
            two_way: false,
            integration_timeout: None,
            function_timeout: Duration::from_secs(u64::from(
                route.function().spec().timeout_seconds,
            )),
        }
    }

    /// The contract's routes.
    pub fn contract_routes() -> Vec<ApiRoute> {
        Route::ALL.iter().copied().map(ApiRoute::contract).collect()
    }

    /// Whether API Gateway hands this route's event over without waiting.
    pub fn is_asynchronous(&self) -> bool {
        matches!(self.integration, RouteIntegration::Event(_))
    }
}

/// API Gateway's reserved route keys. Any WebSocket API (the contract's or a template's) uses
/// these three; every other key is an action route. This module is the one place outside the
/// contract where they are written, and a test proves the contract agrees.
pub mod reserved {
    /// The route a socket's opening invokes (the 101 waits for it).
    pub const CONNECT: &str = "$connect";
    /// The route invoked once a socket has closed.
    pub const DISCONNECT: &str = "$disconnect";
    /// The route a frame no other route matches goes to.
    pub const DEFAULT: &str = "$default";
}

/// The kind of a route key: the three reserved keys, else an action route.
pub fn kind_of(key: &str) -> RouteKind {
    match key {
        reserved::CONNECT => RouteKind::Connect,
        reserved::DISCONNECT => RouteKind::Disconnect,
        reserved::DEFAULT => RouteKind::Default,
        _ => RouteKind::Action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_keys_have_their_kinds_and_the_contract_agrees() {
        for r in Route::ALL {
            assert_eq!(kind_of(r.key()), r.kind());
            let api = ApiRoute::contract(*r);
            assert_eq!(
                api.is_asynchronous(),
                r.invocation() == Invocation::Asynchronous
            );
        }
        assert_eq!(kind_of("sendmessage"), RouteKind::Action);
    }
}
