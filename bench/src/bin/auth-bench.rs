//! What the door costs: checking a token against cached keys (the development issuer's
//! Ed25519 and an RS256 key like Cognito's), and a `$connect` round trip (TCP, upgrade,
//! `$connect`, 101) on the in-process server with and without the check. Prints Markdown.
//!
//! `auth-bench [--connects N]`

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;
use streamgate_auth::dev::DevIssuer;
use streamgate_auth::{JwkSet, JwtSettings, KeySource, KeysError, Verifier};
use streamgate_emulator::access::{Access, DEV_AUDIENCE, DEV_ISSUER_PATH};
use streamgate_emulator::{Gateway, GatewayConfig, Registry};

struct Fixed(JwkSet);

#[async_trait]
impl KeySource for Fixed {
    async fn fetch(&self) -> Result<JwkSet, KeysError> {
        Ok(self.0.clone())
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p) as usize]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Median time of one `verify` over `n` checks of `token`.
async fn verify_time(keys: serde_json::Value, issuer: &str, token: &str, n: usize) -> Duration {
    let verifier = Verifier::new(
        JwtSettings {
            issuer: issuer.to_owned(),
            audiences: vec!["bench".into()],
        },
        Arc::new(Fixed(serde_json::from_value(keys).unwrap())),
    );
    verifier.verify(Some(token)).await.expect("a valid token");
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        verifier.verify(Some(token)).await.unwrap();
        samples.push(start.elapsed());
    }
    percentile(&mut samples, 0.5)
}

/// `$connect` round trips on the in-process chat server, with or without the check.
async fn connects(signed: bool, n: usize) -> (Duration, Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = Arc::new(Registry::new(None));
    let app = streamgate_core::ChatApp {
        store: Arc::new(streamgate_core::memory::MemoryStore::new()),
        push: Arc::new(streamgate_server::in_process::LocalPush(registry.clone())),
        llm: Arc::new(streamgate_llm::EchoProvider::new(Duration::ZERO)),
        conversations: Arc::new(streamgate_core::conversation::memory::MemoryConversations::new()),
        quotas: Arc::new(streamgate_core::memory::MemoryQuotas::new()),
        settings: streamgate_core::ChatSettings {
            quotas: streamgate_core::QuotaSettings {
                max_connections: 1_000,
                ..Default::default()
            },
            ..Default::default()
        },
    };
    let access = if signed {
        Access::Dev(Arc::new(DevIssuer::new(
            &format!("http://127.0.0.1:{}{DEV_ISSUER_PATH}", addr.port()),
            DEV_AUDIENCE,
            rand::random(),
        )))
    } else {
        Access::Open
    };
    let gateway = Gateway::builder(GatewayConfig::default())
        .chat(Arc::new(streamgate_server::ChatIntegration(app)), registry)
        .authorizer(access.authorizer().unwrap())
        .dev_issuer(access.dev_issuer())
        .build();
    tokio::spawn(gateway.clone().serve(listener));
    let url = match access.dev_issuer() {
        Some(dev) => format!(
            "ws://{addr}/dev?token={}",
            dev.token("bench-user", Duration::from_secs(3600))
        ),
        None => format!("ws://{addr}/dev"),
    };
    // The first connection (which fetches the keys) is not counted.
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    drop(ws);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connects");
        samples.push(start.elapsed());
        let _ = ws.close(None).await;
    }
    gateway.shutdown();
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    )
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut n = 500;
    while let Some(a) = args.next() {
        if a == "--connects" {
            n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n);
        }
    }
    let now = streamgate_core::clock::now();
    let claims = json!({"iss": "https://issuer.example", "aud": "bench", "sub": "bench-user", "exp": now + 3600});
    let dev = DevIssuer::new("https://issuer.example", "bench", [5; 32]);
    let ed = verify_time(
        dev.jwks(),
        "https://issuer.example",
        &dev.sign(&claims),
        2_000,
    )
    .await;
    let private = rsa::RsaPrivateKey::new(&mut rand08::thread_rng(), 2048).unwrap();
    let n_b64 = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e_b64 = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa".into());
    let der = private.to_pkcs1_der().unwrap();
    let rs_token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap();
    let rs = verify_time(
        json!({"keys": [{"kty": "RSA", "n": n_b64, "e": e_b64, "kid": "rsa", "alg": "RS256"}]}),
        "https://issuer.example",
        &rs_token,
        2_000,
    )
    .await;
    let (open50, open99) = connects(false, n).await;
    let (signed50, signed99) = connects(true, n).await;
    println!("## Who may connect\n");
    println!(
        "Checking a token against cached keys (`streamgate-auth`'s `Verifier`, the same in the authorizer function, the local server and the voice relay), median of 2,000: Ed25519 (the development issuer) {} µs, RS256 with a 2048-bit key (Cognito's kind) {} µs.\n",
        us(ed),
        us(rs)
    );
    println!(
        "`$connect` round trips on the in-process server (TCP connect, upgrade, `$connect` handler, 101), {n} in a row on loopback:\n"
    );
    println!("| door | p50 (µs) | p99 (µs) |\n|---|---:|---:|");
    println!("| open (`--auth none`) | {} | {} |", us(open50), us(open99));
    println!(
        "| token checked (`--auth dev`, token in the query) | {} | {} |",
        us(signed50),
        us(signed99)
    );
}
