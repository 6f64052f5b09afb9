//! What verifying one Better Auth JWT plugin token costs, per algorithm: the shared JOSE
//! pre-check, the key lookup by kid and the signature and claims check of `JwksVerifier`, on a
//! JWKS given as configuration (no network). A plain loop, median of 5 batches.
//!
//! `cargo run -p tasks --example jwks_verify_cost` (add `--release` for the figures that matter).

#[path = "../tests/common/keys.rs"]
#[allow(dead_code)]
mod keys;

use std::time::{Duration, Instant};

use keys::{KeyPair, Kind};
use serde_json::json;
use tasks::better_auth::config::{BetterAuthJwksConfig, JwksSource};
use tasks::better_auth::JwksVerifier;

const ISSUER: &str = "https://auth.example.com";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("JWKS token verification ({profile} build), median of 5 batches:");
    for kind in [Kind::EdDSA, Kind::ES256, Kind::RS256, Kind::PS256] {
        let key = KeyPair::new(kind);
        let verifier = JwksVerifier::new(&BetterAuthJwksConfig {
            source: JwksSource::Document(json!({"keys": [key.jwk()]}).to_string()),
            issuer: ISSUER.into(),
            audience: ISSUER.into(),
            cache_max_age: Duration::from_secs(300),
            refetch_interval: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(2),
        })
        .expect("a verifier");
        let now = shared::token::unix_now();
        let token = key.sign(
            &key.header(),
            &json!({"sub": "ba-user", "iat": now, "exp": now + 900, "iss": ISSUER, "aud": ISSUER,
                    "email": "ada@example.com", "name": "Ada", "emailVerified": false}),
        );
        let batch = if cfg!(debug_assertions) { 50 } else { 500 };
        let mut batches = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..batch {
                verifier.verify(&token).await.expect("a valid token");
            }
            batches.push(started.elapsed() / batch);
        }
        batches.sort();
        println!(
            "  {kind:?}: {:.1} µs per token",
            batches[2].as_secs_f64() * 1e6
        );
    }
}
