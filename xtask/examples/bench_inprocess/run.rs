//! The `run` command: on a fresh database, the timing phase, then (unless --statement-cache
//! true) the round-trip phase and, with --pgbench, the floor phase, in that order.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::flags::{self, Seconds};
use crate::floor::Floor;
use crate::latency::{self, vm_hwm_kib, Timing};
use crate::output::Output;
use crate::roundtrips;
use crate::seed::{seed, Seeded};

/// `run`: every phase's lines to `--out`. Timed calls or replays that failed make it an error
/// only at the end, so that the phases after them still measure.
pub async fn run(flags: flags::Run) -> Result<(), String> {
    // The functions' own log line per request, to stdout as in Lambda (the caller discards it).
    shared::telemetry::init();
    let mut out = Output::create(&flags.out);
    let timing = Timing {
        warmup: flags.warmup.map_or(Duration::from_secs(1), |Seconds(s)| s),
        duration: flags
            .duration
            .map_or(Duration::from_secs(5), |Seconds(s)| s),
        hash_calls: flags.hash_iterations.unwrap_or(40),
    };
    let floor_duration = flags.floor_duration.unwrap_or(5);
    let work = flags
        .work
        .unwrap_or_else(|| PathBuf::from("/tmp/bench_inprocess"));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    // `--statement-cache true`: the same, with DATABASE_STATEMENT_CACHE on, for the operations that
    // do not hash a password, and nothing else (no round trips, no floor).
    let statement_cache = flags.statement_cache.unwrap_or(false);
    let Seeded {
        database,
        sql,
        bench,
        configs,
    } = seed(statement_cache, crate::seed::TokenKind::EdDSA, 0).await?;

    let mut failed = latency::phase(&mut out, &sql, &bench, &timing, statement_cache).await?;
    if statement_cache {
        return if failed {
            Err("some calls failed (see errors in the output)".to_owned())
        } else {
            Ok(())
        };
    }
    out.line(json!({"kind": "rss", "mode": "inprocess", "phase": "all",
                    "process": "bench_inprocess", "vmhwm_kib": vm_hwm_kib()}));

    // Round trips and the exact statements, through the counting proxy.
    let (captured, counted) = roundtrips::phase(&mut out, &database, &configs, &bench).await?;

    // The floor: the captured statements replayed by pgbench.
    if let Some(pgbench) = &flags.pgbench {
        let floor = Floor {
            pgbench,
            conninfo: format!("{}?sslmode=disable", database.url),
            seconds: floor_duration,
            work: &work,
        };
        failed |= floor.phase(&mut out, &sql, &bench, &captured).await?;
    }
    drop(sql);
    drop(counted);
    drop(bench);
    drop(database);
    if failed {
        return Err("some calls failed (see errors in the output)".to_owned());
    }
    Ok(())
}
