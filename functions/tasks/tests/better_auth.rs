//! Tokens from a Better Auth frontend (seeds 001/003): HS256 with `BETTER_AUTH_SECRET`, subject in
//! `sub` or `userId`, `exp` required, no `iss`/`aud`. Tasks live under the subject's string id.

use crate::common;

use common::{TestApp, BETTER_AUTH_SECRET};
use http::{Method, StatusCode};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn better_auth_token(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn exp() -> u64 {
    shared::token::unix_now() + 600
}

#[tokio::test]
async fn subject_in_sub_or_user_id_gets_its_own_tasks() {
    let app = TestApp::with_better_auth(true).await;
    for claims in [
        json!({"sub": "user-123", "email": "a@b.co", "exp": exp()}),
        json!({"userId": "user-456", "exp": exp()}),
    ] {
        let subject = claims
            .get("sub")
            .or(claims.get("userId"))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let token = better_auth_token(claims, BETTER_AUTH_SECRET);
        let path = format!("/api/{subject}/tasks");
        let created = app
            .call(
                Method::POST,
                &path,
                &token,
                Some(json!({"title": "Buy groceries", "description": "Milk, eggs, bread"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["user_id"], subject);
        let listed = app.call(Method::GET, &path, &token, None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1);
        let other = app
            .call(Method::GET, "/api/someone-else/tasks", &token, None)
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn bad_better_auth_tokens_are_401() {
    let app = TestApp::with_better_auth(true).await;
    let now = shared::token::unix_now();
    for token in [
        better_auth_token(json!({"sub": "user-123"}), BETTER_AUTH_SECRET),
        better_auth_token(
            json!({"sub": "user-123", "exp": now - 60}),
            BETTER_AUTH_SECRET,
        ),
        better_auth_token(
            json!({"sub": "user-123", "exp": exp()}),
            "another-secret-another-secret-another-1",
        ),
        better_auth_token(json!({"exp": exp()}), BETTER_AUTH_SECRET),
        better_auth_token(json!({"sub": "", "exp": exp()}), BETTER_AUTH_SECRET),
        better_auth_token(
            json!({"sub": "user-123", "exp": exp().to_string()}),
            BETTER_AUTH_SECRET,
        ),
    ] {
        let answer = app
            .call(Method::GET, "/api/user-123/tasks", &token, None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token}");
    }
}

#[tokio::test]
async fn better_auth_tokens_are_refused_when_not_configured() {
    let app = TestApp::new().await;
    let token = better_auth_token(json!({"sub": "user-123", "exp": exp()}), BETTER_AUTH_SECRET);
    let answer = app
        .call(Method::GET, "/api/user-123/tasks", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn our_tokens_keep_their_strict_checks_when_better_auth_is_on() {
    let app = TestApp::with_better_auth(true).await;
    let user = app.user("ada@example.com").await;
    // Signed with our secret but without iss/aud/sid: neither ours nor Better Auth's.
    let token = better_auth_token(json!({"sub": user.id, "exp": exp()}), common::SECRET);
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// An HS256 token with `header`, signed with the Better Auth secret.
fn with_header(header: Value, claims: Value) -> String {
    common::keys::hs256(&header, &claims, BETTER_AUTH_SECRET.as_bytes())
}

#[tokio::test]
async fn better_auth_secret_token_with_a_crit_header_is_401() {
    let app = TestApp::with_better_auth(true).await;
    let claims = json!({"sub": "user-123", "exp": exp()});
    let plain = with_header(json!({"alg": "HS256", "typ": "JWT"}), claims.clone());
    let answer = app
        .call(Method::GET, "/api/user-123/tasks", &plain, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "the control");
    for crit in [json!(["exp"]), json!(["urn:example:unknown"]), json!([])] {
        let token = with_header(
            json!({"alg": "HS256", "typ": "JWT", "crit": crit}),
            claims.clone(),
        );
        let answer = app
            .call(Method::GET, "/api/user-123/tasks", &token, None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "crit {crit}");
    }
}

#[tokio::test]
async fn better_auth_secret_token_with_nbf_or_iat_in_the_future_is_401() {
    let app = TestApp::with_better_auth(true).await;
    let now = shared::token::unix_now();
    for (claim, value) in [("nbf", now + 3600), ("iat", now + 3600)] {
        let mut claims = json!({"sub": "user-123", "exp": now + 7200});
        claims[claim] = json!(value);
        let token = better_auth_token(claims, BETTER_AUTH_SECRET);
        let answer = app
            .call(Method::GET, "/api/user-123/tasks", &token, None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{claim} in the future"
        );
    }
    let claims = json!({"sub": "user-123", "nbf": now - 10, "iat": now - 10, "exp": now + 600});
    let answer = app
        .call(
            Method::GET,
            "/api/user-123/tasks",
            &better_auth_token(claims, BETTER_AUTH_SECRET),
            None,
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "nbf and iat in the past are fine"
    );
}

#[tokio::test]
async fn better_auth_secret_token_with_one_of_our_user_ids_never_reaches_that_users_tasks() {
    let app = TestApp::with_better_auth(true).await;
    let ada = app.user("ada@example.com").await;
    let created = app.create(&ada, json!({"title": "ada's, private"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let task = created.body["id"].as_i64().unwrap();
    // Ada logs out everywhere: our revocation rules must keep holding for her tasks.
    app.sql()
        .await
        .execute(
            "update sessions set revoked_at = now() where id = $1",
            &[&ada.session],
        )
        .await
        .unwrap();
    let impostor = better_auth_token(json!({"sub": ada.id, "exp": exp()}), BETTER_AUTH_SECRET);
    let path = format!("/api/{}/tasks", ada.id);
    let listed = app.call(Method::GET, &path, &impostor, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!([]), "{}", listed.body);
    for method in [Method::GET, Method::DELETE] {
        let answer = app
            .call(method.clone(), &format!("{path}/{task}"), &impostor, None)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
    }
    let title: String = app
        .sql()
        .await
        .query_one("select title from tasks where id = $1", &[&task])
        .await
        .unwrap()
        .get(0);
    assert_eq!(title, "ada's, private");
}

#[tokio::test]
async fn session_cookie_cache_shape_gives_session_user_id_when_user_id_agrees() {
    let app = TestApp::with_better_auth(true).await;
    let now = shared::token::unix_now();
    let cache = |session_user: &str, user: &str| {
        better_auth_token(
            json!({
                "session": {"userId": session_user, "id": "s1", "token": "t", "expiresAt": "2030-01-01T00:00:00.000Z"},
                "user": {"id": user, "email": "ada@example.com", "name": "Ada"},
                "updatedAt": now, "version": "1", "iat": now, "exp": now + 300
            }),
            BETTER_AUTH_SECRET,
        )
    };
    let answer = app
        .call(
            Method::GET,
            "/api/ba-ada/tasks",
            &cache("ba-ada", "ba-ada"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = app
        .call(
            Method::GET,
            "/api/ba-ada/tasks",
            &cache("ba-ada", "ba-bob"),
            None,
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "session.userId must be user.id"
    );
}

#[tokio::test]
async fn our_expired_token_still_says_so_when_better_auth_is_on() {
    let app = TestApp::configured(&[
        ("BETTER_AUTH_SECRET", BETTER_AUTH_SECRET),
        ("BETTER_AUTH_URL", "http://127.0.0.1:9"),
    ])
    .await;
    let user = app.user("ada@example.com").await;
    let now = shared::token::unix_now();
    let expired = better_auth_token(
        json!({"sub": user.id, "sid": user.session, "role": "user", "iat": now - 3600,
               "exp": now - 1800, "iss": "tasks-api", "aud": "tasks-api", "typ": "access"}),
        common::SECRET,
    );
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &expired,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["detail"], "Token has expired");
}
