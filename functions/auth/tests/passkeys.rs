//! Passkeys (issue 25), at the Rust level: the settings, the options' shape, hostile and malformed
//! bodies, ceremonies unknown, spent, expired or of another kind or user, list and remove, the
//! last way to sign in, and the security log. A real authenticator's answer is not forged here:
//! the whole ceremony runs in a real Chromium with a virtual authenticator in
//! e2e/tests/passkeys.rs (registration, sign-in, wrong origin and RP id, replay, clone).

use std::collections::HashMap;

use crate::common;

use auth::AuthSettings;
use common::{TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";

/// A registration answer shaped like `PublicKeyCredential.toJSON()` whose contents are garbage.
fn junk_attestation() -> Value {
    json!({
        "id": "AAAAAAAAAAAAAAAAAAAAAA",
        "rawId": "AAAAAAAAAAAAAAAAAAAAAA",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "attestationObject": "oA"},
        "clientExtensionResults": {}
    })
}

/// A sign-in answer shaped like `PublicKeyCredential.toJSON()` whose contents are garbage.
fn junk_assertion() -> Value {
    json!({
        "id": "AAAAAAAAAAAAAAAAAAAAAA",
        "rawId": "AAAAAAAAAAAAAAAAAAAAAA",
        "type": "public-key",
        "response": {
            "clientDataJSON": "e30",
            "authenticatorData": "AAAA",
            "signature": "AAAA",
            "userHandle": "AAAAAAAAAAAAAAAAAAAAAA"
        },
        "extensions": {}
    })
}

async fn registration_options(app: &TestApp, token: &str) -> common::Answer {
    app.call(
        Method::POST,
        "/users/me/passkeys/registration",
        Some(token),
        Some(json!({"current_password": PASSWORD})),
    )
    .await
}

fn settings(pairs: &[(&str, &str)]) -> Result<AuthSettings, String> {
    let vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    AuthSettings::from_source(&vars).map_err(|error| error.to_string())
}

#[test]
fn relying_party_settings_are_checked_at_start() {
    assert!(settings(&[]).unwrap().webauthn.is_none());
    let ok = settings(&[
        ("WEBAUTHN_RP_ID", "example.com"),
        (
            "WEBAUTHN_RP_ORIGINS",
            "https://app.example.com, https://example.com:8443",
        ),
    ]);
    assert!(ok.unwrap().webauthn.is_some());
    let refused = [
        (
            &[("WEBAUTHN_RP_ID", "example.com")][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[("WEBAUTHN_RP_ORIGINS", "https://example.com")][..],
            "WEBAUTHN_RP_ID",
        ),
        // Not under the RP id, a look-alike suffix, a path, plain http off localhost, not a URL.
        (
            &[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_RP_ORIGINS", "https://evil.com"),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_RP_ORIGINS", "https://notexample.com"),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_RP_ORIGINS", "https://example.com/app"),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_RP_ORIGINS", "http://example.com"),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_RP_ORIGINS", "example.com"),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "Example.COM"),
                ("WEBAUTHN_RP_ORIGINS", "https://example.com"),
            ][..],
            "WEBAUTHN_RP_ID",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "localhost"),
                ("WEBAUTHN_RP_ORIGINS", ","),
            ][..],
            "WEBAUTHN_RP_ORIGINS",
        ),
    ];
    for (pairs, named) in refused {
        let error = settings(pairs)
            .err()
            .unwrap_or_else(|| panic!("{pairs:?} accepted"));
        assert!(error.contains(named), "{pairs:?}: {error}");
    }
}

