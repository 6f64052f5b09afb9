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
    second_factor(base);
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

/// pyotp (pinned in scripts/requirements-test.txt, installed into .venv by scripts/test.sh), an
/// independent TOTP implementation, reads the `otpauth://` URI as an authenticator app would and
/// answers its code `steps` steps from now, with the issuer and account it parsed.
fn pyotp_code(uri: &str, steps: i64) -> (String, String, String) {
    const SCRIPT: &str = r#"
import sys, time, pyotp
totp = pyotp.parse_uri(sys.argv[1])
assert isinstance(totp, pyotp.TOTP) and totp.digits == 6 and totp.interval == 30
print(totp.at(time.time() + 30 * int(sys.argv[2])), totp.issuer, totp.name, sep="\n")
"#;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let output = std::process::Command::new(python)
        .args(["-c", SCRIPT, uri, &steps.to_string()])
        .output()
        .unwrap_or_else(|error| panic!("{python} (run the tests with scripts/test.sh): {error}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut parts = text.trim().lines();
    let mut next = || parts.next().unwrap().to_owned();
    (next(), next(), next())
}

/// The payload of a JWT, unverified (the token came from the API a moment ago).
fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A second factor end to end: enrolment read by pyotp from our `otpauth://` URI, activation,
/// sign-in in two steps (`aal2` in the token), a recovery code used once and refused on reuse, and
/// the security log telling it all.
fn second_factor(base: &str) {
    let credentials = r#"{"email": "totp@example.com", "password": "securepassword"}"#;
    let (status, _) = curl(
        "POST",
        &format!("{base}/auth/register"),
        &[JSON],
        Some(credentials),
    );
    assert_eq!(status, 201);
    let (status, tokens) = curl(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(credentials),
    );
    assert_eq!(status, 200, "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let auth = ("Authorization", bearer.as_str());

    let (status, enrolled) = curl(
        "POST",
        &format!("{base}/users/me/second-factor/totp"),
        &[JSON, auth],
        Some(r#"{"current_password": "securepassword"}"#),
    );
    assert_eq!(status, 201, "{enrolled}");
    let uri = enrolled["otpauth_uri"].as_str().unwrap();
    let (code, issuer, account) = pyotp_code(uri, 0);
    assert_eq!(
        (issuer.as_str(), account.as_str()),
        ("Tasks API", "totp@example.com")
    );
    let (status, activated) = curl(
        "POST",
        &format!("{base}/users/me/second-factor/totp/activate"),
        &[JSON, auth],
        Some(&format!(r#"{{"code": "{code}"}}"#)),
    );
    assert_eq!(status, 200, "{activated}");
    let recovery: Vec<String> = activated["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    let challenge = || {
        let (status, problem) = curl(
            "POST",
            &format!("{base}/auth/login"),
            &[JSON],
            Some(credentials),
        );
        assert_eq!(status, 403, "{problem}");
        assert_eq!(problem["error"], "mfa_required");
        problem["challenge"].as_str().unwrap().to_owned()
    };
    let second_step = |challenge: &str, code: &str| {
        curl(
            "POST",
            &format!("{base}/auth/login/second-factor"),
            &[JSON],
            Some(&format!(
                r#"{{"challenge": "{challenge}", "code": "{code}"}}"#
            )),
        )
    };
    // The activation's code is spent; the next step's code (inside the ±1 window) signs in.
    let first = challenge();
    assert_eq!(second_step(&first, &code).0, 401);
    let (next_code, _, _) = pyotp_code(uri, 1);
    let (status, signed_in) = second_step(&first, &next_code);
    assert_eq!(status, 200, "{signed_in}");
    let claims = jwt_claims(signed_in["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["aal"].as_str(), claims["amr"].clone()),
        (Some("aal2"), serde_json::json!(["pwd", "otp", "mfa"]))
    );
    assert_eq!(second_step(&first, &next_code).0, 401, "a spent challenge");

    // A recovery code, once.
    let (status, body) = second_step(&challenge(), &recovery[0]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = second_step(&challenge(), &recovery[0]);
    assert_eq!(status, 401, "{body}");

    let (status, log) = curl(
        "GET",
        &format!("{base}/users/me/security-log"),
        &[auth],
        None,
    );
    assert_eq!(status, 200, "{log}");
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "second_factor_enrolled",
        "second_factor_used",
        "recovery_code_used",
        "second_factor_failed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}
