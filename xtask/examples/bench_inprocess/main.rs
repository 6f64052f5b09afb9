//! The in-process half of scripts/bench.sh (`bench_inprocess --help` lists its commands): this
//! driver parses the command line, builds the runtime the command needs and runs it.

// In the xtask crate, the dev-only home of tooling that needs every function at once.
mod argon2;
mod bench;
mod callgrind;
mod flags;
mod floor;
mod instructions;
// The Better Auth key kinds the tasks tests sign with (OpenSSL, already built for the functions).
#[path = "../../../functions/tasks/tests/common/keys.rs"]
#[allow(dead_code)]
mod keys;
mod latency;
mod ops;
mod output;
mod prepare_db;
mod roundtrips;
mod run;
mod seed;
mod wire;

use std::process::ExitCode;

use flags::BenchInprocessCmd;

/// As `shared::lambda::start` does in every function: freed argon2 blocks (19 MiB) go back to the
/// OS instead of staying in each blocking thread's malloc arena, so the RSS read here is the
/// functions' and not glibc's default.
fn return_freed_memory_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only sets an allocator tunable; no other thread exists yet.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

fn main() -> ExitCode {
    return_freed_memory_to_the_os();
    let flags = flags::parse_or_exit();
    // `instructions` counts what a function does, on the runtime every function's `main` uses.
    let runtime = if matches!(flags.subcommand, BenchInprocessCmd::Instructions(_)) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    let result = match flags.subcommand {
        BenchInprocessCmd::Run(cmd) => runtime.block_on(run::run(cmd)),
        BenchInprocessCmd::Argon2(cmd) => runtime.block_on(argon2::argon2(cmd)),
        BenchInprocessCmd::Instructions(cmd) => runtime.block_on(instructions::instructions(cmd)),
        BenchInprocessCmd::PrepareDb(cmd) => runtime.block_on(prepare_db::prepare_db(cmd.url)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_inprocess: {error}");
            ExitCode::FAILURE
        }
    }
}