#[tokio::test]
async fn registration_options_are_webauthn_json_for_this_account() {
    let app = TestApp::new().await;
    let (token, _, user_id) = app.signed_up(EMAIL).await;
    let answer = registration_options(&app, &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let options = &answer.body["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], EMAIL);
    // user.id is the account's id (16 bytes, base64url): what a discoverable sign-in names.
    let user_handle = options["user"]["id"].as_str().unwrap();
    assert_eq!(user_handle.len(), 22, "{user_handle}");
    assert!(!user_id.is_empty());
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");
    let challenge = options["challenge"].as_str().unwrap();
    assert!(challenge.len() >= 43, "{challenge}");
    assert!(
        !challenge.contains(['+', '/', '=']),
        "base64url: {challenge}"
    );
    let ceremony = answer.body["ceremony"].as_str().unwrap();
    assert_eq!(ceremony.len(), 43);
    // Stored hashed, bound to the user, five minutes.
    let sql = app.sql().await;
    let row = sql
        .query_one(
            "select kind, user_id::text, expires_at - now() < interval '301 seconds',
                    (select count(*) from webauthn_ceremonies c2
                      where c2.handle_hash = convert_to($1, 'UTF8'))
               from webauthn_ceremonies",
            &[&ceremony],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "registration");
    assert_eq!(row.get::<_, String>(1), user_id);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, i64>(3), 0, "the handle is not stored as is");
}

#[tokio::test]
async fn registration_needs_the_current_password() {
    let app = TestApp::new().await;
    let (token, _, _) = app.signed_up(EMAIL).await;
    let missing = app
        .call(
            Method::POST,
            "/users/me/passkeys/registration",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.body
    );
    let wrong = app
        .call(
            Method::POST,
            "/users/me/passkeys/registration",
            Some(&token),
            Some(json!({"current_password": "not it at all"})),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    let anonymous = app
        .call(
            Method::POST,
            "/users/me/passkeys/registration",
            None,
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from webauthn_ceremonies", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "no ceremony for a refused start");
}

#[tokio::test]
async fn hostile_registration_bodies_change_nothing() {
    let app = TestApp::new().await;
    let (token, _, _) = app.signed_up(EMAIL).await;
    let options = registration_options(&app, &token).await;
    let ceremony = options.body["ceremony"].as_str().unwrap().to_owned();
    let long_name = "x".repeat(65);
    let bodies = [
        json!({"ceremony": ceremony, "credential": junk_assertion(), "name": long_name}),
        json!({"ceremony": ceremony, "credential": junk_assertion(), "name": "  "}),
        json!({"ceremony": ceremony, "credential": junk_assertion(), "name": "a\u{0}b"}),
        json!({"ceremony": ceremony, "credential": "not an object"}),
        json!({"ceremony": ceremony, "credential": {"id": 5}}),
        json!({"ceremony": ceremony}),
        json!({"credential": junk_assertion()}),
        json!({"ceremony": ceremony, "credential": junk_assertion(), "admin": true}),
    ];
    for body in bodies {
        let answer = app
            .call(
                Method::POST,
                "/users/me/passkeys",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{body}"
        );
    }
    // None of them spent the ceremony: checked before it is touched.
    let left: i64 = app
        .sql()
        .await
        .query_one("select count(*) from webauthn_ceremonies", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
    // A well-formed but forged answer spends it (single use) and stores nothing.
    let forged = json!({"ceremony": ceremony, "credential": junk_attestation()});
    let answer = app
        .call(
            Method::POST,
            "/users/me/passkeys",
            Some(&token),
            Some(forged.clone()),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.body["errors"][0]["loc"][1], "credential",
        "{}",
        answer.body
    );
    let again = app
        .call(
            Method::POST,
            "/users/me/passkeys",
            Some(&token),
            Some(forged),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again.body["errors"][0]["loc"][1], "ceremony",
        "{}",
        again.body
    );
    let sql = app.sql().await;
    let stored: i64 = sql
        .query_one("select count(*) from passkeys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
    let log = app.get("/users/me/security-log", &token).await;
    assert!(
        log.body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "passkey_failed"),
        "{}",
        log.body
    );
}

#[tokio::test]
async fn a_ceremony_is_bound_to_its_user_and_kind() {
    let app = TestApp::new().await;
    let (ada, _, _) = app.signed_up(EMAIL).await;
    let (eve, _, _) = app.signed_up("eve@example.com").await;
    let options = registration_options(&app, &ada).await;
    let ceremony = options.body["ceremony"].as_str().unwrap();
    let body = json!({"ceremony": ceremony, "credential": junk_attestation()});
    // Eve cannot finish Ada's registration; and it is spent for Ada too (single use).
    let answer = app
        .call(
            Method::POST,
            "/users/me/passkeys",
            Some(&eve),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["errors"][0]["loc"][1], "ceremony");
    let spent = app
        .call(Method::POST, "/users/me/passkeys", Some(&ada), Some(body))
        .await;
    assert_eq!(
        spent.body["errors"][0]["loc"][1], "ceremony",
        "{}",
        spent.body
    );
    // A registration ceremony is no sign-in ceremony.
    let options = registration_options(&app, &ada).await;
    let ceremony = options.body["ceremony"].as_str().unwrap();
    let answer = app
        .post(
            "/auth/passkey",
            json!({"ceremony": ceremony, "credential": junk_assertion()}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["errors"][0]["loc"][1], "ceremony");
}

#[tokio::test]
async fn sign_in_options_look_alike_for_any_email() {
    let app = TestApp::new().await;
    app.signed_up(EMAIL).await;
    let mut shapes = Vec::new();
    for body in [
        json!({}),
        json!({"email": EMAIL}),
        json!({"email": "nobody@example.com"}),
    ] {
        let answer = app.post("/auth/passkey/options", body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{body}: {}", answer.body);
        assert_eq!(answer.headers["cache-control"], "no-store");
        let mut options = answer.body["options"].clone();
        let public_key = &options["publicKey"];
        assert_eq!(public_key["rpId"], "localhost");
        assert_eq!(public_key["userVerification"], "required");
        assert!(public_key
            .get("allowCredentials")
            .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)));
        assert!(options.get("mediation").is_none(), "{options}");
        options["publicKey"]["challenge"] = json!("");
        shapes.push(options);
    }
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(shapes[1], shapes[2]);
    let bad = app
        .post("/auth/passkey/options", json!({"email": "not an address"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn sign_in_refuses_unknown_spent_and_forged_answers() {
    let app = TestApp::new().await;
    let unknown = app
        .post(
            "/auth/passkey",
            json!({"ceremony": "nope", "credential": junk_assertion()}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    for body in [
        json!({"ceremony": "x".repeat(10_000), "credential": junk_assertion()}),
        json!({"ceremony": "x", "credential": []}),
        json!({"ceremony": "x"}),
        json!({"credential": junk_assertion()}),
        json!([]),
    ] {
        let answer = app.post("/auth/passkey", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let options = app.post("/auth/passkey/options", json!({})).await;
    let ceremony = options.body["ceremony"].as_str().unwrap();
    let body = json!({"ceremony": ceremony, "credential": junk_assertion()});
    let forged = app.post("/auth/passkey", body.clone()).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.body);
    assert_eq!(forged.body["detail"], "Passkey not accepted");
    assert!(forged.body.get("access_token").is_none());
    let replayed = app.post("/auth/passkey", body).await;
    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(replayed.body["errors"][0]["loc"][1], "ceremony");
    // An expired ceremony is refused like a spent one.
    let options = app.post("/auth/passkey/options", json!({})).await;
    let ceremony = options.body["ceremony"].as_str().unwrap();
    app.sql()
        .await
        .execute(
            "update webauthn_ceremonies set expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let expired = app
        .post(
            "/auth/passkey",
            json!({"ceremony": ceremony, "credential": junk_assertion()}),
        )
        .await;
    assert_eq!(expired.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(expired.body["errors"][0]["loc"][1], "ceremony");
}

/// Arranges a stored passkey row for `user_id` (its contents are never verified here).
async fn stored_passkey(app: &TestApp, user_id: &str, name: &str) -> String {
    app.sql()
        .await
        .query_one(
            "insert into passkeys (id, user_id, credential_id, passkey, name)
             values (gen_random_uuid(), $1::text::uuid, decode(md5(random()::text) || md5(random()::text), 'hex'), '{}', $2)
             returning id::text",
            &[&user_id, &name],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn list_and_remove_passkeys_but_never_the_last_way_to_sign_in() {
    let app = TestApp::new().await;
    let (token, _, user_id) = app.signed_up(EMAIL).await;
    let (eve, _, _) = app.signed_up("eve@example.com").await;
    let empty = app.get("/users/me/passkeys", &token).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!([]));
    let first = stored_passkey(&app, &user_id, "Laptop").await;
    let second = stored_passkey(&app, &user_id, "Phone").await;
    let listed = app.get("/users/me/passkeys", &token).await;
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{}", listed.body);
    assert!(names.contains(&"Laptop") && names.contains(&"Phone"));
    assert!(listed.body[0].get("passkey").is_none(), "never the key");
    assert_eq!(app.get("/users/me/passkeys", &eve).await.body, json!([]));
    // Another user's passkey, or no such id: 404, nothing removed.
    for (who, path) in [
        (&eve, format!("/users/me/passkeys/{first}")),
        (&token, "/users/me/passkeys/not-a-uuid".to_owned()),
        (
            &token,
            format!("/users/me/passkeys/{}", uuid::Uuid::new_v4()),
        ),
    ] {
        let answer = app.call(Method::DELETE, &path, Some(who), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Without a password (an account made through an identity provider will have none: the
    // column is nullable from the providers' migration on; done here on the test's own database),
    // the passkeys are the account's only ways to sign in.
    let sql = app.sql().await;
    sql.batch_execute("alter table users alter column password_hash drop not null")
        .await
        .unwrap();
    sql.execute(
        "update users set password_hash = null where id = $1::text::uuid",
        &[&user_id],
    )
    .await
    .unwrap();
    let removed = app
        .call(
            Method::DELETE,
            &format!("/users/me/passkeys/{first}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let last = app
        .call(
            Method::DELETE,
            &format!("/users/me/passkeys/{second}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(last.body["detail"].as_str().unwrap().contains("last way"));
    assert_eq!(
        app.get("/users/me/passkeys", &token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let log = app.get("/users/me/security-log", &token).await;
    let removal = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "passkey_removed")
        .unwrap_or_else(|| panic!("{}", log.body));
    assert_eq!(removal["detail"]["passkey_id"], first.as_str());
}

#[tokio::test]
async fn without_settings_the_routes_say_what_is_missing() {
    let app = TestApp::with_vars(&[("WEBAUTHN_RP_ID", ""), ("WEBAUTHN_RP_ORIGINS", "")]).await;
    let (token, _, _) = app.signed_up(EMAIL).await;
    for answer in [
        registration_options(&app, &token).await,
        app.post("/auth/passkey/options", json!({})).await,
    ] {
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            answer.body["type"],
            "tag:tasks-api,2026:problems/misconfigured"
        );
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("WEBAUTHN_RP_ID"));
    }
}
