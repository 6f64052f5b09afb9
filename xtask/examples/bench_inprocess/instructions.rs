//! The `instructions` command: each operation's requests answered as the Lambda runtime would
//! (event in, envelope out), with callgrind counting only the block that answers them.

use serde_json::json;
use tower::Service as _;
use tower::ServiceExt as _;

use crate::bench::Bench;
use crate::callgrind;
use crate::flags::{self, OpNames};
use crate::ops::{Function, Op};
use crate::output::Output;
use crate::seed::{add_deletable, seed, Seeded, TokenKind};

/// The Lambda adapter every function is served through (`shared::lambda::run`).
type Adapter = shared::lambda::Gateway;

/// What the Lambda runtime does with one API Gateway event for a function, less its HTTP
/// exchange with the Runtime API: the event is deserialized as lambda_runtime does (serde_json
/// through serde_path_to_error), the function's adapter (`shared::lambda::Gateway`, over
/// lambda_http's) turns it into a request, calls the router and turns the answer into API
/// Gateway's response envelope (the body as a JSON string), and that is serialized with
/// `serde_json::to_vec` as lambda_runtime sends it.
async fn answer(adapter: &mut Adapter, event: &[u8]) -> Result<Vec<u8>, String> {
    let payload: lambda_http::request::LambdaRequest =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(event))
            .map_err(|e| e.to_string())?;
    let Ok(ready) = adapter.ready().await;
    let Ok(response) = ready
        .call(lambda_http::LambdaEvent::new(
            payload,
            lambda_http::Context::default(),
        ))
        .await;
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}

/// One request of `op` in its Lambda form, with the start of the envelope its answer must have.
fn lambda_call(bench: &Bench, op: Op) -> Result<(Function, Vec<u8>, String), String> {
    let call = bench.next_call(op)?;
    let status = format!("{{\"statusCode\":{},", call.expected.as_u16());
    Ok((call.function, call.event(), status))
}

/// Answers every event; the first answer without its expected status is the error.
async fn answer_all(
    adapters: &mut [Adapter; 3],
    op: Op,
    events: &[(Function, Vec<u8>, String)],
) -> Result<(), String> {
    for (function, event, status) in events {
        let envelope = answer(&mut adapters[*function as usize], event).await?;
        if !envelope.starts_with(status.as_bytes()) {
            return Err(format!(
                "{}: expected {status}..., got {}",
                op.name(),
                String::from_utf8_lossy(&envelope)
            ));
        }
    }
    Ok(())
}

/// `instructions`: each operation's requests, counted by callgrind. Meant to run under
/// `valgrind --tool=callgrind --instr-atstart=no` (scripts/instructions.sh): per operation, some
/// warm-up requests (connections open, caches filled), then `--requests` events built in advance
/// and answered one after another with instrumentation on, dumped under the operation's name.
/// The runtime is tokio's current-thread one, as in every function's `main`, so the count is all
/// this process does for those requests (handlers, pool, the tokio-postgres connection task,
/// tokio, lambda_http, the log line; argon2 on the blocking pool for register and login) and
/// nothing of the PostgreSQL server (another process); waiting for it costs no instructions.
pub async fn instructions(flags: flags::Instructions) -> Result<(), String> {
    // The functions' own log line per request (the caller sends it to /dev/null).
    shared::telemetry::init();
    let mut out = Output::create(&flags.out);
    let requests = flags.requests.unwrap_or(100);
    let hash_requests = flags.hash_requests.unwrap_or(5);
    let warmup = flags.warmup.unwrap_or(20);
    let only = flags.ops.map(|OpNames(ops)| ops);
    let under_valgrind = callgrind::running_on_valgrind();
    let kind = flags.tokens.unwrap_or(TokenKind::EdDSA);
    // Enough fresh tokens for every request of the routes each account serves (reader: me, list,
    // get, update; writer: create, delete), warm-up included.
    let fresh = if flags.fresh_tokens {
        ((requests + warmup) * 4) as usize
    } else {
        0
    };
    let Seeded {
        database,
        sql,
        bench,
        ..
    } = seed(false, kind, fresh).await?;
    let mut adapters = [Function::Health, Function::Auth, Function::Tasks]
        .map(|function| Adapter::new(bench.router(function).clone()));
    for op in Op::MEASURED {
        if only.as_ref().is_some_and(|only| !only.contains(&op)) {
            continue;
        }
        // A Better Auth token reaches the tasks function only.
        if kind == TokenKind::ES256 && op.carries_a_token() && !op.is_a_tasks_route() {
            continue;
        }
        let (warm, calls) = if op.hashes_a_password() {
            (2, hash_requests)
        } else {
            (warmup, requests)
        };
        if op == Op::Delete {
            add_deletable(&sql, &bench, warm + calls).await?;
            sql.batch_execute("analyze tasks")
                .await
                .map_err(|e| e.to_string())?;
        }
        if op == Op::Login && bench.login_email.lock().expect("lock").is_none() {
            answer_all(&mut adapters, op, &[lambda_call(&bench, Op::Register)?]).await?;
        }
        for _ in 0..warm {
            answer_all(&mut adapters, op, &[lambda_call(&bench, op)?]).await?;
        }
        let events = (0..calls)
            .map(|_| lambda_call(&bench, op))
            .collect::<Result<Vec<_>, String>>()?;
        callgrind::start_instrumentation();
        let answered = answer_all(&mut adapters, op, &events).await;
        callgrind::dump_stats_at(op.name());
        callgrind::stop_instrumentation();
        answered?;
        out.line(
            json!({"kind": "instructions_block", "op": op.name(), "requests": calls,
                        "warmup": warm, "valgrind": under_valgrind,
                        "tokens": format!("{kind:?}"), "fresh_tokens": flags.fresh_tokens}),
        );
    }
    drop(adapters);
    drop(sql);
    drop(bench);
    drop(database);
    Ok(())
}
