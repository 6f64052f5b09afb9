//! The timing phase of `run`: every operation, called on the routers at concurrency 1 and 4,
//! timed after a warm-up: a latency line per operation and concurrency, and the RSS before hashing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::Bench;
use crate::ops::Op;
use crate::output::{percentile, Output};
use crate::seed::add_deletable;

/// How long each operation is timed, from `run`'s flags.
pub struct Timing {
    /// Untimed calls before each timing (operations that hash no password).
    pub warmup: Duration,
    /// How long each timing lasts (operations that hash no password).
    pub duration: Duration,
    /// Timed calls of register and login, which argon2 makes too slow for a fixed duration.
    pub hash_calls: u64,
}

/// Times every operation (only those that hash no password with `statement_cache`, mode
/// `inprocess_cached`) and writes their lines to `out`; true if any call failed.
pub async fn phase(
    out: &mut Output,
    sql: &tokio_postgres::Client,
    bench: &Arc<Bench>,
    timing: &Timing,
    statement_cache: bool,
) -> Result<bool, String> {
    let Timing {
        warmup,
        duration,
        hash_calls,
    } = *timing;
    let mode = if statement_cache {
        "inprocess_cached"
    } else {
        "inprocess"
    };
    let add_deletable = |count: u64| add_deletable(sql, bench, count);

    let mut failed = false;
    let mut created = 0u64;
    let mut fastest_get_per_second = 0f64;
    for op in Op::MEASURED {
        if statement_cache && op.hashes_a_password() {
            continue;
        }
        if op == Op::Register {
            out.line(
                json!({"kind": "rss", "mode": "inprocess", "phase": "without_hashing",
                            "process": "bench_inprocess", "vmhwm_kib": vm_hwm_kib()}),
            );
        }
        if op == Op::Delete {
            // Enough rows for both concurrencies: deleting a row by id is at most about as fast as
            // reading it, and deletes can outrun the create phase that left rows behind.
            let by_rate = fastest_get_per_second * (warmup + duration).as_secs_f64() * 2.0 * 1.5;
            add_deletable((by_rate as u64).max(created * 3 / 2) + 2000).await?;
        }
        if matches!(op, Op::List | Op::Delete) {
            // After a bulk change autovacuum would analyze the table within a minute; the bench
            // compresses that minute away (the writer's rows are up to a quarter of the table).
            sql.batch_execute("analyze tasks")
                .await
                .map_err(|e| e.to_string())?;
        }
        for concurrency in [1usize, 4] {
            let plan = if op.hashes_a_password() {
                Plan::Calls {
                    warmup: 1,
                    calls: hash_calls,
                }
            } else {
                Plan::Duration {
                    warmup,
                    measure: duration,
                }
            };
            let sample = measure(bench.clone(), op, concurrency, plan).await;
            if op == Op::Create {
                // Warm-up calls create tasks too; count them by what is there.
                created = sql
                    .query_one(
                        "select count(*) from tasks where user_id = $1",
                        &[&bench.writer.id],
                    )
                    .await
                    .map_err(|e| e.to_string())?
                    .get::<_, i64>(0) as u64;
            }
            if op == Op::Get {
                let per_second = sample.latencies_ns.len() as f64 / sample.elapsed.as_secs_f64();
                fastest_get_per_second = fastest_get_per_second.max(per_second);
            }
            failed |= sample.errors > 0;
            out.line(sample.to_json(mode, op, concurrency));
        }
    }
    Ok(failed)
}

/// How long an operation is timed.
#[derive(Clone, Copy)]
enum Plan {
    /// Calls start for `warmup`, then are timed for `measure`.
    Duration { warmup: Duration, measure: Duration },
    /// `warmup` untimed calls per worker, then `calls` timed calls shared among the workers.
    Calls { warmup: u64, calls: u64 },
}

/// The timings of one operation at one concurrency.
struct Sample {
    latencies_ns: Vec<u64>,
    elapsed: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Sample {
    fn to_json(&self, mode: &str, op: Op, concurrency: usize) -> Value {
        let mut sorted = self.latencies_ns.clone();
        sorted.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        json!({
            "kind": "latency", "mode": mode, "op": op.name(), "c": concurrency,
            "n": sorted.len(),
            "p50_ms": percentile(&sorted, 0.50).map(ms),
            "p99_ms": percentile(&sorted, 0.99).map(ms),
            "rps": sorted.len() as f64 / self.elapsed.as_secs_f64().max(1e-9),
            "errors": self.errors,
            "first_error": self.first_error,
        })
    }
}

async fn measure(bench: Arc<Bench>, op: Op, concurrency: usize, plan: Plan) -> Sample {
    let errors = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let note = {
        let errors = errors.clone();
        let first_error = first_error.clone();
        move |error: String| {
            errors.fetch_add(1, Ordering::Relaxed);
            first_error.lock().expect("lock").get_or_insert(error);
        }
    };
    let started;
    let mut workers = Vec::new();
    match plan {
        Plan::Duration { warmup, measure } => {
            started = Instant::now() + warmup;
            let end = started + measure;
            for _ in 0..concurrency {
                let bench = bench.clone();
                let note = note.clone();
                workers.push(tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(1 << 16);
                    let mut last = started;
                    loop {
                        let t0 = Instant::now();
                        if t0 >= end {
                            break;
                        }
                        let result = bench.call(op).await;
                        let t1 = Instant::now();
                        if let Err(error) = result {
                            note(error);
                        }
                        if t0 >= started {
                            latencies.push((t1 - t0).as_nanos() as u64);
                            last = last.max(t1);
                        }
                    }
                    (latencies, last)
                }));
            }
        }
        Plan::Calls { warmup, calls } => {
            let mut warmups = Vec::new();
            for _ in 0..concurrency {
                let bench = bench.clone();
                let note = note.clone();
                warmups.push(tokio::spawn(async move {
                    for _ in 0..warmup {
                        if let Err(error) = bench.call(op).await {
                            note(error);
                        }
                    }
                }));
            }
            for warmup in warmups {
                warmup.await.expect("a warm-up worker");
            }
            started = Instant::now();
            let remaining = Arc::new(AtomicU64::new(calls));
            for _ in 0..concurrency {
                let bench = bench.clone();
                let note = note.clone();
                let remaining = remaining.clone();
                workers.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut last = started;
                    while remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        let t0 = Instant::now();
                        let result = bench.call(op).await;
                        let t1 = Instant::now();
                        if let Err(error) = result {
                            note(error);
                        }
                        latencies.push((t1 - t0).as_nanos() as u64);
                        last = last.max(t1);
                    }
                    (latencies, last)
                }));
            }
        }
    }
    let mut latencies_ns = Vec::new();
    let mut last = started;
    for worker in workers {
        let (mut mine, their_last) = worker.await.expect("a benchmark worker");
        latencies_ns.append(&mut mine);
        last = last.max(their_last);
    }
    let first_error = first_error.lock().expect("lock").take();
    Sample {
        latencies_ns,
        elapsed: last.saturating_duration_since(started),
        errors: errors.load(Ordering::Relaxed),
        first_error,
    }
}

/// The process's peak resident set size (the functions' memory, as they run in here).
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
