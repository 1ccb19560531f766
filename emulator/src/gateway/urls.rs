//! The URL table: every path the server answers, resolved in one place by [`resolve`] (pure,
//! so it is tested without sockets), then dispatched by `Gateway::handle` (`dispatch.rs`).
//!
//! | request                                   | endpoint                                 |
//! |-------------------------------------------|------------------------------------------|
//! | WebSocket upgrade on `/` or `/{stage}`    | the chat API (`$connect`, then frames)    |
//! | WebSocket upgrade on `/{other}`           | 403, as API Gateway answers a wrong stage |
//! | any method on `/{stage}/@connections/{id}`| the management API                       |
//! | WebSocket upgrade on `/realtime`          | the voice relay (when configured)         |
//! | `GET /`                                   | the test page                            |
//! | `GET /streamgate.json`                    | the test page's settings                 |
//! | `GET /voice`, `GET /restaurants.json`     | the voice page and its restaurants       |
//! | `POST /` with `X-Amz-Target: secretsmanager.*` | Secrets Manager (template APIs)      |
//! | `GET /healthz`                            | 200, or 503 once draining (load balancers) |
//! | `GET /metrics`                            | the metrics, Prometheus text (when given) |
//! | `GET /dev-issuer/.well-known/*`           | the development issuer's discovery and JWKS (`--auth dev`) |
//! | anything else                             | 404                                      |
//!
//! A relay-only server (no chat API, as on ECS) answers none of the chat rows and serves the
//! voice page on `GET /` too. While the server drains, upgrades are refused with 503.

use http::Method;

use streamgate_contract::relay;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Open a chat socket.
    ChatSocket,
    /// A chat socket on another stage: 403.
    WrongStage,
    /// The management API on a connection (the id as it appears in the path, still encoded).
    Management {
        /// The raw path segment.
        raw_id: String,
    },
    /// Open a voice relay socket.
    VoiceSocket,
    /// The test page.
    TestPage,
    /// The test page's settings.
    PageSettings,
    /// The voice page.
    VoicePage,
    /// The voice page's restaurants and their menus.
    Restaurants,
    /// A Secrets Manager call (`POST /` with an `X-Amz-Target`).
    SecretsManager,
    /// The health check.
    Health,
    /// The metrics in Prometheus' text format.
    Metrics,
    /// The development issuer's discovery document.
    IssuerDiscovery,
    /// The development issuer's key set.
    IssuerKeys,
    /// Nothing here: 404.
    NotFound,
}

/// What a server serves, as the URL table sees it.
#[derive(Debug, Clone, Copy)]
pub struct Surface<'a> {
    /// The chat API's stage.
    pub stage: &'a str,
    /// The chat API, its `@connections` API and the test page.
    pub chat: bool,
    /// The voice relay, its page and restaurant list.
    pub voice: bool,
    /// Secrets Manager calls (template APIs).
    pub secrets: bool,
    /// The development issuer's documents.
    pub issuer: bool,
    /// `GET /metrics`.
    pub metrics: bool,
}

