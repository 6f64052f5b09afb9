//! Tokens other services can verify: EdDSA access tokens, the published JWKS and discovery
//! document, an independent JOSE library (PyJWT, from .venv) verifying our token from the JWKS
//! alone, and key rotation that signs nobody out. The tasks function here holds public keys only.

use crate::common;

use std::collections::HashMap;

use auth::{AuthSettings, AuthState};
use axum::body::{to_bytes, Body};
use common::{TestApp, PASSWORD};
use http::{Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{JwtConfig, Source};
use shared::token::ring::KeyRing;
use tower::ServiceExt;

fn vars(pairs: &[(String, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .cloned()
        .chain([("ADMIN_EMAIL".to_owned(), "admin@example.com".to_owned())])
        .collect()
}

/// The auth function on `app`'s database, configured by `pairs` (a key ring's variables).
fn auth_with(app: &TestApp, pairs: &[(String, String)]) -> axum::Router {
    let vars = vars(pairs);
    let jwt = JwtConfig::from_source(&Source::new(&vars)).unwrap();
    jwt.require_signing().unwrap();
    auth::app(AuthState::new(
        app.database.pool(),
        &jwt,
        AuthSettings::from_source(&vars).unwrap(),
    ))
}

/// The tasks function on `app`'s database, configured by `pairs` (public keys only).
fn tasks_with(app: &TestApp, pairs: &[(String, String)]) -> axum::Router {
    let vars = vars(pairs);
    assert!(
        !vars.contains_key("JWT_SIGNING_KEY") && !vars.contains_key("JWT_SECRET"),
        "the tasks function must get no signing key"
    );
    let jwt = JwtConfig::from_source(&Source::new(&vars)).unwrap();
    jwt.require_public_keys().unwrap();
    tasks::app(tasks::TasksState::new(app.database.pool(), &jwt, None).unwrap())
}

async fn get(
    router: &axum::Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value, http::HeaderMap) {
    let mut request = Request::get(path).header("host", "localhost:9000");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

async fn login(router: &axum::Router, email: &str) -> String {
    let request = Request::post("/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"email": email, "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn kid(token: &str) -> String {
    shared::token::precheck::precheck(token, shared::token::unix_now())
        .unwrap()
        .kid
        .unwrap()
}

/// `/users/me` on auth and the task list on tasks, with `token`: both statuses.
async fn both(
    auth: &axum::Router,
    tasks: &axum::Router,
    token: &str,
    user_id: &str,
) -> (StatusCode, StatusCode) {
    let me = get(auth, "/users/me", Some(token)).await.0;
    let list = get(tasks, &format!("/api/{user_id}/tasks"), Some(token))
        .await
        .0;
    (me, list)
}

#[tokio::test]
async fn the_jwks_and_discovery_documents_publish_public_keys_only() {
    let app = TestApp::new().await;
    let ring = KeyRing::generate();
    let auth = auth_with(&app, &ring.signer_vars());
    let (status, jwks, headers) = get(&auth, "/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(headers["content-type"], "application/json");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the signing key and the next one: {jwks}");
    for key in keys {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert!(
            key.get("d").is_none(),
            "a private part was published: {key}"
        );
    }
    assert_eq!(keys[0]["kid"], ring.signing_kid().unwrap());

    // No public URL configured (the local default issuer): the metadata names no endpoint, says
    // what to set, and is not cached; the `Host` of the request is never echoed.
    let (status, metadata, headers) =
        get(&auth, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(metadata["issuer"], "tasks-api");
    assert!(metadata.get("jwks_uri").is_none(), "{metadata}");
    assert!(metadata.get("token_endpoint").is_none(), "{metadata}");
    // (`get` sends `Host: localhost:9000`, which the old document echoed as its base.)
    assert!(!metadata.to_string().contains("localhost"));
    assert!(metadata["configuration_hint"]
        .as_str()
        .unwrap()
        .contains("JWT_ISSUER"));
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["password", "refresh_token"])
    );
    // We are no OpenID Provider: no OIDC discovery document (OIDC Discovery 1.0 §3 would require
    // an authorization endpoint we do not have).
    let (status, _, _) = get(&auth, "/.well-known/openid-configuration", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An issuer that is a URL (as in AWS) is the base of every URL, whatever the `Host`.
    let mut pairs = ring.signer_vars();
    pairs.push((
        "JWT_ISSUER".into(),
        "https://abc123.execute-api.eu-west-1.amazonaws.com/".into(),
    ));
    let (_, metadata, headers) = get(
        &auth_with(&app, &pairs),
        "/.well-known/oauth-authorization-server",
        None,
    )
    .await;
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(
        metadata["issuer"],
        "https://abc123.execute-api.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        metadata["jwks_uri"],
        "https://abc123.execute-api.eu-west-1.amazonaws.com/.well-known/jwks.json"
    );
    assert_eq!(
        metadata["token_endpoint"],
        "https://abc123.execute-api.eu-west-1.amazonaws.com/auth/token"
    );
    assert!(metadata.get("configuration_hint").is_none());

    // HS256 has nothing to publish: its key is secret.
    let hs = auth_with(&app, &[("JWT_SECRET".into(), common::SECRET.into())]);
    let (status, jwks, _) = get(&hs, "/.well-known/jwks.json", None).await;
    assert_eq!((status, jwks), (StatusCode::OK, json!({"keys": []})));
}

/// PyJWT (pinned in scripts/requirements-test.txt, installed into .venv by scripts/test.sh)
/// verifies `token` with the key of `jwks` its `kid` names, and prints the claims.
fn pyjwt_verify(jwks: &Value, token: &str) -> Result<Value, String> {
    const SCRIPT: &str = r#"
import json, sys, jwt
jwks, token = sys.argv[1], sys.argv[2]
kid = jwt.get_unverified_header(token)["kid"]
key = next(k for k in jwt.PyJWKSet.from_json(jwks).keys if k.key_id == kid)
claims = jwt.decode(token, key=key, algorithms=["EdDSA"], audience="tasks-api", issuer="tasks-api",
                    options={"require": ["exp", "iat", "sub", "iss", "aud"]})
print(json.dumps(claims))
"#;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let output = std::process::Command::new(python)
        .args(["-c", SCRIPT, &jwks.to_string(), token])
        .output()
        .unwrap_or_else(|error| panic!("{python} (run the tests with scripts/test.sh): {error}"));
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test]
async fn pyjwt_verifies_our_token_from_the_published_jwks_alone() {
    let app = TestApp::new().await;
    let ring = KeyRing::generate();
    let auth = auth_with(&app, &ring.signer_vars());
    let (_, _, user_id) = app.signed_up("ada@example.com").await;
    let token = login(&auth, "ada@example.com").await;
    let (_, jwks, _) = get(&auth, "/.well-known/jwks.json", None).await;

    let claims = pyjwt_verify(&jwks, &token).expect("PyJWT refused our token");
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["typ"], "access");

    // The control: the same check refuses a token our published keys did not sign.
    let stranger = KeyRing::generate();
    let forged = shared::token::TokenKeys::new(
        &JwtConfig::from_source(&Source::new(&vars(&stranger.signer_vars()))).unwrap(),
    )
    .issue(&user_id, uuid::Uuid::new_v4(), "admin")
    .unwrap();
    let mut parts: Vec<&str> = forged.split('.').collect();
    let header = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"alg": "EdDSA", "kid": kid(&token), "typ": "JWT"}).to_string())
    };
    parts[0] = &header;
    let error = pyjwt_verify(&jwks, &parts.join(".")).unwrap_err();
    assert!(error.contains("InvalidSignatureError"), "{error}");
}

#[tokio::test]
async fn a_rotation_keeps_tokens_alive_and_a_retired_key_stops_verifying() {
    let app = TestApp::new().await;
    let first = KeyRing::generate();
    let auth = auth_with(&app, &first.signer_vars());
    let tasks = tasks_with(&app, &first.verifier_vars());
    let (_, _, user_id) = app.signed_up("ada@example.com").await;
    let before = login(&auth, "ada@example.com").await;
    assert_eq!(kid(&before), first.signing_kid().unwrap());
    assert_eq!(
        both(&auth, &tasks, &before, &user_id).await,
        (StatusCode::OK, StatusCode::OK)
    );

    // The next key was published with the first ring: a tasks function that has not picked up
    // the rotation yet already accepts what the rotated auth function signs.
    let second = first.rotate().unwrap();
    let rotated_auth = auth_with(&app, &second.signer_vars());
    let after = login(&rotated_auth, "ada@example.com").await;
    assert_eq!(kid(&after), second.signing_kid().unwrap());
    assert_ne!(kid(&after), kid(&before));
    assert_eq!(
        get(&tasks, &format!("/api/{user_id}/tasks"), Some(&after))
            .await
            .0,
        StatusCode::OK
    );

    // After the rotation, tokens from before it keep working everywhere.
    let rotated_tasks = tasks_with(&app, &second.verifier_vars());
    for token in [&before, &after] {
        assert_eq!(
            both(&rotated_auth, &rotated_tasks, token, &user_id).await,
            (StatusCode::OK, StatusCode::OK)
        );
    }

    // One more rotation retires the first key: its tokens stop verifying, later ones do not.
    let third = second.rotate().unwrap();
    let (auth, tasks) = (
        auth_with(&app, &third.signer_vars()),
        tasks_with(&app, &third.verifier_vars()),
    );
    assert_eq!(
        both(&auth, &tasks, &before, &user_id).await,
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        both(&auth, &tasks, &after, &user_id).await,
        (StatusCode::OK, StatusCode::OK)
    );
    let (_, jwks, _) = get(&auth, "/.well-known/jwks.json", None).await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(!published.contains(&kid(&before).as_str()), "{published:?}");
    assert!(published.contains(&kid(&after).as_str()), "{published:?}");
}

#[tokio::test]
async fn an_hs256_rotation_keeps_the_previous_secret_for_a_grace_period() {
    const NEW: &str = "rotated-secret-rotated-secret-rotated-secret";
    let app = TestApp::new().await;
    let pairs = |secret: &str, previous: Option<&str>| {
        let mut pairs = vec![("JWT_SECRET".to_owned(), secret.to_owned())];
        pairs.extend(previous.map(|p| ("JWT_PREVIOUS_SECRET".to_owned(), p.to_owned())));
        pairs
    };
    let old = auth_with(&app, &pairs(common::SECRET, None));
    let (_, _, user_id) = app.signed_up("ada@example.com").await;
    let before = login(&old, "ada@example.com").await;
    let rotated = auth_with(&app, &pairs(NEW, Some(common::SECRET)));
    let after = login(&rotated, "ada@example.com").await;
    assert_ne!(kid(&after), kid(&before));
    assert_eq!(kid(&after), shared::token::secret_kid(NEW.as_bytes()));
    for token in [&before, &after] {
        assert_eq!(
            get(&rotated, "/users/me", Some(token)).await.0,
            StatusCode::OK
        );
    }
    let grace_over = auth_with(&app, &pairs(NEW, None));
    assert_eq!(
        get(&grace_over, "/users/me", Some(&before)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&grace_over, "/users/me", Some(&after)).await.0,
        StatusCode::OK
    );
    let _ = user_id;
}

#[tokio::test]
async fn moving_from_hs256_to_eddsa_keeps_the_old_tokens_with_the_previous_secret() {
    let app = TestApp::new().await;
    let hs = auth_with(&app, &[("JWT_SECRET".into(), common::SECRET.into())]);
    let (_, _, user_id) = app.signed_up("ada@example.com").await;
    let before = login(&hs, "ada@example.com").await;
    let ring = KeyRing::generate();
    let mut signer = ring.signer_vars();
    signer.push(("JWT_PREVIOUS_SECRET".into(), common::SECRET.into()));
    let auth = auth_with(&app, &signer);
    assert_eq!(
        get(&auth, "/users/me", Some(&before)).await.0,
        StatusCode::OK
    );
    let after = login(&auth, "ada@example.com").await;
    assert_eq!(kid(&after), ring.signing_kid().unwrap());
    let tasks = tasks_with(&app, &ring.verifier_vars());
    assert_eq!(
        get(&tasks, &format!("/api/{user_id}/tasks"), Some(&after))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(&tasks, &format!("/api/{user_id}/tasks"), Some(&before))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "without the previous secret, the tasks function takes no HS256 token"
    );
}
