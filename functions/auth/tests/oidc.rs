//! Sign-in with an OpenID Provider, at the Rust level, against a small provider of our own (axum on
//! 127.0.0.1, signing ID tokens with jsonwebtoken) that can do what a real one never would: a
//! wrong `iss` or `aud`, a foreign `azp`, an expired token, a wrong nonce, `alg: none`, HS256 with
//! the client secret, an unknown key. The real, certified provider runs in e2e/tests/oidc.rs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::{Method, Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{TestApp, PASSWORD};

const CLIENT_ID: &str = "tasks-api";
const CLIENT_SECRET: &str = "client-secret-of-the-tests";
const FRONTEND: &str = "http://127.0.0.1:3000/signed-in";

/// How the provider answers its next token request.
#[derive(Clone)]
struct Behaviour {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    /// Claims replacing (or, when null, removing) the ones built from the sign-in.
    overrides: Value,
    /// The key id in the header of the tokens, and in the JWKS.
    kid: String,
    jwks_kid: String,
    /// `RS256` (the provider's key), `HS256` (the client secret), `none`, or `other` (a key that
    /// is not in its JWKS).
    signing: &'static str,
    /// Every endpoint answers 503.
    down: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            sub: "sub-ada".into(),
            email: Some("ada@example.com".into()),
            email_verified: Some(true),
            overrides: json!({}),
            kid: "k1".into(),
            jwks_kid: "k1".into(),
            signing: "RS256",
            down: false,
        }
    }
}

struct Provider {
    issuer: String,
    behaviour: Mutex<Behaviour>,
    /// code → (nonce, code_challenge) of the authorization request it answers.
    codes: Mutex<HashMap<String, (String, String)>>,
    discoveries: Mutex<u32>,
}

fn rsa_keys() -> (Value, EncodingKey, EncodingKey) {
    let fixture: Value =
        serde_json::from_str(include_str!("../../../e2e/tests/fixtures/rsa_keys.json")).unwrap();
    let keys = fixture["keys"].as_array().unwrap();
    let key = |bits: u64| {
        keys.iter()
            .find(|k| k["bits"] == bits)
            .unwrap_or_else(|| panic!("no {bits}-bit key"))
            .clone()
    };
    let der = |k: &Value| {
        STANDARD
            .decode(k["private_key_pkcs1_der_base64"].as_str().unwrap())
            .unwrap()
    };
    let good = key(2048);
    let other = key(1024);
    (
        good["jwk"].clone(),
        EncodingKey::from_rsa_der(&der(&good)),
        EncodingKey::from_rsa_der(&der(&other)),
    )
}

async fn discovery(State(p): State<Arc<Provider>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    *p.discoveries.lock().unwrap() += 1;
    if p.behaviour.lock().unwrap().down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let i = &p.issuer;
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
    }))
    .into_response()
}

async fn jwks(State(p): State<Arc<Provider>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let behaviour = p.behaviour.lock().unwrap().clone();
    if behaviour.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut jwk = rsa_keys().0;
    jwk["kid"] = json!(behaviour.jwks_kid);
    axum::Json(json!({ "keys": [jwk] })).into_response()
}

async fn token(State(p): State<Arc<Provider>>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let behaviour = p.behaviour.lock().unwrap().clone();
    if behaviour.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap();
    let invalid_grant = || {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response()
    };
    // Single use, and bound to the PKCE challenge of its authorization request.
    let Some((nonce, challenge)) = p.codes.lock().unwrap().remove(&form["code"]) else {
        return invalid_grant();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
        return invalid_grant();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iss": p.issuer, "aud": CLIENT_ID, "sub": behaviour.sub, "nonce": nonce,
        "iat": now, "exp": now + 300,
    });
    if let Some(email) = &behaviour.email {
        claims["email"] = json!(email);
    }
    if let Some(verified) = behaviour.email_verified {
        claims["email_verified"] = json!(verified);
    }
    for (name, value) in behaviour.overrides.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    let (_, good, other) = rsa_keys();
    let id_token = match behaviour.signing {
        "none" => format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        ),
        "HS256" => jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
        )
        .unwrap(),
        signing => {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(behaviour.kid.clone());
            let key = if signing == "other" { &other } else { &good };
            jsonwebtoken::encode(&header, &claims, key).unwrap()
        }
    };
    axum::Json(json!({
        "access_token": "provider-access-token", "token_type": "Bearer",
        "expires_in": 300, "id_token": id_token,
    }))
    .into_response()
}

