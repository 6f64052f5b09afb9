//! What signing and verifying one of our access tokens costs, HS256 against EdDSA, through the
//! functions' own code (`TokenKeys::issue` in auth, `TokenKeys::verify` in tasks: the JOSE
//! pre-check, the key lookup by kid, the signature and every claim). A plain loop, median of 5
//! batches; no database, no network.
//!
//! `cargo run --release -p shared --example token_cost` prints the times and their ratios.
//! `... --example token_cost -- OP N` runs only N repetitions of OP (hs256-sign, hs256-verify,
//! eddsa-sign, eddsa-verify), for instruction counts: `perf stat -e instructions:u` at N and at 0,
//! the difference divided by N.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use shared::config::{JwtConfig, Source};
use shared::token::ring::KeyRing;
use shared::token::TokenKeys;
use uuid::Uuid;

/// One measured operation: its name and one repetition of it.
type Op = (&'static str, Box<dyn Fn()>);

fn keys(pairs: Vec<(String, String)>) -> (TokenKeys, TokenKeys) {
    let vars: HashMap<String, String> = pairs.into_iter().collect();
    let config = JwtConfig::from_source(&Source::new(&vars)).expect("a configuration");
    (TokenKeys::new(&config), TokenKeys::verifier(&config))
}

fn main() {
    let hs256 = keys(vec![(
        "JWT_SECRET".into(),
        "bench-secret-bench-secret-bench-secret-0123".into(),
    )]);
    let ring = KeyRing::generate();
    let eddsa = keys(ring.signer_vars());
    let (user, session) = (Uuid::new_v4().to_string(), Uuid::new_v4());
    let ops: [Op; 4] = {
        let (hs_sign, hs_verify) = (hs256.0.clone(), hs256.1.clone());
        let (ed_sign, ed_verify) = (eddsa.0.clone(), eddsa.1.clone());
        let hs_token = hs256.0.issue(&user, session, "user").unwrap();
        let ed_token = eddsa.0.issue(&user, session, "user").unwrap();
        let (u1, u2) = (user.clone(), user.clone());
        [
            (
                "hs256-sign",
                Box::new(move || {
                    black_box(hs_sign.issue(black_box(&u1), session, "user").unwrap());
                }),
            ),
            (
                "hs256-verify",
                Box::new(move || {
                    black_box(hs_verify.verify(black_box(&hs_token)).unwrap());
                }),
            ),
            (
                "eddsa-sign",
                Box::new(move || {
                    black_box(ed_sign.issue(black_box(&u2), session, "user").unwrap());
                }),
            ),
            (
                "eddsa-verify",
                Box::new(move || {
                    black_box(ed_verify.verify(black_box(&ed_token)).unwrap());
                }),
            ),
        ]
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [op, n] = args.as_slice() {
        let n: usize = n.parse().expect("N");
        let (_, run) = ops.iter().find(|(name, _)| name == op).expect("an OP");
        for _ in 0..n {
            run();
        }
        return;
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("access token cost ({profile} build), median of 5 batches:");
    let batch = if cfg!(debug_assertions) { 200 } else { 5_000 };
    let mut medians = HashMap::new();
    for (name, run) in &ops {
        let mut batches = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..batch {
                run();
            }
            batches.push(started.elapsed().as_secs_f64() / batch as f64);
        }
        batches.sort_by(f64::total_cmp);
        medians.insert(*name, batches[2]);
        println!("  {name}: {:.2} µs per token", batches[2] * 1e6);
    }
    for what in ["sign", "verify"] {
        println!(
            "  {what}: EdDSA / HS256 = {:.1}x",
            medians[format!("eddsa-{what}").as_str()] / medians[format!("hs256-{what}").as_str()]
        );
    }
}