/// Resolves a request: its method, path, whether it asks for a WebSocket upgrade, its
/// `X-Amz-Target` header (AWS JSON-protocol calls), and what this server serves.
pub fn resolve(
    method: &Method,
    path: &str,
    upgrade: bool,
    amz_target: Option<&str>,
    on: &Surface,
) -> Endpoint {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET;
    if on.secrets
        && method == Method::POST
        && segments.is_empty()
        && amz_target.is_some_and(|t| t.starts_with("secretsmanager."))
    {
        return Endpoint::SecretsManager;
    }
    let (chat, voice) = (on.chat, on.voice);
    let issuer = &crate::access::DEV_ISSUER_PATH[1..];
    match segments.as_slice() {
        [i, ".well-known", "openid-configuration"] if get && on.issuer && *i == issuer => {
            Endpoint::IssuerDiscovery
        }
        [i, ".well-known", "jwks.json"] if get && on.issuer && *i == issuer => Endpoint::IssuerKeys,
        [p] if get && !upgrade && *p == &relay::HEALTH_PATH[1..] => Endpoint::Health,
        ["metrics"] if get && !upgrade && on.metrics => Endpoint::Metrics,
        [p] if upgrade && voice && *p == &relay::SOCKET_PATH[1..] => Endpoint::VoiceSocket,
        [s, "@connections", id] if chat && *s == on.stage => Endpoint::Management {
            raw_id: (*id).to_owned(),
        },
        [] if upgrade && chat => Endpoint::ChatSocket,
        [s] if upgrade && chat && *s == on.stage => Endpoint::ChatSocket,
        [_] if upgrade && chat => Endpoint::WrongStage,
        [] if get && chat => Endpoint::TestPage,
        [] if get && !upgrade && voice => Endpoint::VoicePage,
        ["streamgate.json"] if get && chat => Endpoint::PageSettings,
        ["voice"] if get && voice => Endpoint::VoicePage,
        ["restaurants.json"] if get && voice => Endpoint::Restaurants,
        _ => Endpoint::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Surface = Surface {
        stage: "dev",
        chat: true,
        voice: true,
        secrets: false,
        issuer: true,
        metrics: true,
    };

    fn at(method: Method, path: &str, upgrade: bool) -> Endpoint {
        resolve(&method, path, upgrade, None, &ALL)
    }

    #[test]
    fn the_development_issuer_is_served_only_when_there_is_one() {
        let discovery = "/dev-issuer/.well-known/openid-configuration";
        let keys = "/dev-issuer/.well-known/jwks.json";
        assert_eq!(at(Method::GET, discovery, false), Endpoint::IssuerDiscovery);
        assert_eq!(at(Method::GET, keys, false), Endpoint::IssuerKeys);
        assert_eq!(at(Method::POST, keys, false), Endpoint::NotFound);
        let without = Surface {
            issuer: false,
            ..ALL
        };
        assert_eq!(
            resolve(&Method::GET, keys, false, None, &without),
            Endpoint::NotFound
        );
    }

    #[test]
    fn the_table_resolves_every_endpoint() {
        assert_eq!(at(Method::GET, "/", true), Endpoint::ChatSocket);
        assert_eq!(at(Method::GET, "/dev", true), Endpoint::ChatSocket);
        assert_eq!(at(Method::GET, "/prod", true), Endpoint::WrongStage);
        assert_eq!(
            at(Method::POST, "/dev/@connections/R1kmxc2VNjMCFIA%3D", false),
            Endpoint::Management {
                raw_id: "R1kmxc2VNjMCFIA%3D".into()
            }
        );
        assert_eq!(
            at(Method::POST, "/prod/@connections/x", false),
            Endpoint::NotFound
        );
        assert_eq!(at(Method::GET, "/realtime", true), Endpoint::VoiceSocket);
        assert_eq!(at(Method::GET, "/", false), Endpoint::TestPage);
        assert_eq!(at(Method::POST, "/", false), Endpoint::NotFound);
        assert_eq!(
            at(Method::GET, "/streamgate.json", false),
            Endpoint::PageSettings
        );
        assert_eq!(at(Method::GET, "/voice", false), Endpoint::VoicePage);
        assert_eq!(
            at(Method::GET, "/restaurants.json", false),
            Endpoint::Restaurants
        );
        assert_eq!(
            at(Method::GET, "/elsewhere/deep", false),
            Endpoint::NotFound
        );
        assert_eq!(at(Method::GET, "/healthz", false), Endpoint::Health);
        assert_eq!(at(Method::GET, "/metrics", false), Endpoint::Metrics);
        assert_eq!(at(Method::POST, "/metrics", false), Endpoint::NotFound);
        let no_metrics = Surface {
            metrics: false,
            ..ALL
        };
        assert_eq!(
            resolve(&Method::GET, "/metrics", false, None, &no_metrics),
            Endpoint::NotFound
        );
        let with_secrets = Surface {
            secrets: true,
            ..ALL
        };
        let secrets = |target| resolve(&Method::POST, "/", false, target, &with_secrets);
        assert_eq!(
            resolve(
                &Method::POST,
                "/",
                false,
                Some("secretsmanager.GetSecretValue"),
                &ALL
            ),
            Endpoint::NotFound
        );
        assert_eq!(
            secrets(Some("secretsmanager.GetSecretValue")),
            Endpoint::SecretsManager
        );
        assert_eq!(
            secrets(Some("DynamoDB_20120810.GetItem")),
            Endpoint::NotFound
        );
        assert_eq!(secrets(None), Endpoint::NotFound);
    }

    #[test]
    fn voice_endpoints_exist_only_with_the_relay() {
        let no_voice = Surface {
            voice: false,
            ..ALL
        };
        let without =
            |path: &str, upgrade: bool| resolve(&Method::GET, path, upgrade, None, &no_voice);
        assert_eq!(without("/voice", false), Endpoint::NotFound);
        assert_eq!(without("/restaurants.json", false), Endpoint::NotFound);
        // Without the relay, `/realtime` is just another stage name.
        assert_eq!(without("/realtime", true), Endpoint::WrongStage);
    }

    #[test]
    fn a_relay_only_server_serves_the_voice_page_at_the_root_and_nothing_of_the_chat_api() {
        let relay = Surface { chat: false, ..ALL };
        let on = |method: Method, path: &str, upgrade: bool| {
            resolve(&method, path, upgrade, None, &relay)
        };
        assert_eq!(on(Method::GET, "/", false), Endpoint::VoicePage);
        assert_eq!(on(Method::GET, "/voice", false), Endpoint::VoicePage);
        assert_eq!(on(Method::GET, "/realtime", true), Endpoint::VoiceSocket);
        assert_eq!(on(Method::GET, "/healthz", false), Endpoint::Health);
        assert_eq!(on(Method::GET, "/", true), Endpoint::NotFound);
        assert_eq!(on(Method::GET, "/dev", true), Endpoint::NotFound);
        assert_eq!(
            on(Method::POST, "/dev/@connections/x", false),
            Endpoint::NotFound
        );
        assert_eq!(
            on(Method::GET, "/streamgate.json", false),
            Endpoint::NotFound
        );
    }
}
