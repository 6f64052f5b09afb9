//! End to end through the real local emulator: `cargo lambda watch` (from .venv, as scripts/test.sh
//! installs it) serves every function at the same paths as API Gateway, and the seeds' curl flows
//! work against it unchanged.

use crate::emulator;

use emulator::{agent, Emulator};
use test_support::TestDb;

/// What `curl -X <method> <url> -H ... -d <body>` answers: (status, JSON body).
fn curl(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = match body {
        Some(body) => agent().run(request.body(body.to_owned()).unwrap()),
        None => agent().run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
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

/// The curl examples of the seeds' READMEs, with the SPEC's paths.
fn seed_flows(base: &str) {
    let json = [("Content-Type", "application/json")];
    // Seed 000: register, login, Bearer.
    let (status, user) = curl(
        "POST",
        &format!("{base}/auth/register"),
        &json,
        Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
    );
    assert_eq!(status, 201, "{user}");
    let (status, tokens) = curl(
        "POST",
        &format!("{base}/auth/login"),
        &json,
        Some(r#"{"email": "user@example.com", "password": "securepassword"}"#),
    );
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    // Seed 004: OAuth2 form login at the token endpoint, then /users/me and /welcome.
    let (status, form_tokens) = curl(
        "POST",
        &format!("{base}/auth/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("username=user%40example.com&password=securepassword"),
    );
    assert_eq!(status, 200, "{form_tokens}");
    let bearer = format!("Bearer {}", form_tokens["access_token"].as_str().unwrap());
    let (status, me) = curl(
        "GET",
        &format!("{base}/users/me"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], user["id"]);
    let (status, welcome) = curl(
        "GET",
        &format!("{base}/welcome"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(welcome["message"], "Welcome, user@example.com!");
    // Seed 002: profile update.
    let (status, updated) = curl(
        "PATCH",
        &format!("{base}/users/me"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        Some(r#"{"name": "Seed User"}"#),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Seed User");
    // Seed 003: a Better Auth frontend's token for `user-123`, then create and list.
    let better_auth = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "user-123", "exp": shared::token::unix_now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(BETTER_AUTH_SECRET.as_bytes()),
    )
    .unwrap();
    let seed_bearer = format!("Bearer {better_auth}");
    let (status, task) = curl(
        "POST",
        &format!("{base}/api/user-123/tasks"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &seed_bearer),
        ],
        Some(r#"{"title":"Buy groceries","description":"Milk, eggs, bread"}"#),
    );
    assert_eq!(status, 201, "{task}");
    let (status, tasks) = curl(
        "GET",
        &format!("{base}/api/user-123/tasks"),
        &[("Authorization", &seed_bearer)],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    // Our own token on our own tasks, including the toggle of seed 001.
    let mine = format!("{base}/api/{}/tasks", user["id"].as_str().unwrap());
    let (status, task) = curl(
        "POST",
        &mine,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
        ],
        Some(r#"{"title":"Mine"}"#),
    );
    assert_eq!(status, 201, "{task}");
    let (status, toggled) = curl(
        "PATCH",
        &format!("{mine}/{}/complete", task["id"]),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{toggled}");
    assert_eq!(toggled["completed"], true);
    let (status, _) = curl(
        "GET",
        &format!("{base}/api/user-123/tasks"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 403);
    // Errors keep their shape through the emulator.
    let (status, problem) = curl("GET", &format!("{base}/users/me"), &[], None);
    assert_eq!(status, 401);
    assert_eq!(problem["detail"], "Not authenticated");
    let (status, _) = curl("GET", &format!("{base}/no-such-route"), &[], None);
    assert_eq!(status, 404);
}
