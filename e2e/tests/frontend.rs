//! What a frontend developer touches, tried through the real emulator with real tools: the docs
//! pages and CORS in Debian's Chromium (driven by playwright-core), and a TypeScript client that
//! `@hey-api/openapi-ts` generates from `/openapi.json`, type-checked with `tsc --strict` and run
//! through the seeds' flows. The Node side lives in scripts/frontend/ (its packages pinned there,
//! installed by scripts/test.sh); a missing tool fails these tests, it never skips them.

use crate::emulator;

use std::path::{Path, PathBuf};
use std::process::Command;

use emulator::{free_port, Emulator};
use test_support::TestDb;

fn frontend_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/frontend")
}

/// Runs `node <script>` in scripts/frontend with `env`, and fails the test (with its output and
/// the emulator's log path) unless it succeeds.
pub(crate) async fn node(script: &str, env: Vec<(String, String)>, emulator: &Emulator) {
    let dir = frontend_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "{}/node_modules is missing: run the tests with scripts/test.sh, which installs it",
        dir.display()
    );
    let script = script.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .envs(env)
            .output()
            .expect("node must be installed: run the tests with scripts/test.sh")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by the test runner on failure, and with --no-capture (the screenshots' paths).
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "node failed ({}); the emulator's log: {}",
        output.status,
        emulator.log.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_pages_and_cors_work_in_chromium_through_cargo_lambda_watch() {
    let database = TestDb::new().await;
    // The page that may call the API, and one that may not: two origins on loopback ports.
    let allowed = free_port();
    let refused = free_port();
    let allowed_origin = format!("http://127.0.0.1:{allowed}");
    let emulator = Emulator::start(&database.url, &[("CORS_ORIGINS", &allowed_origin)]).await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/screenshots");
    let env = vec![
        ("API_URL".to_owned(), emulator.base.clone()),
        ("ALLOWED_PORT".to_owned(), allowed.to_string()),
        ("REFUSED_PORT".to_owned(), refused.to_string()),
        ("SCREENSHOTS".to_owned(), screenshots.display().to_string()),
    ];
    node("browser.mjs", env, &emulator).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_typescript_client_runs_the_seed_flows_through_cargo_lambda_watch() {
    let database = TestDb::new().await;
    let emulator = Emulator::start(&database.url, &[]).await;
    let env = vec![("API_URL".to_owned(), emulator.base.clone())];
    node("client.mjs", env, &emulator).await;
}
