//! The floor phase of `run`: the statements each operation sends, captured on the wire, replayed
//! by pgbench, so that the function's time can be set against the database's own.

use std::path::Path;

use serde_json::{json, Value};

use crate::bench::Bench;
use crate::ops::Op;
use crate::output::{percentile, Output};
use crate::roundtrips::Captured;
use crate::seed::{add_deletable, vacuum};
use crate::wire::{to_text, type_name, Statement};

/// A pgbench script replaying `statements`, and its `-D` variables. Parameters become pgbench
/// variables cast to the type the handler sent (`:p0_1::uuid`), so the server parses, plans and
/// runs the same statement with the same values through the same unnamed-statement extended
/// protocol. Values that must differ per run (a new account's email, a refresh token's hash, the
/// task to delete) are made fresh in SQL or counted up.
fn pgbench_script(op: Op, statements: &[Statement]) -> Result<(String, Vec<String>), String> {
    let mut script = format!(
        "-- {}: the {} statement(s) the handler sends, captured from the wire\n",
        op.name(),
        statements.len()
    );
    let mut variables = Vec::new();
    if op == Op::Delete {
        script.push_str("\\set k :k + 1\n\\set del_id :base + :k\n");
        variables.push("k=-1".to_owned());
    }
    for (s, statement) in statements.iter().enumerate() {
        let mut sql = statement.sql.trim().to_owned();
        if sql.contains(';') {
            return Err(format!(
                "{}: a statement with ';' cannot go into a pgbench script",
                op.name()
            ));
        }
        for (p, oid) in statement.types.iter().enumerate().rev() {
            let number = p + 1;
            let type_name = type_name(*oid).ok_or(format!("unknown parameter type {oid}"))?;
            let value = statement.values.get(p).ok_or("Bind without the value")?;
            let replacement = if op == Op::Register
                && sql.starts_with("insert into users")
                && number == 1
            {
                "(gen_random_uuid()::text || '@floor.example')".to_owned()
            } else if op == Op::Login && sql.contains("insert into refresh_tokens") && number == 5 {
                "sha256(uuid_send(gen_random_uuid()))".to_owned()
            } else if op == Op::Delete
                && *oid == 20
                && sql.contains("delete from tasks")
                && number == 4
            {
                ":del_id::int8".to_owned()
            } else {
                match value {
                    (_, None) => format!("NULL::{type_name}"),
                    (format, Some(raw)) => {
                        let text = if *format == 0 {
                            String::from_utf8(raw.clone()).map_err(|e| e.to_string())?
                        } else {
                            to_text(*oid, raw).ok_or(format!("cannot decode a {type_name}"))?
                        };
                        let name = format!("p{s}_{p}");
                        variables.push(format!("{name}={text}"));
                        format!(":{name}::{type_name}")
                    }
                }
            };
            sql = replace_placeholder(&sql, number, &replacement);
        }
        script.push_str(&sql);
        script.push_str(";\n");
    }
    Ok((script, variables))
}

/// Replaces `$n` (and not `$n0`...) with `with`.
fn replace_placeholder(sql: &str, n: usize, with: &str) -> String {
    let needle = format!("${n}");
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&needle);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// How pgbench replays the statements: as the functions send them (`-M extended`: the unnamed
/// statement, parsed and planned every time), as named prepared statements (planned once: shows
/// what planning costs), and with `synchronous_commit=off` (shows what the commit's WAL flush
/// costs; writes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Extended = 0,
    Prepared = 1,
    AsyncCommit = 2,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Extended, Variant::Prepared, Variant::AsyncCommit];

    fn suffix(self) -> &'static str {
        match self {
            Variant::Extended => "",
            Variant::Prepared => "-prepared",
            Variant::AsyncCommit => "-async",
        }
    }
}

/// How pgbench is run for the floor.
pub struct Floor<'a> {
    pub pgbench: &'a Path,
    pub conninfo: String,
    pub seconds: u64,
    /// Where the scripts and pgbench's logs go.
    pub work: &'a Path,
}

