//! The `argon2` command: the median time of an argon2id hash and of a verify with the auth
//! function's own hasher and parameters, to set beside the C reference's (argon2-cffi).

use std::time::Instant;

use serde_json::json;

use crate::bench::PASSWORD;
use crate::flags;
use crate::output::Output;

/// `argon2`: one line with the medians of `-n` hashes and of `-n` verifies, and the parameters.
pub async fn argon2(flags: flags::Argon2) -> Result<(), String> {
    let mut out = Output::create(&flags.out);
    let n = flags.n.unwrap_or(10) as usize;
    let hasher = auth::password::PasswordHasher::default();
    let stored = hasher.hash(PASSWORD).await.map_err(|e| e.to_string())?;
    let mut hash_ms = Vec::new();
    let mut verify_ms = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        hasher.hash(PASSWORD).await.map_err(|e| e.to_string())?;
        hash_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t0 = Instant::now();
        let verified = hasher
            .verify(PASSWORD, Some(stored.clone()))
            .await
            .map_err(|e| e.to_string())?;
        verify_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !matches!(verified, auth::password::Verified::Match { .. }) {
            return Err("the password did not verify".to_owned());
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    out.line(json!({
        "kind": "argon2", "impl": "rust", "n": n,
        "m_kib": auth::password::MEMORY_KIB, "t": auth::password::ITERATIONS, "p": auth::password::PARALLELISM,
        "hash_ms": median(hash_ms), "verify_ms": median(verify_ms),
        "phc_prefix": stored.rsplitn(3, '$').last(),
    }));
    Ok(())
}
