//! End to end through the real local emulator: `cargo lambda watch` (from .venv, as scripts/test.sh
//! installs it) serves every function at the same paths as API Gateway, and the seeds' curl flows
//! work against it unchanged.

use crate::emulator;

use emulator::Emulator;
use test_support::TestDb;

/// What `curl -X <method> <url> -H ... -d <body>` answers: (status, JSON body).
fn curl(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let answer = emulator::send(method, url, headers, body);
    (answer.status, answer.body)
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_flows_work_through_cargo_lambda_watch() {
    let database = TestDb::new().await;
    let emulator =
        Emulator::start(&database.url, &[("BETTER_AUTH_SECRET", BETTER_AUTH_SECRET)]).await;
    let (status, body) = tokio::task::spawn_blocking({
        let url = format!("{}/health", emulator.base);
        move || emulator::get(&url)
    })
    .await
    .unwrap()
    .expect("/health answers");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"]["status"], "ok");

    let base = emulator.base.clone();
    tokio::task::spawn_blocking(move || seed_flows(&base))
        .await
        .unwrap();
}

const BETTER_AUTH_SECRET: &str = "e2e-better-auth-secret-e2e-better-auth";

/// Each seed's README flow as written, host and port aside (docs/api.md maps every seed route to
/// ours).
fn seed_flows(base: &str) {
    seed_000(base);
    seed_001(base);
    seed_002(base);
    seed_003(base);
    seed_004(base);
    errors_keep_their_shape(base);
    sessions_and_security_log(base);
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A Better Auth frontend's HS256 token for `subject` (seeds 001 and 003 share the secret).
fn better_auth_token(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(BETTER_AUTH_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Seed 000: register, log in, a protected route with the Bearer token.
fn seed_000(base: &str) {
    let (status, user) = curl(
        "POST",
        &format!("{base}/auth/register"),
        &[JSON],
        Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
    );
    assert_eq!(status, 201, "{user}");
    let (status, tokens) = curl(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
    );
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, me) = curl(
        "GET",
        &format!("{base}/users/me"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], user["id"]);
}

/// Seed 001: `/health`, then every task route with a Better Auth token (HS256 shared secret).
fn seed_001(base: &str) {
    let (status, health) = curl("GET", &format!("{base}/health"), &[], None);
    assert_eq!(
        (status, &health["status"]),
        (200, &serde_json::json!("healthy"))
    );
    let now = shared::token::unix_now();
    let token = better_auth_token(serde_json::json!({"sub": "user-001", "exp": now + 600}));
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let tasks = format!("{base}/api/user-001/tasks");
    let (status, task) = curl(
        "POST",
        &tasks,
        &[JSON, auth],
        Some(r#"{"title":"Write docs"}"#),
    );
    assert_eq!(status, 201, "{task}");
    let one = format!("{tasks}/{}", task["id"]);
    let (status, got) = curl("GET", &one, &[auth], None);
    assert_eq!(
        (status, &got["title"]),
        (200, &serde_json::json!("Write docs"))
    );
    let (status, put) = curl(
        "PUT",
        &one,
        &[JSON, auth],
        Some(r#"{"title":"Write more docs","description":"all of them"}"#),
    );
    assert_eq!(
        (status, &put["description"]),
        (200, &serde_json::json!("all of them"))
    );
    let (status, toggled) = curl("PATCH", &format!("{one}/complete"), &[auth], None);
    assert_eq!(
        (status, &toggled["completed"]),
        (200, &serde_json::json!(true))
    );
    let (status, listed) = curl("GET", &tasks, &[auth], None);
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
    let (status, _) = curl("DELETE", &one, &[auth], None);
    assert_eq!(status, 204);
    let (status, _) = curl("GET", &one, &[auth], None);
    assert_eq!(status, 404);
}

/// Seed 002: register (its `name` and `username`), log in, `GET /me`, `PATCH /user/update`.
fn seed_002(base: &str) {
    let (status, user) = curl(
        "POST",
        &format!("{base}/auth/register"),
        &[JSON],
        Some(
            r#"{"email": "andile@example.com", "password": "securepassword", "name": "Andile", "username": "Dimba"}"#,
        ),
    );
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["name"], "Andile Dimba");
    let (status, tokens) = curl(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(r#"{"email": "andile@example.com", "password": "securepassword"}"#),
    );
    assert_eq!(status, 200, "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, me) = curl(
        "GET",
        &format!("{base}/me"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], user["id"]);
    let (status, updated) = curl(
        "PATCH",
        &format!("{base}/user/update"),
        &[("Authorization", &bearer), JSON],
        Some(r#"{"name": "Andile", "username": "Dimba-Smith"}"#),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Andile Dimba-Smith");
    let (status, _) = curl("GET", &format!("{base}/me"), &[], None);
    assert_eq!(status, 401);
}

/// Seed 003: `/health`, create and list `user-123`'s tasks with a Better Auth token whose subject
/// is `userId` (its verifier reads `sub` or `userId`).
fn seed_003(base: &str) {
    let now = shared::token::unix_now();
    let token = better_auth_token(serde_json::json!({"userId": "user-123", "exp": now + 600}));
    let bearer = format!("Bearer {token}");
    let (status, task) = curl(
        "POST",
        &format!("{base}/api/user-123/tasks"),
        &[JSON, ("Authorization", &bearer)],
        Some(r#"{"title":"Buy groceries","description":"Milk, eggs, bread"}"#),
    );
    assert_eq!(status, 201, "{task}");
    let (status, tasks) = curl(
        "GET",
        &format!("{base}/api/user-123/tasks"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    // Our own token on someone else's tasks is refused.
    let (_, tokens) = curl(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
    );
    let ours = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, _) = curl(
        "GET",
        &format!("{base}/api/user-123/tasks"),
        &[("Authorization", &ours)],
        None,
    );
    assert_eq!(status, 403);
}

/// Seed 004: `POST /register`, the form login at `POST /token`, `/welcome`, `/users/me` with its
/// `last_login_time`.
fn seed_004(base: &str) {
    let (status, user) = curl(
        "POST",
        &format!("{base}/register"),
        &[JSON],
        Some(r#"{"email": "seed4@example.com", "password": "strongpassword"}"#),
    );
    assert_eq!(status, 201, "{user}");
    let (status, tokens) = curl(
        "POST",
        &format!("{base}/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("username=seed4%40example.com&password=strongpassword"),
    );
    assert_eq!(status, 200, "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, welcome) = curl(
        "GET",
        &format!("{base}/welcome"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{welcome}");
    assert_eq!(welcome["message"], "Welcome, seed4@example.com!");
    let (status, me) = curl(
        "GET",
        &format!("{base}/users/me"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], user["id"]);
    assert!(me["last_login_time"].is_string(), "{me}");
    assert_eq!(me["last_login_time"], me["last_login_at"]);
}

/// Errors keep their shape through the emulator.
fn errors_keep_their_shape(base: &str) {
    let (status, problem) = curl("GET", &format!("{base}/users/me"), &[], None);
    assert_eq!(status, 401);
    assert_eq!(problem["detail"], "Not authenticated");
    let (status, _) = curl("GET", &format!("{base}/no-such-route"), &[], None);
    assert_eq!(status, 404);
}

/// Sessions a user can see and end one by one, and the security log: two sign-ins, the second
/// ended from the first (its token 401 at once), the log says so.
fn sessions_and_security_log(base: &str) {
    let login = |agent: &str| {
        let (status, tokens) = curl(
            "POST",
            &format!("{base}/auth/login"),
            &[JSON, ("User-Agent", agent)],
            Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
        );
        assert_eq!(status, 200, "{tokens}");
        format!("Bearer {}", tokens["access_token"].as_str().unwrap())
    };
    let laptop = login("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
    let phone = login("curl/8.5.0");
    let (status, sessions) = curl(
        "GET",
        &format!("{base}/users/me/sessions"),
        &[("Authorization", &laptop)],
        None,
    );
    assert_eq!(status, 200, "{sessions}");
    let phone_session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["device"] == "curl")
        .unwrap_or_else(|| panic!("the curl session: {sessions}"));
    assert_eq!(phone_session["current"], false);
    assert_eq!(phone_session["ip"], "127.0.0.1");
    let (status, _) = curl(
        "DELETE",
        &format!(
            "{base}/users/me/sessions/{}",
            phone_session["id"].as_str().unwrap()
        ),
        &[("Authorization", &laptop)],
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = curl(
        "GET",
        &format!("{base}/users/me"),
        &[("Authorization", &phone)],
        None,
    );
    assert_eq!(status, 401);
    let (status, log) = curl(
        "GET",
        &format!("{base}/users/me/security-log?limit=3"),
        &[("Authorization", &laptop)],
        None,
    );
    assert_eq!(status, 200, "{log}");
    assert_eq!(log[0]["kind"], "session_ended");
    assert_eq!(log[0]["detail"]["session_id"], phone_session["id"]);
    assert_eq!(log[1]["kind"], "signed_in");
    assert_eq!(log[1]["user_agent"], "curl/8.5.0");
}
