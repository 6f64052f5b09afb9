//! JWKS verification against a JWKS server the test controls (it counts fetches, rotates keys,
//! goes down or hangs), with keys made here: the algorithm comes from the key, iss/aud/exp/nbf/iat
//! and crit are checked, fetches stay bounded, and an unreachable JWKS is a 503 within 5 s.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::keys::{KeyPair, Kind};
use common::TestApp;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How the JWKS server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serving,
    /// Accepts connections and never answers.
    Hanging,
    /// Answers 500.
    Failing,
}

/// A JWKS at `http://127.0.0.1:port/api/auth/jwks` whose document, behaviour and fetch count
/// the test controls.
struct JwksServer {
    url: String,
    document: Arc<Mutex<String>>,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwksServer {
    async fn start(keys: &[&KeyPair]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Self {
            url: format!("http://127.0.0.1:{port}"),
            document: Arc::new(Mutex::new(jwks(keys))),
            mode: Arc::new(Mutex::new(Mode::Serving)),
            fetches: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (document, mode, fetches, stop) = (
            server.document.clone(),
            server.mode.clone(),
            server.fetches.clone(),
            server.stop.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (document, mode, fetches) = (document.clone(), mode.clone(), fetches.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let mode = *mode.lock().unwrap();
                    let (status, body) = match mode {
                        Mode::Hanging => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Mode::Failing => ("500 Internal Server Error", String::new()),
                        Mode::Serving => ("200 OK", document.lock().unwrap().clone()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        server
    }

    fn serve(&self, keys: &[&KeyPair]) {
        *self.document.lock().unwrap() = jwks(keys);
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The tasks function configured for this JWKS (issuer and audience: its URL).
    async fn app(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut vars = vec![("BETTER_AUTH_URL", self.url.as_str())];
        vars.extend_from_slice(extra);
        TestApp::configured(&vars).await
    }

    fn claims(&self, sub: &str) -> Value {
        let now = shared::token::unix_now();
        json!({"sub": sub, "iat": now, "exp": now + 900, "iss": self.url, "aud": self.url,
               "email": "ada@example.com", "emailVerified": false, "name": "Ada"})
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn jwks(keys: &[&KeyPair]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

async fn list(app: &TestApp, sub: &str, token: &str) -> common::Answer {
    app.call(Method::GET, &format!("/api/{sub}/tasks"), token, None)
        .await
}

#[tokio::test]
async fn every_better_auth_algorithm_verifies_with_the_key_it_names() {
    let keys = [
        KeyPair::new(Kind::EdDSA),
        KeyPair::new(Kind::ES256),
        KeyPair::new(Kind::RS256),
        KeyPair::new(Kind::PS256),
    ];
    let server = JwksServer::start(&keys.iter().collect::<Vec<_>>()).await;
    let app = server.app(&[]).await;
    for key in &keys {
        let token = key.sign(&key.header(), &server.claims("ba-user-1"));
        let answer = list(&app, "ba-user-1", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{:?}: {}",
            key.kind,
            answer.body
        );
    }
    assert_eq!(server.fetches(), 1, "one fetch serves every key");
}

#[tokio::test]
async fn the_algorithm_comes_from_the_key_never_from_the_header() {
    let ed = KeyPair::new(Kind::EdDSA);
    let ec = KeyPair::new(Kind::ES256);
    let server = JwksServer::start(&[&ed]).await;
    let app = server.app(&[]).await;
    let claims = server.claims("ba-user-1");
    // Signed with an ES256 key, under the kid of the EdDSA key.
    let mut header = ec.header();
    header["kid"] = json!(ed.kid);
    let forged = ec.sign(&header, &claims);
    assert_eq!(
        list(&app, "ba-user-1", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    // HS256 under the EdDSA key's kid, the public key as the HMAC secret (key confusion).
    let confused = common::keys::hs256(
        &json!({"alg": "HS256", "kid": ed.kid}),
        &claims,
        &ed.public_bytes(),
    );
    assert_eq!(
        list(&app, "ba-user-1", &confused).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        list(&app, "ba-user-1", &ed.sign(&ed.header(), &claims))
            .await
            .status,
        StatusCode::OK,
        "the control"
    );
}

#[tokio::test]
async fn expired_wrong_issuer_wrong_audience_foreign_key_and_tampered_are_401() {
    let key = KeyPair::new(Kind::EdDSA);
    let stranger = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let app = server.app(&[]).await;
    let now = shared::token::unix_now();
    let with = |claim: &str, value: Value| {
        let mut claims = server.claims("ba-user-1");
        claims[claim] = value;
        key.sign(&key.header(), &claims)
    };
    let mut no_exp = server.claims("ba-user-1");
    no_exp.as_object_mut().unwrap().remove("exp");
    let valid = key.sign(&key.header(), &server.claims("ba-user-1"));
    let mut tampered: Vec<String> = valid.split('.').map(str::to_owned).collect();
    tampered[1] = common::keys::b64(server.claims("ba-user-2").to_string().as_bytes());
    for (what, token) in [
        ("expired", with("exp", json!(now - 60))),
        ("no exp", key.sign(&key.header(), &no_exp)),
        ("wrong iss", with("iss", json!("https://evil.example"))),
        ("wrong aud", with("aud", json!("https://other.example"))),
        ("no sub", with("sub", Value::Null)),
        (
            "foreign key, its own kid",
            stranger.sign(&stranger.header(), &server.claims("ba-user-1")),
        ),
        ("foreign key, a known kid", {
            let mut header = stranger.header();
            header["kid"] = json!(key.kid);
            stranger.sign(&header, &server.claims("ba-user-1"))
        }),
        ("tampered", tampered.join(".")),
    ] {
        let answer = list(&app, "ba-user-1", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
        assert_eq!(answer.headers["www-authenticate"], "Bearer", "{what}");
    }
    assert_eq!(list(&app, "ba-user-1", &valid).await.status, StatusCode::OK);
}

#[tokio::test]
async fn jwks_tokens_with_future_nbf_or_iat_or_any_crit_or_an_embedded_key_are_401() {
    let key = KeyPair::new(Kind::EdDSA);
    let attacker = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let app = server.app(&[]).await;
    let now = shared::token::unix_now();
    let mut future_nbf = server.claims("ba-user-1");
    future_nbf["nbf"] = json!(now + 3600);
    let mut future_iat = server.claims("ba-user-1");
    future_iat["iat"] = json!(now + 3600);
    let mut crit = key.header();
    crit["crit"] = json!(["exp"]);
    let mut embedded = attacker.header();
    embedded["jwk"] = attacker.jwk();
    let mut jku = attacker.header();
    jku["jku"] = json!(format!("{}/api/auth/jwks", server.url));
    let claims = server.claims("ba-user-1");
    for (what, token) in [
        ("nbf in the future", key.sign(&key.header(), &future_nbf)),
        ("iat in the future", key.sign(&key.header(), &future_iat)),
        ("crit", key.sign(&crit, &claims)),
        ("embedded jwk", attacker.sign(&embedded, &claims)),
        ("jku", attacker.sign(&jku, &claims)),
        ("kid of absurd length", {
            let mut header = key.header();
            header["kid"] = json!("k".repeat(5000));
            key.sign(&header, &claims)
        }),
    ] {
        let answer = list(&app, "ba-user-1", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_accepted() {
    let old = KeyPair::new(Kind::EdDSA);
    let new = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&old]).await;
    let app = server
        .app(&[("BETTER_AUTH_JWKS_REFETCH_SECONDS", "1")])
        .await;
    let claims = server.claims("ba-user-1");
    assert_eq!(
        list(&app, "ba-user-1", &old.sign(&old.header(), &claims))
            .await
            .status,
        StatusCode::OK
    );
    // Better Auth rotates: the new key is listed beside the old one.
    server.serve(&[&new, &old]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = list(&app, "ba-user-1", &new.sign(&new.header(), &claims)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        list(&app, "ba-user-1", &old.sign(&old.header(), &claims))
            .await
            .status,
        StatusCode::OK,
        "the old key stays valid while listed"
    );
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_thousand_tokens_with_random_kids_cost_a_bounded_number_of_fetches() {
    let key = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let app = server.app(&[]).await;
    let claims = server.claims("ba-user-1");
    let started = Instant::now();
    for _ in 0..1000 {
        let mut header = key.header();
        header["kid"] = json!(uuid::Uuid::new_v4().simple().to_string());
        let answer = list(&app, "ba-user-1", &key.sign(&header, &claims)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let elapsed = started.elapsed();
    // One fetch, then at most one per refetch interval (5 s by default).
    let bound = 1 + (elapsed.as_secs() / 5) as usize;
    eprintln!(
        "1000 random kids in {elapsed:?}: {} fetches (bound {bound})",
        server.fetches()
    );
    assert!(server.fetches() <= bound, "{} fetches", server.fetches());
    assert_eq!(
        list(&app, "ba-user-1", &key.sign(&key.header(), &claims))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_within_5_s_and_cached_keys_keep_verifying() {
    let cached = KeyPair::new(Kind::EdDSA);
    let unseen = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&cached]).await;
    let app = server
        .app(&[("BETTER_AUTH_JWKS_REFETCH_SECONDS", "1")])
        .await;
    let claims = server.claims("ba-user-1");
    let cached_token = cached.sign(&cached.header(), &claims);
    let unseen_token = unseen.sign(&unseen.header(), &claims);

    for mode in [Mode::Hanging, Mode::Failing] {
        // A fresh environment: nothing cached, the JWKS does not answer.
        let cold = server
            .app(&[("BETTER_AUTH_JWKS_REFETCH_SECONDS", "1")])
            .await;
        server.set_mode(mode);
        let started = Instant::now();
        let answer = list(&cold, "ba-user-1", &cached_token).await;
        let took = started.elapsed();
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert!(answer.headers.contains_key("retry-after"));
        assert!(took < Duration::from_secs(5), "{took:?}");
        eprintln!(
            "JWKS {}: 503 after {took:?}",
            if mode == Mode::Hanging {
                "hanging"
            } else {
                "failing"
            }
        );
        server.set_mode(Mode::Serving);
    }

    assert_eq!(
        list(&app, "ba-user-1", &cached_token).await.status,
        StatusCode::OK
    );
    server.set_mode(Mode::Failing);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = list(&app, "ba-user-1", &unseen_token).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "unseen key, JWKS down"
    );
    assert_eq!(
        list(&app, "ba-user-1", &cached_token).await.status,
        StatusCode::OK,
        "a cached key keeps verifying while the JWKS is down"
    );
    server.set_mode(Mode::Serving);
    server.serve(&[&unseen, &cached]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        list(&app, "ba-user-1", &unseen_token).await.status,
        StatusCode::OK,
        "service resumes"
    );
}

#[tokio::test]
async fn an_es512_key_is_skipped_and_the_others_still_verify() {
    let key = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let mut document: Value = serde_json::from_str(&jwks(&[&key])).unwrap();
    document["keys"].as_array_mut().unwrap().push(json!({
        "kty": "EC", "crv": "P-521", "alg": "ES512", "kid": "es512-key",
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"
    }));
    *server.document.lock().unwrap() = document.to_string();
    let app = server.app(&[]).await;
    let claims = server.claims("ba-user-1");
    assert_eq!(
        list(&app, "ba-user-1", &key.sign(&key.header(), &claims))
            .await
            .status,
        StatusCode::OK
    );
    let es512 = format!(
        "{}.{}.{}",
        common::keys::b64(br#"{"alg":"ES512","kid":"es512-key"}"#),
        common::keys::b64(claims.to_string().as_bytes()),
        common::keys::b64(&[7u8; 132])
    );
    assert_eq!(
        list(&app, "ba-user-1", &es512).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_better_auth_subject_equal_to_one_of_our_user_ids_sees_only_its_own_tasks() {
    let key = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let app = server.app(&[]).await;
    let ours = app.user("ada@example.com").await;
    assert_eq!(
        app.create(&ours, json!({"title": "ours, private"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let impostor = key.sign(&key.header(), &server.claims(&ours.id));
    let listed = list(&app, &ours.id, &impostor).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body,
        json!([]),
        "a Better Auth subject never sees our user's tasks"
    );
    let created = app
        .call(
            Method::POST,
            &format!("/api/{}/tasks", ours.id),
            &impostor,
            Some(json!({"title": "Better Auth's"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let mine = list(&app, &ours.id, &ours.token).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert_eq!(mine.body[0]["title"], "ours, private");
}

#[tokio::test]
async fn a_jwks_document_given_as_configuration_needs_no_fetch() {
    let key = KeyPair::new(Kind::ES256);
    let document = jwks(&[&key]);
    let app = TestApp::configured(&[
        ("BETTER_AUTH_JWKS", &document),
        ("BETTER_AUTH_ISSUER", "https://auth.example.com"),
    ])
    .await;
    let now = shared::token::unix_now();
    let claims = json!({"sub": "ba-user-1", "iat": now, "exp": now + 900,
                        "iss": "https://auth.example.com", "aud": "https://auth.example.com"});
    assert_eq!(
        list(&app, "ba-user-1", &key.sign(&key.header(), &claims))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cached_token_stops_at_once_when_a_jwks_refresh_drops_its_key() {
    let old = KeyPair::new(Kind::ES256);
    let new = KeyPair::new(Kind::ES256);
    let server = JwksServer::start(&[&new, &old]).await;
    let app = server
        .app(&[
            ("BETTER_AUTH_JWKS_CACHE_SECONDS", "1"),
            ("BETTER_AUTH_JWKS_REFETCH_SECONDS", "1"),
        ])
        .await;
    let token = old.sign(&old.header(), &server.claims("ba-user-1"));
    for _ in 0..3 {
        assert_eq!(list(&app, "ba-user-1", &token).await.status, StatusCode::OK);
    }
    assert_eq!(server.fetches(), 1, "one fetch, then the cached verdict");
    // Better Auth retires the old key; once the key set is refreshed, its cached token is refused.
    server.serve(&[&new]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = list(&app, "ba-user-1", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    let fresh = new.sign(&new.header(), &server.claims("ba-user-1"));
    assert_eq!(list(&app, "ba-user-1", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_better_auth_token_with_a_cached_twins_signature_is_401() {
    let key = KeyPair::new(Kind::EdDSA);
    let server = JwksServer::start(&[&key]).await;
    let app = server.app(&[]).await;
    let token = key.sign(&key.header(), &server.claims("ba-user-1"));
    assert_eq!(list(&app, "ba-user-1", &token).await.status, StatusCode::OK);
    // The same header and signature over another subject's claims.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = common::keys::b64(server.claims("ba-user-2").to_string().as_bytes());
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert_eq!(
        list(&app, "ba-user-2", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(list(&app, "ba-user-1", &token).await.status, StatusCode::OK);
}
