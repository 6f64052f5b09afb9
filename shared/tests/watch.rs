//! End to end through the real local emulator: `cargo lambda watch` (from .venv, as scripts/test.sh
//! installs it) serves every function at the same paths as API Gateway, and the seeds' curl flows
//! work against it unchanged.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use shared::testing::TestDb;

/// Stops the emulator and the function processes it started.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        // cargo lambda watch shuts down on Ctrl-C (SIGINT); SIGKILL the group if it lingers.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-s", "INT", "--", &group])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(url: &str) -> Option<(u16, String)> {
    let mut response = agent().get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

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
    let port = free_port();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // The emulator's own output, for when this test fails.
    let log_path = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let child = {
        use std::os::unix::process::CommandExt;
        Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(workspace)
            .env("DATABASE_URL", &database.url)
            .env("JWT_SECRET", "e2e-secret-e2e-secret-e2e-secret-e2e")
            .env("BETTER_AUTH_SECRET", BETTER_AUTH_SECRET)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("`cargo lambda watch` must be installed: run the tests with scripts/test.sh")
    };
    let _emulator = Emulator(child);

    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(300); // the first run compiles the function
    let (status, body) = loop {
        let answer = tokio::task::spawn_blocking({
            let url = url.clone();
            move || get(&url)
        })
        .await
        .unwrap();
        match answer {
            Some((status, body)) if status != 502 && status != 503 || Instant::now() > deadline => {
                break (status, body)
            }
            _ if Instant::now() > deadline => {
                panic!("cargo lambda watch did not answer within 300 s")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"]["status"], "ok");

    tokio::task::spawn_blocking(move || seed_flows(&format!("http://127.0.0.1:{port}")))
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
        &serde_json::json!({"sub": "user-123", "exp": shared::auth::unix_now() + 600}),
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