impl Floor<'_> {
    /// The floor phase of `run`: each operation's captured statements replayed by pgbench, one
    /// client, for a fixed duration; then as prepared statements, and (writes) with
    /// synchronous_commit=off: see `Variant`. Writes a line per replay; true if one failed.
    pub async fn phase(
        &self,
        out: &mut Output,
        sql: &tokio_postgres::Client,
        bench: &Bench,
        captured: &Captured,
    ) -> Result<bool, String> {
        vacuum(sql).await?;
        let add_deletable = |count: u64| add_deletable(sql, bench, count);
        let mut failed = false;
        let mut create_count = [0u64; 3];
        for op in Op::ALL {
            let statements = &captured[op.name()];
            let (script, variables) = pgbench_script(op, statements)?;
            let path = self.work.join(format!("floor-{}.sql", op.name()));
            std::fs::write(&path, &script).map_err(|e| e.to_string())?;
            let writes = !matches!(op, Op::Health | Op::Me | Op::List | Op::Get);
            for variant in Variant::ALL {
                if variant == Variant::AsyncCommit && !writes {
                    continue;
                }
                let mut variables = variables.clone();
                let mut available = None;
                if op == Op::Delete {
                    // A delete replays at up to twice the rate of a create (no new row, no new
                    // index entries); rows to spare cost nothing.
                    let count = (create_count[variant as usize] * 3).max(2000) + 1000;
                    let ids = add_deletable(count).await?;
                    let (first, last) = (ids[0], ids[ids.len() - 1]);
                    if last - first + 1 != ids.len() as i64 {
                        return Err("tasks to delete were not numbered consecutively".to_owned());
                    }
                    variables.push(format!("base={first}"));
                    available = Some(ids.len() as u64);
                }
                let result = self.run(&path, &variables, op, variant)?;
                failed |= result["errors"].as_u64().unwrap_or(1) > 0;
                let processed = result["n"].as_u64().unwrap_or(0);
                if op == Op::Create {
                    create_count[variant as usize] = processed;
                }
                if available.is_some_and(|available| processed > available) {
                    failed = true;
                    out.line(
                        json!({"kind": "warning", "message": "the delete floor ran out of tasks"}),
                    );
                }
                out.line(result);
            }
        }
        Ok(failed)
    }

    /// One pgbench replay of `script`; its floor line, the latencies read from pgbench's
    /// per-transaction log (`-l`), which gives them whole and not only as a mean.
    fn run(
        &self,
        script: &std::path::Path,
        variables: &[String],
        op: Op,
        variant: Variant,
    ) -> Result<Value, String> {
        let stem = format!("pgbench-{}{}.", op.name(), variant.suffix());
        let logs = || -> Result<Vec<std::path::PathBuf>, String> {
            Ok(std::fs::read_dir(self.work)
                .map_err(|e| e.to_string())?
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().starts_with(&stem))
                .map(|entry| entry.path())
                .collect())
        };
        for old in logs()? {
            let _ = std::fs::remove_file(old);
        }
        let mut command = std::process::Command::new(self.pgbench);
        let mode = if variant == Variant::Prepared {
            "prepared"
        } else {
            "extended"
        };
        command.args(["-n", "-M", mode, "-c", "1", "-j", "1", "-T"]);
        // The variants only explain the floor: half the time.
        let seconds = if variant == Variant::Extended {
            self.seconds
        } else {
            self.seconds.div_ceil(2)
        };
        command.arg(seconds.to_string());
        command.arg("-f").arg(script);
        for variable in variables {
            command.arg("-D").arg(variable);
        }
        let prefix = self.work.join(stem.trim_end_matches('.'));
        command
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
        command.arg(&self.conninfo);
        if variant == Variant::AsyncCommit {
            command.env("PGOPTIONS", "-c synchronous_commit=off");
        }
        let output = command
            .output()
            .map_err(|e| format!("running {}: {e}", self.pgbench.display()))?;
        let mut latencies: Vec<u64> = Vec::new();
        for log in logs()? {
            let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
            latencies.extend(text.lines().filter_map(|line| {
                line.split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u64>().ok())
            }));
            let _ = std::fs::remove_file(log);
        }
        latencies.sort_unstable();
        Ok(floor_result(op, variant, script, &output, &latencies))
    }
}

/// The floor line of one replay: counts and rate from pgbench's summary, percentiles from the
/// logged latencies (microseconds).
fn floor_result(
    op: Op,
    variant: Variant,
    script: &std::path::Path,
    output: &std::process::Output,
    latencies: &[u64],
) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let field = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let processed = field("number of transactions actually processed:").unwrap_or(0.0) as u64;
    let failed = field("number of failed transactions:").unwrap_or(0.0) as u64;
    let ok = output.status.success() && failed == 0 && processed > 0;
    let errors = if ok { 0 } else { failed.max(1) };
    json!({
        "kind": format!("floor{}", variant.suffix().replace('-', "_")),
        "op": op.name(), "c": 1, "n": processed,
        "p50_ms": percentile(latencies, 0.5).map(|us| us as f64 / 1000.0),
        "p99_ms": percentile(latencies, 0.99).map(|us| us as f64 / 1000.0),
        "rps": field("tps =").unwrap_or(0.0),
        "errors": errors,
        "first_error": if ok { Value::Null } else { json!(format!("{}{}", stderr.trim(), stdout.trim())) },
        "script": script.display().to_string(),
    })
}
