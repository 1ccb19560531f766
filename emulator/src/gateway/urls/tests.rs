//! The URL table's rows, resolved without sockets.

use std::net::SocketAddr;

use async_trait::async_trait;
use http::{Request, Response};
use hyper::body::Incoming;

use super::*;
use crate::gateway::Gateway;
use crate::gateway::http::Body;
use crate::gateway::secrets_manager::SecretsManager;

/// A voice surface the table can point at (never served here).
struct Voice;

#[async_trait]
impl VoiceSurface for Voice {
    async fn handshake(
        self: Arc<Self>,
        _: Arc<Gateway>,
        _: Request<Incoming>,
        _: SocketAddr,
    ) -> Response<Body> {
        Response::new(Body::default())
    }

    fn page(&self) -> Response<Body> {
        Response::new(Body::default())
    }

    fn restaurants(&self) -> Response<Body> {
        Response::new(Body::default())
    }

    fn sessions(&self) -> u64 {
        0
    }
}

/// Every part a server may serve.
struct Parts {
    voice: Arc<dyn VoiceSurface>,
    apis: Vec<Arc<dyn LocalApi>>,
    issuer: DevIssuer,
    metrics: streamgate_telemetry::Registry,
}

impl Parts {
    fn new() -> Parts {
        Parts {
            voice: Arc::new(Voice),
            apis: vec![Arc::new(SecretsManager(Arc::default()))],
            issuer: DevIssuer::new("http://127.0.0.1:1/dev-issuer", "aud", [7; 32]),
            metrics: streamgate_telemetry::Registry::new(),
        }
    }

    /// A server with the chat API, the relay, the issuer and metrics, without local APIs.
    fn all(&self) -> Surface<'_> {
        Surface {
            stage: "dev",
            chat: true,
            voice: Some(&self.voice),
            local_apis: &[],
            issuer: Some(&self.issuer),
            metrics: Some(&self.metrics),
        }
    }
}

fn name(endpoint: &Endpoint<'_>) -> String {
    format!("{endpoint:?}")
}

fn at(on: &Surface<'_>, method: Method, path: &str, upgrade: bool) -> String {
    name(&resolve(&method, path, upgrade, None, on))
}

#[test]
fn the_development_issuer_is_served_only_when_there_is_one() {
    let parts = Parts::new();
    let all = parts.all();
    let discovery = "/dev-issuer/.well-known/openid-configuration";
    let keys = "/dev-issuer/.well-known/jwks.json";
    assert_eq!(at(&all, Method::GET, discovery, false), "IssuerDiscovery");
    assert_eq!(at(&all, Method::GET, keys, false), "IssuerKeys");
    assert_eq!(at(&all, Method::POST, keys, false), "NotFound");
    let without = Surface {
        issuer: None,
        ..all
    };
    assert_eq!(at(&without, Method::GET, keys, false), "NotFound");
}

#[test]
fn the_table_resolves_every_endpoint() {
    let parts = Parts::new();
    let all = parts.all();
    let at = |method, path, upgrade| at(&all, method, path, upgrade);
    assert_eq!(at(Method::GET, "/", true), "ChatSocket");
    assert_eq!(at(Method::GET, "/dev", true), "ChatSocket");
    assert_eq!(at(Method::GET, "/prod", true), "WrongStage");
    assert_eq!(
        at(Method::POST, "/dev/@connections/R1kmxc2VNjMCFIA%3D", false),
        r#"Management { raw_id: "R1kmxc2VNjMCFIA%3D" }"#
    );
    assert_eq!(at(Method::POST, "/prod/@connections/x", false), "NotFound");
    assert_eq!(at(Method::GET, "/realtime", true), "VoiceSocket");
    assert_eq!(at(Method::GET, "/", false), "TestPage");
    assert_eq!(at(Method::POST, "/", false), "NotFound");
    assert_eq!(at(Method::GET, "/streamgate.json", false), "PageSettings");
    assert_eq!(at(Method::GET, "/voice", false), "VoicePage");
    assert_eq!(at(Method::GET, "/restaurants.json", false), "Restaurants");
    assert_eq!(at(Method::GET, "/elsewhere/deep", false), "NotFound");
    assert_eq!(at(Method::GET, "/healthz", false), "Health");
    assert_eq!(at(Method::GET, "/metrics", false), "Metrics");
    assert_eq!(at(Method::POST, "/metrics", false), "NotFound");
    let no_metrics = Surface {
        metrics: None,
        ..all
    };
    assert_eq!(
        name(&resolve(&Method::GET, "/metrics", false, None, &no_metrics)),
        "NotFound"
    );
}

#[test]
fn a_local_api_is_the_router_that_claims_the_call() {
    let parts = Parts::new();
    let with_secrets = Surface {
        local_apis: &parts.apis,
        ..parts.all()
    };
    let call = |on: &Surface<'_>, target| name(&resolve(&Method::POST, "/", false, target, on));
    assert_eq!(
        call(&parts.all(), Some("secretsmanager.GetSecretValue")),
        "NotFound"
    );
    assert_eq!(
        call(&with_secrets, Some("secretsmanager.GetSecretValue")),
        r#"LocalApi("secretsmanager")"#
    );
    assert_eq!(
        call(&with_secrets, Some("DynamoDB_20120810.GetItem")),
        "NotFound"
    );
    assert_eq!(call(&with_secrets, None), "NotFound");
}

#[test]
fn voice_endpoints_exist_only_with_the_relay() {
    let parts = Parts::new();
    let no_voice = Surface {
        voice: None,
        ..parts.all()
    };
    let without = |path: &str, upgrade: bool| at(&no_voice, Method::GET, path, upgrade);
    assert_eq!(without("/voice", false), "NotFound");
    assert_eq!(without("/restaurants.json", false), "NotFound");
    // Without the relay, `/realtime` is just another stage name.
    assert_eq!(without("/realtime", true), "WrongStage");
}

#[test]
fn a_relay_only_server_serves_the_voice_page_at_the_root_and_nothing_of_the_chat_api() {
    let parts = Parts::new();
    let relay = Surface {
        chat: false,
        ..parts.all()
    };
    let on = |method: Method, path: &str, upgrade: bool| at(&relay, method, path, upgrade);
    assert_eq!(on(Method::GET, "/", false), "VoicePage");
    assert_eq!(on(Method::GET, "/voice", false), "VoicePage");
    assert_eq!(on(Method::GET, "/realtime", true), "VoiceSocket");
    assert_eq!(on(Method::GET, "/healthz", false), "Health");
    assert_eq!(on(Method::GET, "/", true), "NotFound");
    assert_eq!(on(Method::GET, "/dev", true), "NotFound");
    assert_eq!(on(Method::POST, "/dev/@connections/x", false), "NotFound");
    assert_eq!(on(Method::GET, "/streamgate.json", false), "NotFound");
}