/// Starts the provider on a free loopback port.
async fn provider() -> Arc<Provider> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let p = Arc::new(Provider {
        issuer,
        behaviour: Mutex::new(Behaviour::default()),
        codes: Mutex::new(HashMap::new()),
        discoveries: Mutex::new(0),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(p.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    p
}

async fn app_for(issuer: &str) -> TestApp {
    TestApp::with_vars(&[
        ("OIDC_PROVIDERS", "corp"),
        ("OIDC_CORP_ISSUER", issuer),
        ("OIDC_CORP_CLIENT_ID", CLIENT_ID),
        ("OIDC_CORP_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_RETURN_URLS", "http://127.0.0.1:3000"),
        ("JWT_ISSUER", "http://127.0.0.1:9000"),
    ])
    .await
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(query).unwrap()
}

/// A started sign-in: what the browser carries to the provider and back.
struct Started {
    state: String,
    nonce: String,
    challenge: String,
    cookie: String,
}

async fn authorize(app: &TestApp, query: &str) -> crate::common::Answer {
    let request = Request::builder()
        .uri(format!("/auth/oidc/corp/authorize?{query}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(request).await
}

async fn start(app: &TestApp) -> Started {
    let answer = authorize(app, &format!("return_to={FRONTEND}")).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.body);
    let location = answer.headers["location"].to_str().unwrap();
    let q = query_of(location);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        "http://127.0.0.1:9000/auth/oidc/corp/callback"
    );
    assert!(q["scope"].contains("openid") && q["scope"].contains("email"));
    let cookie = answer.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
        cookie: cookie.split(';').next().unwrap().to_owned(),
    }
}

async fn callback(app: &TestApp, query: &str, cookie: &str) -> crate::common::Answer {
    let request = Request::builder()
        .uri(format!("/auth/oidc/corp/callback?{query}"))
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(request).await
}

/// The whole flow as a browser walks it; the `Location` the callback answers.
async fn sign_in(app: &TestApp, p: &Provider) -> String {
    let started = start(app).await;
    let code = format!("code-{}", uuid::Uuid::new_v4());
    p.codes.lock().unwrap().insert(
        code.clone(),
        (started.nonce.clone(), started.challenge.clone()),
    );
    let answer = callback(
        app,
        &format!("code={code}&state={}", started.state),
        &started.cookie,
    )
    .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.body);
    let location = answer.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(FRONTEND), "{location}");
    assert!(
        !location.contains("access_token") && !location.contains("refresh_token"),
        "never a token in a URL: {location}"
    );
    location
}

async fn exchange(app: &TestApp, code: &str, extra: &str) -> crate::common::Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!(
            "grant_type=authorization_code&code={code}{extra}"
        )))
        .unwrap();
    app.send(request).await
}

