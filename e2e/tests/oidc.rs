//! Sign-in with an OpenID Provider, the real thing: a certified provider (`oidc-provider`, pinned
//! in scripts/frontend/package.json) on 127.0.0.1, the API under `cargo lambda watch`, and
//! Debian's Chromium walking the provider's own login and consent pages
//! (scripts/frontend/oidc.mjs). The hostile cases a real provider never produces (wrong `iss`,
//! `aud`, `azp`, keys...) are in functions/auth/tests/oidc.rs.

use std::path::Path;

use crate::emulator::{free_port, Emulator};
use crate::frontend::node;
use test_support::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_through_a_certified_openid_provider_in_chromium() {
    let database = TestDb::new().await;
    let (api_port, issuer_port, frontend_port) = (free_port(), free_port(), free_port());
    let api = format!("http://127.0.0.1:{api_port}");
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let frontend = format!("http://127.0.0.1:{frontend_port}");
    let emulator = Emulator::start_at(
        api_port,
        &database.url,
        &[
            ("JWT_ISSUER", &api),
            ("CORS_ORIGINS", &frontend),
            ("OIDC_PROVIDERS", "corp"),
            ("OIDC_CORP_ISSUER", &issuer),
            ("OIDC_CORP_CLIENT_ID", "tasks-api"),
            (
                "OIDC_CORP_CLIENT_SECRET",
                "tasks-api-secret-of-the-e2e-provider",
            ),
            ("OIDC_RETURN_URLS", &frontend),
        ],
    )
    .await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/screenshots");
    let env = vec![
        ("API_URL".to_owned(), emulator.base.clone()),
        ("ISSUER_PORT".to_owned(), issuer_port.to_string()),
        ("FRONTEND_PORT".to_owned(), frontend_port.to_string()),
        ("SCREENSHOTS".to_owned(), screenshots.display().to_string()),
    ];
    node("oidc.mjs", env, &emulator).await;
}
