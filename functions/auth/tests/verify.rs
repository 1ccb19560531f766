//! The traps of JWT verification, each able to fail: tokens minted with a development
//! issuer's Ed25519 key and a fresh RSA key, checked by the same `Verifier` the Lambda
//! authorizer, the local server and the voice relay use.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a step that fails is a failed test, and says where"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use streamgate_auth::dev::DevIssuer;
use streamgate_auth::{JwkSet, JwtSettings, KeySource, KeysError, Reason, Verdict, Verifier};
use tokio::sync::Mutex;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "app-client";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn settings() -> JwtSettings {
    JwtSettings {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
    }
}

fn issuer(seed: u8) -> DevIssuer {
    DevIssuer::new(ISSUER, AUDIENCE, [seed; 32])
}

/// A key source serving whatever set the test puts in, counting fetches.
struct Keys {
    set: Mutex<Value>,
    fetches: AtomicU64,
}

#[async_trait]
impl KeySource for Keys {
    async fn fetch(&self) -> Result<JwkSet, KeysError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        serde_json::from_value(self.set.lock().await.clone()).map_err(|e| KeysError(e.to_string()))
    }
}

struct Setup {
    keys: Arc<Keys>,
    clock: Arc<AtomicU64>,
    verifier: Verifier,
}

fn setup(set: Value) -> Setup {
    let keys = Arc::new(Keys {
        set: Mutex::new(set),
        fetches: AtomicU64::new(0),
    });
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let c = clock.clone();
    let verifier = Verifier::with_clock(
        settings(),
        keys.clone(),
        Arc::new(move || c.load(Ordering::SeqCst)),
    );
    Setup {
        keys,
        clock,
        verifier,
    }
}

fn claims(extra: Value) -> Value {
    let mut c =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now(), "exp": now() + 600});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn verdict(s: &Setup, token: &str) -> Result<String, Reason> {
    s.verifier.verify(Some(token)).await.map(|i| i.user_id)
}

#[tokio::test]
async fn a_good_token_names_its_user_and_bad_ones_are_refused_for_their_reason() {
    let dev = issuer(1);
    let s = setup(dev.jwks());
    assert_eq!(
        verdict(&s, &dev.sign(&claims(json!({})))).await,
        Ok("user-1".into())
    );
    // Cognito access tokens: no `aud`, the app client in `client_id`.
    let access = claims(json!({"aud": null, "client_id": AUDIENCE, "token_use": "access"}));
    assert_eq!(verdict(&s, &dev.sign(&access)).await, Ok("user-1".into()));

    let cases: Vec<(&str, Result<String, Reason>, String)> = vec![
        ("garbage", Err(Reason::Malformed), "not-a-jwt".into()),
        ("empty", Err(Reason::Malformed), String::new()),
        ("huge", Err(Reason::Malformed), "a".repeat(20_000)),
        (
            "expired",
            Err(Reason::Expired),
            dev.sign(&claims(json!({"exp": now() - 120}))),
        ),
        (
            "within the skew",
            Ok("user-1".into()),
            dev.sign(&claims(json!({"exp": now() - 30}))),
        ),
        (
            "not yet valid",
            Err(Reason::NotYetValid),
            dev.sign(&claims(json!({"nbf": now() + 120}))),
        ),
        (
            "no exp",
            Err(Reason::Malformed),
            dev.sign(&claims(json!({"exp": null}))),
        ),
        (
            "wrong issuer",
            Err(Reason::Issuer),
            dev.sign(&claims(json!({"iss": "https://evil.example"}))),
        ),
        (
            "wrong audience",
            Err(Reason::Audience),
            dev.sign(&claims(json!({"aud": "other-app"}))),
        ),
        (
            "audience list without ours",
            Err(Reason::Audience),
            dev.sign(&claims(json!({"aud": ["a", "b"]}))),
        ),
        (
            "access token of another client",
            Err(Reason::Audience),
            dev.sign(&claims(json!({"aud": null, "client_id": "other"}))),
        ),
        (
            "refresh token",
            Err(Reason::TokenUse),
            dev.sign(&claims(json!({"token_use": "refresh"}))),
        ),
        (
            "no subject",
            Err(Reason::Subject),
            dev.sign(&claims(json!({"sub": null}))),
        ),
        (
            "empty subject",
            Err(Reason::Subject),
            dev.sign(&claims(json!({"sub": ""}))),
        ),
        (
            "a subject that would break out of a JSON string",
            Err(Reason::Subject),
            dev.sign(&claims(json!({"sub": "u\",\"admin\":\"1"}))),
        ),
        ("another key, same kid", Err(Reason::Signature), {
            // Signed by a stranger who copied our key id.
            let stranger = issuer(2);
            let t = stranger.sign(&claims(json!({})));
            let (_, rest) = t.split_once('.').unwrap();
            let header = URL_SAFE_NO_PAD
                .encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": dev.kid()}).to_string());
            format!("{header}.{rest}")
        }),
    ];
    for (name, expected, token) in cases {
        assert_eq!(verdict(&s, &token).await, expected, "{name}");
    }
    assert_eq!(s.verifier.verify(None).await, Err(Reason::Missing));
    assert_eq!(Reason::Audience.verdict(), Verdict::Forbidden);
    assert_eq!(Reason::Expired.verdict(), Verdict::Unauthorized);
    assert_eq!(Reason::KeysUnavailable.verdict(), Verdict::Failed);
}