/// Signs in through the provider to the end: the access token.
async fn signed_in(app: &TestApp, p: &Provider) -> String {
    let location = sign_in(app, p).await;
    let code = query_of(&location)["code"].clone();
    let answer = exchange(app, &code, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

fn error_of(location: &str) -> String {
    let q = query_of(location);
    assert!(!q.contains_key("code"), "{location}");
    q["error"].clone()
}

async fn events(app: &TestApp, email: &str) -> Vec<(String, Value)> {
    app.sql()
        .await
        .query(
            "select kind, detail from security_events e join users u on u.id = e.user_id
              where u.email = $1 order by e.id",
            &[&email],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn counts(app: &TestApp) -> (i64, i64) {
    let row = app
        .sql()
        .await
        .query_one(
            "select (select count(*) from users), (select count(*) from user_identities)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_new_user_signs_in_through_the_provider_and_gets_our_tokens_through_a_one_time_code() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let location = sign_in(&app, &p).await;
    let code = query_of(&location)["code"].clone();
    let answer = exchange(&app, &code, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let token = answer.body["access_token"].as_str().unwrap();
    let me = app.get("/users/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["role"], "user");
    // The code is spent: a second exchange fails.
    let again = exchange(&app, &code, "").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);
    // The identity is listed, and its sign-in again lands in the same account.
    let identities = app.get("/users/me/identities", token).await;
    assert_eq!(identities.status, StatusCode::OK);
    assert_eq!(identities.body[0]["provider"], "corp");
    assert_eq!(identities.body[0]["email"], "ada@example.com");
    signed_in(&app, &p).await;
    assert_eq!(counts(&app).await, (1, 1));
    let kinds: Vec<String> = events(&app, "ada@example.com")
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        ["registered", "identity_linked", "signed_in", "signed_in"]
    );
    let logged = events(&app, "ada@example.com").await;
    assert_eq!(logged[0].1["provider"], "corp");
    assert_eq!(logged[2].1["amr"], json!(["fed"]));
    // No password: an old session cannot stand in for one (the fresh case: the test below).
    app.sql()
        .await
        .execute(
            "update sessions set created_at = now() - interval '1 day'",
            &[],
        )
        .await
        .unwrap();
    let delete = app
        .call(
            Method::DELETE,
            "/users/me",
            Some(token),
            Some(json!({"current_password": "whatever-it-is"})),
        )
        .await;
    assert_eq!(delete.status, StatusCode::UNAUTHORIZED, "{}", delete.body);
    assert!(delete.body["type"]
        .as_str()
        .unwrap()
        .ends_with("step-up-required"));
    // And a password sign-in to it fails like any wrong password.
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_frontend_pkce_binds_the_one_time_code() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let verifier = "a-verifier-of-the-frontend-that-is-long-enough-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let answer = authorize(
        &app,
        &format!("return_to={FRONTEND}&code_challenge={challenge}&code_challenge_method=S256"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let q = query_of(answer.headers["location"].to_str().unwrap());
    let cookie = answer.headers["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap();
    p.codes.lock().unwrap().insert(
        "c1".into(),
        (q["nonce"].clone(), q["code_challenge"].clone()),
    );
    let back = callback(&app, &format!("code=c1&state={}", q["state"]), cookie).await;
    let code = query_of(back.headers["location"].to_str().unwrap())["code"].clone();
    // Without the verifier, or with a wrong one: refused, and the code is spent.
    let wrong = exchange(
        &app,
        &code,
        "&code_verifier=wrong-verifier-wrong-verifier-wrong-verifier-0",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = exchange(&app, &code, &format!("&code_verifier={verifier}")).await;
    assert_eq!(
        right.status,
        StatusCode::UNAUTHORIZED,
        "spent by the wrong try"
    );
    // A plain challenge method is refused at the start.
    let plain = authorize(
        &app,
        &format!("return_to={FRONTEND}&code_challenge={challenge}&code_challenge_method=plain"),
    )
    .await;
    assert_eq!(plain.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_linking_rule_links_only_verified_addresses_on_both_sides() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    // An unverified account with the address (maybe an attacker's squat): refused, not linked.
    app.register("ada@example.com").await;
    let location = sign_in(&app, &p).await;
    assert_eq!(error_of(&location), "account_exists_unverified");
    assert_eq!(counts(&app).await, (1, 0));
    let logged = events(&app, "ada@example.com").await;
    let last = logged.last().unwrap();
    assert_eq!(last.0, "provider_sign_in_failed");
    assert_eq!(last.1["reason"], "account_exists_unverified");

    // A provider that does not vouch for the address: neither links nor creates.
    p.behaviour.lock().unwrap().email_verified = Some(false);
    p.behaviour.lock().unwrap().email = Some("bob@example.com".into());
    let location = sign_in(&app, &p).await;
    assert_eq!(error_of(&location), "email_not_verified");
    p.behaviour.lock().unwrap().email_verified = None;
    let location = sign_in(&app, &p).await;
    assert_eq!(error_of(&location), "email_not_verified");
    assert_eq!(counts(&app).await, (1, 0));

    // A verified account, and the provider vouches for another spelling of its address: linked.
    let (token, _, _) = app.signed_up_verified("carol@example.com").await;
    {
        let mut b = p.behaviour.lock().unwrap();
        *b = Behaviour {
            sub: "sub-carol".into(),
            email: Some("Carol@Example.com".into()),
            ..Behaviour::default()
        };
    }
    let provider_token = signed_in(&app, &p).await;
    let me = app.get("/users/me", &provider_token).await;
    assert_eq!(me.body["email"], "carol@example.com");
    let identities = app.get("/users/me/identities", &token).await;
    assert_eq!(identities.body.as_array().unwrap().len(), 1);
    // Once linked, the identity is its `sub`: an unverified email later changes nothing.
    p.behaviour.lock().unwrap().email_verified = Some(false);
    signed_in(&app, &p).await;

    // ...but a disabled account is refused.
    app.sql()
        .await
        .execute(
            "update users set disabled = true where email = 'carol@example.com'",
            &[],
        )
        .await
        .unwrap();
    let location = sign_in(&app, &p).await;
    assert_eq!(error_of(&location), "account_disabled");
}

#[tokio::test]
async fn state_nonce_and_code_cannot_be_replayed_or_forged() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let started = start(&app).await;
    p.codes.lock().unwrap().insert(
        "c1".into(),
        (started.nonce.clone(), started.challenge.clone()),
    );
    let query = format!("code=c1&state={}", started.state);
    // Another browser (no cookie, or another's) cannot finish this sign-in (login CSRF).
    let other = start(&app).await;
    for cookie in ["", other.cookie.as_str(), "oidc_login=forged"] {
        let answer = callback(&app, &query, cookie).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{cookie}");
        assert!(answer.headers.get("location").is_none());
    }
    // A state that was never issued.
    let forged = callback(&app, "code=c1&state=forged", &started.cookie).await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The right browser finishes it once; the same callback again is refused (code replay).
    let first = callback(&app, &query, &started.cookie).await;
    assert_eq!(first.status, StatusCode::FOUND);
    assert!(query_of(first.headers["location"].to_str().unwrap()).contains_key("code"));
    let replay = callback(&app, &query, &started.cookie).await;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A code redeemed with another sign-in's state: the provider refuses (PKCE), nothing made.
    let second = start(&app).await;
    p.codes.lock().unwrap().insert(
        "c2".into(),
        (second.nonce.clone(), started.challenge.clone()),
    );
    let answer = callback(
        &app,
        &format!("code=c2&state={}", second.state),
        &second.cookie,
    )
    .await;
    assert_eq!(
        error_of(answer.headers["location"].to_str().unwrap()),
        "invalid_grant"
    );

    // A nonce that is not this sign-in's (a token replayed from another): refused.
    let third = start(&app).await;
    p.codes.lock().unwrap().insert(
        "c3".into(),
        (started.nonce.clone(), third.challenge.clone()),
    );
    let answer = callback(
        &app,
        &format!("code=c3&state={}", third.state),
        &third.cookie,
    )
    .await;
    assert_eq!(
        error_of(answer.headers["location"].to_str().unwrap()),
        "invalid_token"
    );
    assert_eq!(counts(&app).await, (1, 1));

    // An answer naming another issuer (RFC 9207, a mix-up): refused before its code is used.
    let mixed = start(&app).await;
    p.codes
        .lock()
        .unwrap()
        .insert("c4".into(), (mixed.nonce.clone(), mixed.challenge.clone()));
    let answer = callback(
        &app,
        &format!(
            "code=c4&state={}&iss=https%3A%2F%2Fevil.example.com",
            mixed.state
        ),
        &mixed.cookie,
    )
    .await;
    assert_eq!(
        error_of(answer.headers["location"].to_str().unwrap()),
        "invalid_request"
    );
    assert!(
        p.codes.lock().unwrap().contains_key("c4"),
        "its code unused"
    );

    // The provider's own error goes back to the frontend; the sign-in is spent.
    let fourth = start(&app).await;
    let answer = callback(
        &app,
        &format!("error=access_denied&state={}", fourth.state),
        &fourth.cookie,
    )
    .await;
    assert_eq!(
        error_of(answer.headers["location"].to_str().unwrap()),
        "access_denied"
    );
}

/// A change to the provider's behaviour.
type Change = Box<dyn Fn(&mut Behaviour)>;

#[tokio::test]
async fn id_tokens_a_real_provider_would_never_send_are_refused() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases: Vec<(&str, Change)> = vec![
        (
            "another issuer",
            Box::new(|b| b.overrides = json!({"iss": "https://evil.example.com"})),
        ),
        (
            "another audience",
            Box::new(|b| b.overrides = json!({"aud": "another-client"})),
        ),
        (
            "another audience beside ours",
            Box::new(|b| b.overrides = json!({"aud": [CLIENT_ID, "another-client"]})),
        ),
        (
            "an azp that is not us",
            Box::new(|b| b.overrides = json!({"azp": "another-client"})),
        ),
        (
            "a foreign azp",
            Box::new(|b| {
                b.overrides = json!({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"})
            }),
        ),
        (
            "expired",
            Box::new(move |b| b.overrides = json!({"exp": now - 600, "iat": now - 900})),
        ),
        (
            "no nonce",
            Box::new(|b| b.overrides = json!({"nonce": null})),
        ),
        (
            "a wrong nonce",
            Box::new(|b| b.overrides = json!({"nonce": "not-this-one"})),
        ),
        ("alg none", Box::new(|b| b.signing = "none")),
        (
            "HS256 with the client secret",
            Box::new(|b| b.signing = "HS256"),
        ),
        (
            "a key not in its JWKS",
            Box::new(|b| {
                b.signing = "other";
                b.kid = "k9".into();
            }),
        ),
        ("no sub", Box::new(|b| b.overrides = json!({"sub": null}))),
    ];
    for (name, change) in cases {
        let mut behaviour = Behaviour::default();
        change(&mut behaviour);
        *p.behaviour.lock().unwrap() = behaviour;
        let location = sign_in(&app, &p).await;
        let q = query_of(&location);
        assert!(!q.contains_key("code"), "{name}: {location}");
        // A token without `sub` is no ID token at all: openidconnect cannot even read the answer.
        let expected = if name == "no sub" {
            "server_error"
        } else {
            "invalid_token"
        };
        assert_eq!(q["error"], expected, "{name}: {location}");
    }
    assert_eq!(counts(&app).await, (0, 0));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_then_accepted() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    signed_in(&app, &p).await;
    let before = *p.discoveries.lock().unwrap();
    {
        let mut b = p.behaviour.lock().unwrap();
        b.kid = "k2".into();
        b.jwks_kid = "k2".into();
    }
    signed_in(&app, &p).await;
    assert_eq!(
        *p.discoveries.lock().unwrap(),
        before + 1,
        "read again once"
    );
    signed_in(&app, &p).await;
    assert_eq!(*p.discoveries.lock().unwrap(), before + 1, "then cached");
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_clear_503_and_nothing_is_half_made() {
    // Nothing listens: discovery fails at the start.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let app = app_for(&format!("http://{closed}")).await;
    let answer = authorize(&app, &format!("return_to={FRONTEND}")).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    let logins: i64 = app
        .sql()
        .await
        .query_one("select count(*) from oidc_logins", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(logins, 0);

    // Down between the start and the callback: back to the frontend with temporarily_unavailable.
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let started = start(&app).await;
    p.codes.lock().unwrap().insert(
        "c1".into(),
        (started.nonce.clone(), started.challenge.clone()),
    );
    p.behaviour.lock().unwrap().down = true;
    let answer = callback(
        &app,
        &format!("code=c1&state={}", started.state),
        &started.cookie,
    )
    .await;
    assert_eq!(
        error_of(answer.headers["location"].to_str().unwrap()),
        "temporarily_unavailable"
    );
    assert_eq!(counts(&app).await, (0, 0));
}

#[tokio::test]
async fn bad_inputs_are_clear_problems() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let unknown = app
        .send(
            Request::builder()
                .uri(format!("/auth/oidc/nope/authorize?return_to={FRONTEND}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for return_to in [
        "https://evil.example.com/",
        "http://127.0.0.1:3000.evil.com/",
        "http://127.0.0.1:3000@evil.com/",
        "javascript:alert(1)",
        "",
    ] {
        let answer = authorize(&app, &format!("return_to={}", urlencode(return_to))).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{return_to}"
        );
    }
    let missing = authorize(&app, "").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "x".repeat(4_000);
    let oversized = callback(&app, &format!("code=c&state={long}"), "oidc_login=x").await;
    assert_eq!(oversized.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_code = exchange(&app, "", "").await;
    assert_eq!(no_code.status, StatusCode::UNAUTHORIZED);
    let forged = exchange(&app, "forged-code", "").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("grant_type=authorization_code"))
        .unwrap();
    assert_eq!(
        app.send(request).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let token = signed_in(&app, &p).await;
    let identities = app.get("/users/me/identities", &token).await;
    let id = identities.body[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/users/me/identities/{id}");
    let refused = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    // A second identity: now one of them may go.
    p.behaviour.lock().unwrap().sub = "sub-ada-2".into();
    signed_in(&app, &p).await;
    let removed = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let again = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let bad = app
        .call(
            Method::DELETE,
            "/users/me/identities/not-a-uuid",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    let kinds: Vec<String> = events(&app, "ada@example.com")
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(kinds.last().unwrap(), "identity_unlinked");
}

#[tokio::test]
async fn an_account_with_a_second_factor_still_needs_it_after_a_provider_sign_in() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let token = signed_in(&app, &p).await;
    // Arrange an active factor directly (its enrolment is tested elsewhere).
    app.sql()
        .await
        .execute(
            "insert into second_factors (user_id, sealed_secret, activated_at)
             select id, '\\x00', now() from users where email = 'ada@example.com'",
            &[],
        )
        .await
        .unwrap();
    let location = sign_in(&app, &p).await;
    let code = query_of(&location)["code"].clone();
    let answer = exchange(&app, &code, "").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(answer.body["error"], "mfa_required");
    assert!(answer.body["challenge"].is_string());
    // The challenge remembers the first factor: its second step's session says `fed`, not `pwd`.
    let first: String = app
        .sql()
        .await
        .query_one("select first_factor from sign_in_challenges", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, "fed");
    let _ = token;
}

#[tokio::test]
async fn an_account_without_a_password_proves_itself_by_a_recent_sign_in() {
    let p = provider().await;
    let app = app_for(&p.issuer).await;
    let token = signed_in(&app, &p).await;
    let enrol = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/users/me/second-factor/totp",
                Some(&token),
                Some(json!({"current_password": ""})),
            )
            .await
        }
    };
    // A fresh provider session stands in for the password it does not have.
    let fresh = enrol(token.clone()).await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.body);
    // An old one is told to sign in again, and nothing is enrolled anew.
    app.sql()
        .await
        .execute(
            "update sessions set created_at = now() - interval '1 day'",
            &[],
        )
        .await
        .unwrap();
    let stale = enrol(token).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.body);
    assert!(
        stale.body["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("step-up-required"),
        "{}",
        stale.body
    );
}
