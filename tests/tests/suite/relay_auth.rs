//! The voice relay's door: the same tokens as the chat API (401 without or with a bad one,
//! 403 for another audience) checked before anything else, sessions capped per user rather
//! than per address, and each user's daily voice seconds: a handshake is refused (429) once
//! they are spent, and a live session closes with 1008 and a reason that says so.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use streamgate_auth::dev::DevIssuer;
use streamgate_core::memory::MemoryStore;
use streamgate_emulator::access::{Access, DEV_AUDIENCE, DEV_ISSUER_PATH};
use streamgate_emulator::{Gateway, GatewayConfig};
use streamgate_voice_relay::{Catalog, RealtimeConfig, RealtimeService};
use tokio_tungstenite::tungstenite::{self, Message};

struct Door {
    addr: std::net::SocketAddr,
    dev: Arc<DevIssuer>,
    gateway: Arc<Gateway>,
}

/// A relay-only server (as on ECS) checking the development issuer's tokens.
async fn door(per_user: usize, daily_voice_seconds: u64) -> Door {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dev = Arc::new(DevIssuer::new(
        &format!("http://127.0.0.1:{}{DEV_ISSUER_PATH}", addr.port()),
        DEV_AUDIENCE,
        [9; 32],
    ));
    let access = Access::Dev(dev.clone());
    let mut config = RealtimeConfig::new(Catalog::sample(), None);
    config.max_sessions_per_client = per_user;
    config.daily_voice_seconds = daily_voice_seconds;
    let service = RealtimeService::new(config, Arc::new(MemoryStore::new()));
    let gateway = Gateway::builder(GatewayConfig::default())
        .authorizer(access.authorizer().unwrap())
        .dev_issuer(access.dev_issuer())
        .voice(service)
        .build();
    tokio::spawn(gateway.clone().serve(listener));
    Door { addr, dev, gateway }
}

impl Door {
    fn url(&self, token: Option<&str>) -> String {
        let mut url = format!("ws://{}/realtime?restaurantId=r-123", self.addr);
        if let Some(t) = token {
            url.push_str(&format!("&token={t}"));
        }
        url
    }

    fn token(&self, user: &str) -> String {
        self.dev.token(user, Duration::from_secs(600))
    }
}

async fn status_of(url: &str) -> Result<u16, String> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => Ok(101),
        Err(tungstenite::Error::Http(r)) => {
            let body = r
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .to_string();
            Err(format!("{} {body}", r.status().as_u16()))
        }
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_before_anything_else_and_sessions_are_capped_per_user() {
    let door = door(1, 0).await;
    // No token, a forged one, one for another app: refused before the restaurant is even read.
    let unknown_restaurant = format!("ws://{}/realtime?restaurantId=nope", door.addr);
    assert!(
        status_of(&unknown_restaurant)
            .await
            .unwrap_err()
            .starts_with("401")
    );
    assert!(
        status_of(&door.url(Some("garbage")))
            .await
            .unwrap_err()
            .starts_with("401")
    );
    let now = streamgate_core::clock::now();
    let other_app = door.dev.sign(
        &json!({"iss": door.dev.issuer(), "aud": "another-app", "sub": "u1", "exp": now + 600}),
    );
    assert!(
        status_of(&door.url(Some(&other_app)))
            .await
            .unwrap_err()
            .starts_with("403")
    );
    // Signed in: in. A second session of the same user (same address or not): 429.
    let (alice, _) = tokio_tungstenite::connect_async(door.url(Some(&door.token("alice"))))
        .await
        .expect("alice's first session");
    let second = status_of(&door.url(Some(&door.token("alice"))))
        .await
        .unwrap_err();
    assert!(second.starts_with("429"), "{second}");
    // Another user from the same address is not affected.
    let (bob, _) = tokio_tungstenite::connect_async(door.url(Some(&door.token("bob"))))
        .await
        .expect("bob shares alice's address, not her cap");
    drop((alice, bob));
    door.gateway.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_voice_budget_refuses_the_handshake_and_closes_a_live_session() {
    // Ten seconds a day: the first step is charged at the handshake, the next one fails.
    let door = door(4, 10).await;
    let (mut carol, _) = tokio_tungstenite::connect_async(door.url(Some(&door.token("carol"))))
        .await
        .expect("carol's first session");
    let refused = status_of(&door.url(Some(&door.token("carol"))))
        .await
        .unwrap_err();
    assert!(refused.starts_with("429"), "{refused}");
    assert!(
        refused.contains("voice budget") && refused.contains("retryAfterSeconds"),
        "{refused}"
    );
    // Dave's budget is his own.
    let (dave, _) = tokio_tungstenite::connect_async(door.url(Some(&door.token("dave"))))
        .await
        .expect("dave is not carol");
    // Carol's session closes when the next step cannot be charged, saying why.
    let close = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match carol.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the session ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 20 s");
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "daily voice budget spent");
    drop(dave);
    door.gateway.shutdown();
}