#[tokio::test]
async fn alg_none_and_an_hmac_token_keyed_with_the_public_key_are_refused() {
    let dev = issuer(1);
    let s = setup(dev.jwks());
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    let none = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": dev.kid()}).to_string());
    assert_eq!(
        verdict(&s, &format!("{none}.{body}.")).await,
        Err(Reason::Malformed)
    );

    // An RSA issuer (Cognito's kind): RS256 passes; HS256 "signed" with the public key does not.
    let mut rng = rand08::thread_rng();
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let s = setup(json!({"keys": [{"kty": "RSA", "n": n, "e": e, "kid": "rsa-1", "use": "sig"}]}));
    let der = private.to_pkcs1_der().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let good = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .unwrap();
    assert_eq!(verdict(&s, &good).await, Ok("user-1".into()));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    for secret in [
        n.as_bytes().to_vec(),
        private.to_public_key().n().to_bytes_be(),
    ] {
        let forged =
            jsonwebtoken::encode(&hs, &claims(json!({})), &EncodingKey::from_secret(&secret))
                .unwrap();
        assert_eq!(verdict(&s, &forged).await, Err(Reason::Algorithm));
    }
    // A key that names its algorithm allows only that one.
    let s =
        setup(json!({"keys": [{"kty": "RSA", "n": n, "e": e, "kid": "rsa-1", "alg": "PS256"}]}));
    assert_eq!(verdict(&s, &good).await, Err(Reason::Algorithm));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_but_unknown_kids_fetch_at_most_once_a_minute() {
    let old = issuer(1);
    let new = issuer(3);
    let s = setup(old.jwks());
    assert!(verdict(&s, &old.sign(&claims(json!({})))).await.is_ok());
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 1);
    // The issuer rotates; a token with the new kid arrives within the minute: not fetched.
    *s.keys.set.lock().await = new.jwks();
    let rotated = new.sign(&claims(json!({})));
    assert_eq!(verdict(&s, &rotated).await, Err(Reason::UnknownKey));
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 1);
    // A minute later the unknown kid makes one fetch, and the token passes.
    s.clock.fetch_add(60, Ordering::SeqCst);
    assert_eq!(verdict(&s, &rotated).await, Ok("user-1".into()));
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 2);

    // A flood of random kids, in parallel: no fetch within the minute, one after it.
    let flood = |n: usize| {
        (0..n)
            .map(|i| {
                let mut h = Header::new(Algorithm::EdDSA);
                h.kid = Some(format!("random-{i}"));
                let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
                let head = URL_SAFE_NO_PAD.encode(serde_json::to_string(&h).unwrap());
                format!("{head}.{body}.c2ln")
            })
            .collect::<Vec<_>>()
    };
    let tokens = flood(200);
    let results = futures_join(&s.verifier, &tokens).await;
    assert!(results.iter().all(|r| *r == Err(Reason::UnknownKey)));
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 2);
    s.clock.fetch_add(61, Ordering::SeqCst);
    let results = futures_join(&s.verifier, &flood(200)).await;
    assert!(results.iter().all(|r| *r == Err(Reason::UnknownKey)));
    assert_eq!(
        s.keys.fetches.load(Ordering::SeqCst),
        3,
        "one fetch for the whole flood"
    );
}

/// Verifies every token at once (one task each, so they race for the key cache).
async fn futures_join(v: &Verifier, tokens: &[String]) -> Vec<Result<String, Reason>> {
    futures::future::join_all(
        tokens
            .iter()
            .map(|t| async move { v.verify(Some(t)).await.map(|i| i.user_id) }),
    )
    .await
}

#[tokio::test]
async fn an_issuer_out_of_reach_fails_the_check_and_is_not_hammered() {
    struct Down(AtomicU64);
    #[async_trait]
    impl KeySource for Down {
        async fn fetch(&self) -> Result<JwkSet, KeysError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(KeysError("connection refused".into()))
        }
    }
    let down = Arc::new(Down(AtomicU64::new(0)));
    let v = Verifier::with_clock(settings(), down.clone(), Arc::new(|| 5_000));
    let token = issuer(1).token("user-1", Duration::from_secs(60));
    for _ in 0..20 {
        assert_eq!(v.verify(Some(&token)).await, Err(Reason::KeysUnavailable));
    }
    assert_eq!(down.0.load(Ordering::SeqCst), 1);
}
