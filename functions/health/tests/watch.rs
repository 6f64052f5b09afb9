//! End to end through the real local emulator: `cargo lambda watch` (from .venv, as scripts/test.sh
//! installs it) serves `/health` over HTTP at the same path as API Gateway.

use std::process::{Child, Command, Stdio};
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

fn get(url: &str) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent.get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn cargo_lambda_watch_serves_health_over_http() {
    let database = TestDb::new().await;
    let port = free_port();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

    let (status, body) = tokio::task::spawn_blocking(move || {
        get(&format!("http://127.0.0.1:{port}/no-such-route")).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "{body}");
}
