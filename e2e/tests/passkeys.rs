//! Passkeys for real (issue 25): Debian's Chromium with a virtual authenticator (DevTools
//! protocol) adds a passkey and signs in with it through `cargo lambda watch`, and the hostile
//! cases — another origin, another RP id, a replayed assertion, no user verification, a cloned
//! authenticator — are refused and logged. The Node side is scripts/frontend/passkeys.mjs.

use crate::emulator;
use crate::frontend::node;

use emulator::{free_port, Emulator};
use test_support::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn passkeys_register_and_sign_in_in_chromium_and_hostile_answers_are_refused() {
    let database = TestDb::new().await;
    let page = free_port();
    let other = free_port();
    // The page's origin and a subdomain of the RP id are allowed; the other port is not.
    let origins = format!("http://localhost:{page},http://sub.localhost:{page}");
    let emulator = Emulator::start(
        &database.url,
        &[
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_RP_ORIGINS", &origins),
        ],
    )
    .await;
    let env = vec![
        ("API_URL".to_owned(), emulator.base.clone()),
        ("PAGE_PORT".to_owned(), page.to_string()),
        ("OTHER_PORT".to_owned(), other.to_string()),
    ];
    node("passkeys.mjs", env, &emulator).await;
}
