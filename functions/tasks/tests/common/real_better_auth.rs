//! A real Better Auth 1.7 server (scripts/better-auth, installed by scripts/test.sh) on its own
//! database, and a browser's way of getting its tokens: sign-up and sign-in over HTTP, then the
//! JWT plugin's `/api/auth/token` with the session cookie.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use test_support::TestDb;

pub const PASSWORD: &str = "correct horse battery staple";
/// What the Better Auth server encrypts its private keys and signs its cookie cache with.
pub const SECRET: &str = "real-better-auth-secret-real-better-auth-0";

pub struct BetterAuthServer {
    child: Child,
    pub url: String,
    _database: TestDb,
}

/// A Better Auth user as a frontend holds it: their id, the JWT plugin token, and (with the
/// cookie cache on) the HS256 session-cache JWT from the `session_data` cookie.
pub struct BetterAuthUser {
    pub id: String,
    pub token: String,
    pub session_data: Option<String>,
}

impl BetterAuthServer {
    /// Starts the server signing with `alg`; `env` adds settings (`COOKIE_CACHE`,
    /// `ROTATION_INTERVAL`). Panics, never skips, when node or the package is missing.
    pub async fn start(alg: &str, env: &[(&str, &str)]) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/better-auth");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/better-auth/package.json")
                .exists(),
            "better-auth is not installed in scripts/better-auth: run the tests with scripts/test.sh"
        );
        let database = TestDb::empty().await;
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(dir)
            .env("DATABASE_URL", &database.url)
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("JWT_ALG", alg)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (20 or later) must be installed to run the Better Auth server");
        let stdout = child.stdout.take().expect("the server's stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(60), line)
            .await
            .expect("the Better Auth server did not start within 60 s")
            .unwrap()
            .unwrap();
        let started: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the Better Auth server did not start: {line:?}"));
        Self {
            child,
            url: started["url"].as_str().unwrap().to_owned(),
            _database: database,
        }
    }

    /// Signs a new user up, then in (as a browser does, over HTTP), and fetches their token.
    pub async fn user(&self, email: &str) -> BetterAuthUser {
        let base = self.url.clone();
        let credentials =
            serde_json::json!({"email": email, "password": PASSWORD, "name": "Test User"})
                .to_string();
        tokio::task::spawn_blocking(move || {
            let (status, _, body) = send(
                "POST",
                &format!("{base}/api/auth/sign-up/email"),
                &[],
                Some(&credentials),
            );
            assert_eq!(status, 200, "sign-up: {body}");
            sign_in(&base, &credentials)
        })
        .await
        .unwrap()
    }

    /// A fresh JWT plugin token for a signed-up user (after a key rotation, say).
    pub async fn token_for(&self, email: &str) -> String {
        let base = self.url.clone();
        let credentials = serde_json::json!({"email": email, "password": PASSWORD}).to_string();
        tokio::task::spawn_blocking(move || sign_in(&base, &credentials).token)
            .await
            .unwrap()
    }

    /// The JWKS as Better Auth publishes it.
    pub async fn jwks(&self) -> String {
        let url = format!("{}/api/auth/jwks", self.url);
        tokio::task::spawn_blocking(move || send("GET", &url, &[], None).2)
            .await
            .unwrap()
    }
}

impl Drop for BetterAuthServer {
    fn drop(&mut self) {
        // Closing stdin stops it; kill it in case it hangs.
        drop(self.child.stdin.take());
        std::thread::sleep(Duration::from_millis(50));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in with `credentials`, then asks the JWT plugin for a token with the session cookie.
fn sign_in(base: &str, credentials: &str) -> BetterAuthUser {
    let (status, cookies, body) = send(
        "POST",
        &format!("{base}/api/auth/sign-in/email"),
        &[],
        Some(credentials),
    );
    assert_eq!(status, 200, "sign-in: {body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie_header = cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let (status, _, body) = send(
        "GET",
        &format!("{base}/api/auth/token"),
        &[("cookie", &cookie_header)],
        None,
    );
    assert_eq!(status, 200, "token: {body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_data = cookies
        .into_iter()
        .find(|(name, _)| name.ends_with("session_data"))
        .map(|(_, value)| value);
    BetterAuthUser {
        id,
        token,
        session_data,
    }
}

/// One HTTP exchange: (status, the cookies it set, body).
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = match body {
        Some(body) => agent.run(
            request
                .header("content-type", "application/json")
                .header("origin", url.split("/api/").next().unwrap_or(url))
                .body(body.to_owned())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, cookies, text)
}
