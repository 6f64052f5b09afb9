//! The command line of `bench_inprocess`, declared once: xflags generates the parser, which
//! refuses an unknown command or flag and a malformed value with the usage (exit code 2).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::ops::Op;

xflags::xflags! {
    /// The in-process half of scripts/bench.sh, and what scripts/instructions.sh runs under
    /// callgrind. Measurements go to --out FILE, one JSON object per line.
    cmd bench-inprocess {
        /// On a fresh database of its own (test_support::TestDb, dropped at the end), calls the
        /// real routers of health, auth and tasks with tower's oneshot, as lambda_http would after
        /// decoding an API Gateway event, and times every operation at concurrency 1 and 4 after a
        /// warm-up, for a fixed duration (register and login, dominated by argon2, for a fixed
        /// number of calls). Then it runs each operation a few times through a proxy that reads
        /// the PostgreSQL protocol, to count round trips and capture the exact statements, and
        /// (with --pgbench) replays those with `pgbench -M extended`: the database floor.
        cmd run {
            /// The results file.
            required --out file: PathBuf
            /// Seconds each operation is timed, per concurrency (default 5).
            optional --duration seconds: Seconds
            /// Seconds of untimed calls before that (default 1).
            optional --warmup seconds: Seconds
            /// Timed calls of register and login, per concurrency (default 40).
            optional --hash-iterations n: u64
            /// The pgbench to replay the statements with; without it, no floor.
            optional --pgbench path: PathBuf
            /// Whole seconds pgbench replays each operation (default 5; the variants, half).
            optional --floor-duration seconds: u64
            /// Where the floor's scripts and pgbench's logs go (default /tmp/bench_inprocess).
            optional --work dir: PathBuf
            /// true: only the timings of the operations that do not hash a password, with
            /// DATABASE_STATEMENT_CACHE on (mode inprocess_cached); no round trips, no floor
            /// (default false).
            optional --statement-cache on: bool
        }
        /// The instructions each operation costs the function, counted by callgrind: meant to
        /// run under `valgrind --tool=callgrind --instr-atstart=no` (scripts/instructions.sh).
        cmd instructions {
            /// The results file.
            required --out file: PathBuf
            /// Counted requests per operation (default 100).
            optional --requests n: u64
            /// Counted requests of register and login (default 5; 2 warm-up ones).
            optional --hash-requests n: u64
            /// Uncounted requests per operation before that (default 20).
            optional --warmup n: u64
            /// Only these operations, comma-separated (default: all).
            optional --ops names: OpNames
            /// The tokens the requests carry: `eddsa` (ours, as the template deploys them; the
            /// default), `hs256` (ours, with JWT_SECRET) or `es256` (a Better Auth JWT plugin
            /// token, tasks routes only).
            optional --tokens kind: TokenKind
            /// Every counted request carries a token never seen before (the first request of a
            /// token: its signature is checked); without it, the same token every time (repeated:
            /// the cache of verified tokens answers).
            optional --fresh-tokens
        }
        /// One argon2id hash and one verify with the auth function's hasher (median times).
        cmd argon2 {
            /// The results file.
            required --out file: PathBuf
            /// Hashes and verifies to take the median of (default 10).
            optional -n, --n count: u64
        }
        /// Drops and re-creates the database in URL, migrated (for the emulator run).
        cmd prepare-db {
            required url: String
        }
    }
}

/// The command line, or on a mistake the error and the usage on stderr and exit code 2: xflags'
/// own `from_env_or_exit` prints the error alone, which does not say what would be right.
pub fn parse_or_exit() -> BenchInprocess {
    BenchInprocess::from_env().unwrap_or_else(|error| {
        if error.is_help() {
            error.exit();
        }
        eprintln!("bench_inprocess: {error}\n\n{}", BenchInprocess::HELP_);
        std::process::exit(2)
    })
}

/// A number of seconds, fractions allowed: `Duration::from_secs_f64` panics on a negative,
/// infinite or NaN one, so those are refused here, as the malformed values they are.
#[derive(Debug, Clone, Copy)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse::<f64>()
            .ok()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .map(Seconds)
            .ok_or_else(|| format!("{text:?} is not a number of seconds"))
    }
}

/// `--ops a,b`: a misspelt name is refused rather than matching nothing, which would measure
/// fewer operations than asked without a word.
#[derive(Debug, Clone)]
pub struct OpNames(pub Vec<Op>);

impl FromStr for OpNames {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(|name| {
                Op::ALL
                    .into_iter()
                    .find(|op| op.name() == name)
                    .ok_or_else(|| {
                        let known = Op::ALL.map(Op::name).join(", ");
                        format!("no operation {name:?} (there are {known})")
                    })
            })
            .collect::<Result<_, _>>()
            .map(OpNames)
    }
}

pub use crate::seed::TokenKind;

impl std::str::FromStr for TokenKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "eddsa" => Ok(Self::EdDSA),
            "hs256" => Ok(Self::HS256),
            "es256" => Ok(Self::ES256),
            other => Err(format!(
                "unknown token kind {other:?} (eddsa, hs256, es256)"
            )),
        }
    }
}
