//! The in-process half of `scripts/bench.sh` (in the xtask crate, the dev-only home of tooling
//! that needs every function at once). Subcommands:
//!
//! - `run --out FILE [--duration S] [--warmup S] [--hash-iterations N] [--pgbench PATH]
//!   [--floor-duration S] [--work DIR]`: on a fresh database of its own (`test_support::TestDb`,
//!   dropped at the end), calls the real routers of `health`, `auth` and `tasks` with
//!   `tower::ServiceExt::oneshot`, as lambda_http would after decoding an API Gateway event, and
//!   times every benchmarked operation at concurrency 1 and 4 (tokio tasks on a multi-thread
//!   runtime) after a warm-up, for a fixed duration (register and login, dominated by argon2, for a
//!   fixed number of calls). Then it runs each operation a few times through a TCP proxy that reads
//!   the PostgreSQL protocol to count round trips (Sync and simple Query messages) and to capture
//!   the exact statements and parameters, and replays those statements with `pgbench -M extended`
//!   (the database floor). Writes one JSON object per line to FILE.
//!   With `--statement-cache true`: only the timings of the operations that do not hash a
//!   password, with `DATABASE_STATEMENT_CACHE` on (mode `inprocess_cached`).
//! - `instructions --out FILE [--requests N] [--hash-requests N] [--warmup N] [--ops a,b]`: the
//!   instructions each operation costs the function, under callgrind (see `instructions`; run by
//!   scripts/instructions.sh, which reads the counts from callgrind's dumps).
//! - `argon2 --out FILE [-n N]`: one argon2id hash and one verify with the auth function's hasher.
//! - `prepare-db URL`: drops and re-creates the database in URL, migrated (for the emulator run).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::Router;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{DatabaseConfig, JwtConfig, Source};
use shared::db::Db;
use shared::secrecy::{ExposeSecret, SecretString};
use test_support::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Service as _, ServiceExt};

#[path = "bench_inprocess/callgrind.rs"]
mod callgrind;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
const PASSWORD: &str = "bench-password-7c1e9a";
/// Other accounts and their tasks, present before anything is measured.
const BACKGROUND_USERS: u32 = 1000;
const BACKGROUND_TASKS_EACH: u32 = 100;
/// Calls per operation through the counting proxy.
const COUNTED_CALLS: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Health,
    Register,
    Login,
    Me,
    Create,
    List,
    Get,
    Update,
    Delete,
}

impl Op {
    /// In the order of the table.
    const ALL: [Op; 9] = [
        Op::Health,
        Op::Register,
        Op::Login,
        Op::Me,
        Op::Create,
        Op::List,
        Op::Get,
        Op::Update,
        Op::Delete,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Health => "health",
            Op::Register => "register",
            Op::Login => "login",
            Op::Me => "me",
            Op::Create => "create",
            Op::List => "list",
            Op::Get => "get",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    fn hashes_a_password(self) -> bool {
        matches!(self, Op::Register | Op::Login)
    }
}

struct Account {
    id: String,
    token: String,
}

struct Routers {
    health: Router,
    auth: Router,
    tasks: Router,
}

/// Everything the operations need: the routers and the accounts and tasks they work on.
struct Bench {
    routers: Routers,
    /// Owns exactly 100 tasks: me, list, get and update.
    reader: Account,
    reader_tasks: Vec<i64>,
    /// Creates tasks, and deletes its own.
    writer: Account,
    deletable: Mutex<Vec<i64>>,
    /// Registered during the hashing phases; login signs in as it.
    login_email: Mutex<Option<String>>,
    sequence: AtomicU64,
    tag: String,
}

/// A request as lambda_http hands it to the router for an API Gateway HTTP API event from `ip`.
fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    ip: &str,
) -> Request<Body> {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    };
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let mut request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("a valid request");
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(ip.to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    request
        .extensions_mut()
        .insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
    request
}

/// Which function an operation calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Health = 0,
    Auth = 1,
    Tasks = 2,
}

/// One request of an operation, before it is given a form (an `http::Request` for the router,
/// or an API Gateway event for lambda_http).
struct Call<'a> {
    function: Function,
    method: Method,
    path: String,
    token: Option<&'a str>,
    body: Option<Value>,
    ip: String,
    expected: StatusCode,
    n: u64,
}

impl Call<'_> {
    /// The API Gateway HTTP API (payload 2.0) event of this request, as the Lambda runtime
    /// receives it: the headers API Gateway adds, the request context, the body as a string.
    fn event(&self) -> Vec<u8> {
        let mut headers = serde_json::Map::new();
        for (name, value) in [
            ("accept", "*/*"),
            ("host", "bench.execute-api.us-east-1.amazonaws.com"),
            ("user-agent", "bench_inprocess"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-proto", "https"),
        ] {
            headers.insert(name.to_owned(), json!(value));
        }
        headers.insert("x-forwarded-for".to_owned(), json!(self.ip));
        headers.insert(
            "x-amzn-trace-id".to_owned(),
            json!(format!("Root=1-6745f000-{:024x}", self.n)),
        );
        if let Some(token) = self.token {
            headers.insert("authorization".to_owned(), json!(format!("Bearer {token}")));
        }
        let body = self.body.as_ref().map(Value::to_string);
        if let Some(body) = &body {
            headers.insert("content-type".to_owned(), json!("application/json"));
            headers.insert("content-length".to_owned(), json!(body.len().to_string()));
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "bench",
                "domainName": "bench.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "bench",
                "http": {
                    "method": self.method.as_str(),
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.ip,
                    "userAgent": "bench_inprocess",
                },
                "requestId": format!("bench-{}", self.n),
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Dec/2026:23:00:00 +0000",
                "timeEpoch": 1_796_166_000_000i64,
            },
            "isBase64Encoded": false,
        });
        if let Some(body) = body {
            event["body"] = json!(body);
        }
        event.to_string().into_bytes()
    }
}

impl Bench {
    /// The next request of `op`.
    fn next_call(&self, op: Op) -> Result<Call<'_>, String> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let reader_task = self.reader_tasks[(n % self.reader_tasks.len() as u64) as usize];
        let reader = Some(self.reader.token.as_str());
        let writer = Some(self.writer.token.as_str());
        let ip = "10.0.0.1".to_owned();
        let call = |function, method, path: String, token, body, ip, expected| Call {
            function,
            method,
            path,
            token,
            body,
            ip,
            expected,
            n,
        };
        Ok(match op {
            Op::Health => call(
                Function::Health,
                Method::GET,
                "/health".to_owned(),
                None,
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Register => {
                // A distinct source address per registration: 10 an hour per address is the rule.
                let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                let email = format!("r{n}-{}@bench.example", self.tag);
                self.login_email
                    .lock()
                    .expect("lock")
                    .get_or_insert(email.clone());
                call(
                    Function::Auth,
                    Method::POST,
                    "/auth/register".to_owned(),
                    None,
                    Some(json!({"email": email, "password": PASSWORD})),
                    ip,
                    StatusCode::CREATED,
                )
            }
            Op::Login => {
                let email = self
                    .login_email
                    .lock()
                    .expect("lock")
                    .clone()
                    .ok_or("no account registered to sign in with")?;
                call(
                    Function::Auth,
                    Method::POST,
                    "/auth/login".to_owned(),
                    None,
                    Some(json!({"email": email, "password": PASSWORD})),
                    "10.255.0.1".to_owned(),
                    StatusCode::OK,
                )
            }
            Op::Me => call(
                Function::Auth,
                Method::GET,
                "/users/me".to_owned(),
                reader,
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Create => call(
                Function::Tasks,
                Method::POST,
                format!("/api/{}/tasks", self.writer.id),
                writer,
                Some(
                    json!({"title": format!("Bench task {n}"), "description": "Created by the benchmark"}),
                ),
                ip,
                StatusCode::CREATED,
            ),
            Op::List => call(
                Function::Tasks,
                Method::GET,
                format!("/api/{}/tasks", self.reader.id),
                reader,
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Get => call(
                Function::Tasks,
                Method::GET,
                format!("/api/{}/tasks/{reader_task}", self.reader.id),
                reader,
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Update => call(
                Function::Tasks,
                Method::PUT,
                format!("/api/{}/tasks/{reader_task}", self.reader.id),
                reader,
                Some(json!({"title": format!("Task {reader_task} (updated)"),
                            "description": "Updated by the benchmark", "completed": n % 2 == 0})),
                ip,
                StatusCode::OK,
            ),
            Op::Delete => {
                let id = self
                    .deletable
                    .lock()
                    .expect("lock")
                    .pop()
                    .ok_or("ran out of tasks to delete")?;
                call(
                    Function::Tasks,
                    Method::DELETE,
                    format!("/api/{}/tasks/{id}", self.writer.id),
                    writer,
                    None,
                    ip,
                    StatusCode::NO_CONTENT,
                )
            }
        })
    }

    fn router(&self, function: Function) -> &Router {
        match function {
            Function::Health => &self.routers.health,
            Function::Auth => &self.routers.auth,
            Function::Tasks => &self.routers.tasks,
        }
    }

    /// One call of `op`; an unexpected status is an error with the answer.
    async fn call(&self, op: Op) -> Result<(), String> {
        let call = self.next_call(op)?;
        let req = request(call.method, &call.path, call.token, call.body, &call.ip);
        let response = self
            .router(call.function)
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        if status != call.expected {
            return Err(format!(
                "{}: expected {}, got {status}: {}",
                op.name(),
                call.expected,
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }
}

/// How long an operation is timed.
#[derive(Clone, Copy)]
enum Plan {
    /// Calls start for `warmup`, then are timed for `measure`.
    Duration { warmup: Duration, measure: Duration },
    /// `warmup` untimed calls per worker, then `calls` timed calls shared among the workers.
    Calls { warmup: u64, calls: u64 },
}

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

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
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

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The counting proxy: forwards to PostgreSQL and decodes what the client sends.

/// One frontend message of interest.
#[derive(Debug, Clone)]
enum Message {
    /// Parse: the statement text and the parameter types (OIDs).
    Parse { sql: String, types: Vec<u32> },
    /// Bind: each parameter's format (0 text, 1 binary) and value (None is NULL).
    Bind { values: Vec<(i16, Option<Vec<u8>>)> },
    /// Sync (end of an extended-protocol exchange): one round trip.
    Sync,
    /// A simple-protocol query: one round trip.
    Query(String),
}

#[derive(Default)]
struct Wire {
    messages: Mutex<Vec<Message>>,
}

async fn start_counting_proxy(upstream: String, wire: Arc<Wire>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port for the counting proxy");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let wire = wire.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let to_client = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buffer: Vec<u8> = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                let mut startup = true;
                while let Ok(read) = client_read.read(&mut chunk).await {
                    if read == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    let consumed = decode_frontend(&buffer, &mut startup, &wire);
                    buffer.drain(..consumed);
                    if server_write.write_all(&chunk[..read]).await.is_err() {
                        break;
                    }
                }
                to_client.abort();
            });
        }
    });
    port
}

/// Decodes the complete messages at the start of `buffer`; returns how many bytes they took.
fn decode_frontend(buffer: &[u8], startup: &mut bool, wire: &Wire) -> usize {
    let mut at = 0;
    loop {
        let rest = &buffer[at..];
        if *startup {
            // Untyped: length (itself included), then a protocol code.
            if rest.len() < 8 {
                return at;
            }
            let length = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
            if rest.len() < length {
                return at;
            }
            let code = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
            // SSLRequest and GSSENCRequest are followed by the real startup message.
            if code != 80_877_103 && code != 80_877_104 {
                *startup = false;
            }
            at += length;
            continue;
        }
        if rest.len() < 5 {
            return at;
        }
        let kind = rest[0];
        let length = u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")) as usize;
        if rest.len() < 1 + length {
            return at;
        }
        let body = &rest[5..1 + length];
        let message = match kind {
            b'P' => parse_message(body),
            b'B' => bind_message(body),
            b'S' => Some(Message::Sync),
            b'Q' => Some(Message::Query(
                String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or_default())
                    .into_owned(),
            )),
            _ => None,
        };
        if let Some(message) = message {
            wire.messages.lock().expect("lock").push(message);
        }
        at += 1 + length;
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn cstring(&mut self) -> Option<&'a str> {
        let end = self.bytes.iter().position(|b| *b == 0)?;
        let text = std::str::from_utf8(&self.bytes[..end]).ok()?;
        self.bytes = &self.bytes[end + 1..];
        Some(text)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn parse_message(body: &[u8]) -> Option<Message> {
    let mut reader = Reader { bytes: body };
    reader.cstring()?; // statement name
    let sql = reader.cstring()?.to_owned();
    let count = reader.i16()?;
    let types = (0..count)
        .map(|_| reader.i32().map(|oid| oid as u32))
        .collect::<Option<Vec<_>>>()?;
    Some(Message::Parse { sql, types })
}

fn bind_message(body: &[u8]) -> Option<Message> {
    let mut reader = Reader { bytes: body };
    reader.cstring()?; // portal
    reader.cstring()?; // statement
    let format_count = reader.i16()?;
    let formats = (0..format_count)
        .map(|_| reader.i16())
        .collect::<Option<Vec<_>>>()?;
    let count = reader.i16()?;
    let mut values = Vec::new();
    for i in 0..count as usize {
        let format = match formats.len() {
            0 => 0,
            1 => formats[0],
            _ => formats[i],
        };
        let length = reader.i32()?;
        let value = if length < 0 {
            None
        } else {
            Some(reader.take(length as usize)?.to_vec())
        };
        values.push((format, value));
    }
    Some(Message::Bind { values })
}

/// SQL name of a parameter type.
fn type_name(oid: u32) -> Option<&'static str> {
    Some(match oid {
        16 => "bool",
        17 => "bytea",
        20 => "int8",
        23 => "int4",
        25 => "text",
        701 => "float8",
        1007 => "int4[]",
        1009 => "text[]",
        1184 => "timestamptz",
        2950 => "uuid",
        _ => return None,
    })
}

/// A binary-format parameter as PostgreSQL's text input would take it.
fn to_text(oid: u32, raw: &[u8]) -> Option<String> {
    let be8 = |b: &[u8]| -> Option<[u8; 8]> { b.try_into().ok() };
    Some(match oid {
        16 => (raw.first()? != &0).to_string(),
        17 => format!("\\x{}", hex(raw)),
        20 => i64::from_be_bytes(be8(raw)?).to_string(),
        23 => i32::from_be_bytes(raw.try_into().ok()?).to_string(),
        25 => String::from_utf8(raw.to_vec()).ok()?,
        701 => f64::from_be_bytes(be8(raw)?).to_string(),
        1184 => {
            let micros = i64::from_be_bytes(be8(raw)?);
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(
                (micros as i128 + 946_684_800_000_000) * 1000,
            )
            .ok()?;
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()?
        }
        2950 => {
            let h = hex(raw);
            if h.len() != 32 {
                return None;
            }
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        1007 | 1009 => {
            let mut reader = Reader { bytes: raw };
            let dimensions = reader.i32()?;
            reader.i32()?; // has nulls
            let element = reader.i32()? as u32;
            if dimensions == 0 {
                return Some("{}".to_owned());
            }
            if dimensions != 1 {
                return None;
            }
            let count = reader.i32()?;
            reader.i32()?; // lower bound
            let mut items = Vec::new();
            for _ in 0..count {
                let length = reader.i32()?;
                if length < 0 {
                    items.push("NULL".to_owned());
                    continue;
                }
                let text = to_text(element, reader.take(length as usize)?)?;
                items.push(format!(
                    "\"{}\"",
                    text.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            format!("{{{}}}", items.join(","))
        }
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One statement as the handler sent it.
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    types: Vec<u32>,
    values: Vec<(i16, Option<Vec<u8>>)>,
}

fn statements(messages: &[Message]) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Vec<u32>)> = None;
    for message in messages {
        match message {
            Message::Parse { sql, types } => pending = Some((sql.clone(), types.clone())),
            Message::Bind { values } => {
                if let Some((sql, types)) = pending.take() {
                    out.push(Statement {
                        sql,
                        types,
                        values: values.clone(),
                    });
                }
            }
            Message::Query(sql) => out.push(Statement {
                sql: sql.clone(),
                types: Vec::new(),
                values: Vec::new(),
            }),
            Message::Sync => {}
        }
    }
    out
}

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

// ---------------------------------------------------------------------------------------------

struct Args {
    values: HashMap<String, String>,
}

impl Args {
    fn parse(raw: &[String]) -> Self {
        let mut values = HashMap::new();
        let mut iter = raw.iter();
        while let Some(flag) = iter.next() {
            let key = flag.trim_start_matches('-').to_owned();
            let value = iter.next().cloned().unwrap_or_default();
            values.insert(key, value);
        }
        Self { values }
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
    fn secs(&self, key: &str, default: f64) -> Duration {
        Duration::from_secs_f64(
            self.get(key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default),
        )
    }
    fn number(&self, key: &str, default: u64) -> u64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

struct Output {
    file: std::fs::File,
}

impl Output {
    fn create(path: &str) -> Self {
        Self {
            file: std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {path}: {e}")),
        }
    }
    fn line(&mut self, value: Value) {
        eprintln!("{value}");
        writeln!(self.file, "{value}").expect("writing the results");
    }
}

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

fn main() -> std::process::ExitCode {
    return_freed_memory_to_the_os();
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("usage: bench_inprocess run|instructions|argon2|prepare-db ...");
        return std::process::ExitCode::FAILURE;
    };
    // `instructions` counts what a function does, on the runtime every function's `main` uses.
    let runtime = if command == "instructions" {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    let result = match command.as_str() {
        "run" => runtime.block_on(run(Args::parse(rest))),
        "argon2" => runtime.block_on(argon2(Args::parse(rest))),
        "instructions" => runtime.block_on(instructions(Args::parse(rest))),
        "prepare-db" => runtime.block_on(prepare_db(rest.first().cloned().unwrap_or_default())),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_inprocess: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn prepare_db(url: String) -> Result<(), String> {
    let name = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .ok_or("prepare-db needs a URL ending in a plain database name")?
        .to_owned();
    let admin = schema::connect(&schema::replace_database(&url, "postgres"), false)
        .await
        .map_err(|e| format!("{e:#}"))?;
    admin
        .batch_execute(&format!("drop database if exists {name} with (force)"))
        .await
        .map_err(|e| e.to_string())?;
    let mut client = schema::connect(&url, true)
        .await
        .map_err(|e| format!("{e:#}"))?;
    schema::up(&mut client, schema::MIGRATIONS)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(())
}

async fn argon2(args: Args) -> Result<(), String> {
    let mut out = Output::create(args.get("out").ok_or("--out is required")?);
    let n = args.number("n", 10) as usize;
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
async fn instructions(args: Args) -> Result<(), String> {
    // The functions' own log line per request (the caller sends it to /dev/null).
    shared::telemetry::init();
    let mut out = Output::create(args.get("out").ok_or("--out is required")?);
    let requests = args.number("requests", 100);
    let hash_requests = args.number("hash-requests", 5);
    let warmup = args.number("warmup", 20);
    let only: Option<Vec<&str>> = args.get("ops").map(|ops| ops.split(',').collect());
    let under_valgrind = callgrind::running_on_valgrind();
    let Seeded {
        database,
        sql,
        bench,
        ..
    } = seed(false).await?;
    let mut adapters = [Function::Health, Function::Auth, Function::Tasks]
        .map(|function| Adapter::new(bench.router(function).clone()));
    let order = [
        Op::Health,
        Op::Me,
        Op::Create,
        Op::List,
        Op::Get,
        Op::Update,
        Op::Delete,
        Op::Register,
        Op::Login,
    ];
    for op in order {
        if only.as_ref().is_some_and(|only| !only.contains(&op.name())) {
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
                        "warmup": warm, "valgrind": under_valgrind}),
        );
    }
    drop(adapters);
    drop(sql);
    drop(bench);
    drop(database);
    Ok(())
}

/// What the routers are built from: one pool per function on the database `url`.
#[derive(Clone)]
struct Configs {
    jwt: JwtConfig,
    settings: auth::AuthSettings,
    statement_cache: bool,
}

impl Configs {
    fn database(&self, url: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: SecretString::from(format!(
                "{}?sslmode=disable",
                url.split('?').next().unwrap_or(url)
            )),
            // As many connections as concurrent calls (each Lambda instance has its own 2).
            pool_max_size: 4,
            connect_timeout: Duration::from_secs(2),
            pool_wait_timeout: Duration::from_millis(1500),
            query_timeout: Duration::from_secs(4),
            statement_cache: self.statement_cache,
        }
    }

    async fn routers(&self, url: String) -> Routers {
        let pool = || Db::connect_lazy(&self.database(&url)).expect("a pool");
        let (health_db, auth_db, tasks_db) = (pool(), pool(), pool());
        for db in [&health_db, &auth_db, &tasks_db] {
            db.warm_up().await;
        }
        Routers {
            health: health::app(health::HealthState { db: health_db }),
            auth: auth::app(auth::AuthState::new(
                auth_db,
                &self.jwt,
                self.settings.clone(),
            )),
            tasks: tasks::app(
                tasks::TasksState::new(tasks_db, &self.jwt, None).expect("tasks state"),
            ),
        }
    }
}

/// A fresh database with the accounts and tasks every measurement starts from, and the bench on it.
struct Seeded {
    database: TestDb,
    sql: Arc<tokio_postgres::Client>,
    bench: Arc<Bench>,
    configs: Configs,
}

async fn seed(statement_cache: bool) -> Result<Seeded, String> {
    let database = TestDb::new().await;
    let vars: HashMap<String, String> = HashMap::from([("JWT_SECRET".into(), SECRET.into())]);
    let configs = Configs {
        jwt: JwtConfig::from_source(&Source::new(&vars)).map_err(|e| e.to_string())?,
        settings: auth::AuthSettings::from_source(&vars).map_err(|e| e.to_string())?,
        statement_cache,
    };

    // Two accounts with live sessions, made in SQL (no password hashing before the RSS reading).
    let sql = database.client().await;
    let keys = shared::token::TokenKeys::new(&configs.jwt);
    let tag = format!("{:x}", std::process::id());
    let mut accounts = Vec::new();
    for who in ["reader", "writer"] {
        let row = sql
            .query_one(
                "with u as (insert into users (email, email_key, password_hash) values ($1, lower($1), 'unused') returning id)
                 insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u
                 returning user_id::text, id",
                &[&format!("{who}-{tag}@bench.example")],
            )
            .await
            .map_err(|e| e.to_string())?;
        let id: String = row.get(0);
        let token = keys
            .issue(&id, row.get(1), "user")
            .map_err(|e| e.to_string())?;
        accounts.push(Account { id, token });
    }
    let writer = accounts.pop().expect("writer");
    let reader = accounts.pop().expect("reader");
    let reader_tasks: Vec<i64> = sql
        .query(
            "insert into tasks (issuer, user_id, owner_id, title, description)
             select '', $1, $1::text::uuid, 'Task ' || g, 'Description of task ' || g from generate_series(1, 100) g
             returning id",
            &[&reader.id],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|row| row.get(0))
        .collect();

    // Other users' tasks, so that the planner sees a database in service: many owners, none of
    // whom is most of the table. With only the reader's 100 rows analyzed, the statistics say every
    // task is the reader's, and the tasks the writer adds later look like nobody's: the planner then
    // scans the whole table to list the reader's tasks, and walks all of the writer's index entries
    // to delete one task by id (3-4 ms instead of 0.1; seen in perf as seq-scan and texteq time).
    sql.batch_execute(&format!(
        "with owners as (
            insert into users (email, email_key, password_hash)
            select 'other' || g || '-{tag}@bench.example', 'other' || g || '-{tag}@bench.example', 'unused'
              from generate_series(1, {BACKGROUND_USERS}) g
            returning id
         )
         insert into tasks (issuer, user_id, owner_id, title, description)
         select '', owners.id::text, owners.id, 'Task ' || g, 'Description of task ' || g
           from owners, generate_series(1, {BACKGROUND_TASKS_EACH}) g"
    ))
    .await
    .map_err(|e| e.to_string())?;

    // Statistics and no dead rows, as a database in service has (a fresh one has neither).
    vacuum(&sql).await?;

    let bench = Arc::new(Bench {
        routers: configs.routers(database.url.clone()).await,
        reader,
        reader_tasks,
        writer,
        deletable: Mutex::new(Vec::new()),
        login_email: Mutex::new(None),
        sequence: AtomicU64::new(0),
        tag,
    });
    Ok(Seeded {
        database,
        sql,
        bench,
        configs,
    })
}

async fn vacuum(sql: &tokio_postgres::Client) -> Result<(), String> {
    sql.batch_execute("vacuum (analyze) users, sessions, tasks, login_throttle")
        .await
        .map_err(|e| e.to_string())
}

/// `count` new tasks of the writer's for the delete operation; their ids in insertion order.
async fn add_deletable(
    sql: &tokio_postgres::Client,
    bench: &Bench,
    count: u64,
) -> Result<Vec<i64>, String> {
    let ids: Vec<i64> = sql
        .query(
            &format!(
                "insert into tasks (issuer, user_id, owner_id, title)
                 select '', $1, $1::text::uuid, 'To delete ' || g from generate_series(1, {count}) g returning id"
            ),
            &[&bench.writer.id],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|row| row.get(0))
        .collect();
    bench
        .deletable
        .lock()
        .expect("lock")
        .extend(ids.iter().rev());
    Ok(ids)
}

async fn run(args: Args) -> Result<(), String> {
    // The functions' own log line per request, to stdout as in Lambda (the caller discards it).
    shared::telemetry::init();
    let mut out = Output::create(args.get("out").ok_or("--out is required")?);
    let warmup = args.secs("warmup", 1.0);
    let duration = args.secs("duration", 5.0);
    let hash_calls = args.number("hash-iterations", 40);
    let floor_duration = args.number("floor-duration", 5);
    let work = std::path::PathBuf::from(args.get("work").unwrap_or("/tmp/bench_inprocess"));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    // `--statement-cache true`: the same, with DATABASE_STATEMENT_CACHE on, for the operations that
    // do not hash a password, and nothing else (no round trips, no floor).
    let statement_cache = args.get("statement-cache") == Some("true");
    let mode = if statement_cache {
        "inprocess_cached"
    } else {
        "inprocess"
    };
    let Seeded {
        database,
        sql,
        bench,
        configs,
    } = seed(statement_cache).await?;
    let vacuum = || vacuum(&sql);
    let add_deletable = |count: u64| add_deletable(&sql, &bench, count);

    let mut failed = false;
    let mut created = 0u64;
    let mut fastest_get_per_second = 0f64;
    let order = [
        Op::Health,
        Op::Me,
        Op::Create,
        Op::List,
        Op::Get,
        Op::Update,
        Op::Delete,
        Op::Register,
        Op::Login,
    ];
    for op in order {
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
    let wire = Arc::new(Wire::default());
    let upstream = test_support::server_address();
    let port = start_counting_proxy(upstream, wire.clone()).await;
    let proxied_url = {
        let url = database.config().url.expose_secret().to_owned();
        let (scheme, rest) = url.split_once("://").ok_or("a URL")?;
        let (authority, path) = rest.split_once('/').ok_or("a URL with a database")?;
        let credentials = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}127.0.0.1:{port}/{path}")
    };
    let counted = Arc::new(Bench {
        routers: configs.routers(proxied_url).await,
        reader: Account {
            id: bench.reader.id.clone(),
            token: bench.reader.token.clone(),
        },
        reader_tasks: bench.reader_tasks.clone(),
        writer: Account {
            id: bench.writer.id.clone(),
            token: bench.writer.token.clone(),
        },
        deletable: Mutex::new(Vec::new()),
        login_email: Mutex::new(bench.login_email.lock().expect("lock").clone()),
        sequence: AtomicU64::new(1 << 40),
        tag: format!("{}c", bench.tag),
    });
    counted
        .deletable
        .lock()
        .expect("lock")
        .extend(bench.deletable.lock().expect("lock").drain(..).take(100));
    let mut captured: HashMap<&'static str, Vec<Statement>> = HashMap::new();
    for op in Op::ALL {
        // One call first: connections are opened (no statements are sent for that).
        counted.call(op).await?;
        let mut first = Vec::new();
        let (mut round_trips, mut parses) = (0usize, 0usize);
        for i in 0..COUNTED_CALLS {
            wire.messages.lock().expect("lock").clear();
            counted.call(op).await?;
            let messages = std::mem::take(&mut *wire.messages.lock().expect("lock"));
            round_trips += messages
                .iter()
                .filter(|m| matches!(m, Message::Sync | Message::Query(_)))
                .count();
            parses += messages
                .iter()
                .filter(|m| matches!(m, Message::Parse { .. } | Message::Query(_)))
                .count();
            if i == 0 {
                first = statements(&messages);
            }
        }
        out.line(json!({
            "kind": "roundtrips", "op": op.name(),
            "round_trips": round_trips as f64 / COUNTED_CALLS as f64,
            "statements": parses as f64 / COUNTED_CALLS as f64,
            "sql": first.iter().map(|s| s.sql.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>(),
        }));
        captured.insert(op.name(), first);
    }

    // The floor: the captured statements replayed by pgbench, one client, fixed duration; then
    // as prepared statements, and (writes) with synchronous_commit=off: see `Variant`.
    if let Some(pgbench) = args.get("pgbench") {
        vacuum().await?;
        let floor = Floor {
            pgbench,
            conninfo: format!("{}?sslmode=disable", database.url),
            seconds: floor_duration,
            work: &work,
        };
        let mut create_count = [0u64; 3];
        for op in Op::ALL {
            let statements = &captured[op.name()];
            let (script, variables) = pgbench_script(op, statements)?;
            let path = work.join(format!("floor-{}.sql", op.name()));
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
                let result = floor.run(&path, &variables, op, variant)?;
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
struct Floor<'a> {
    pgbench: &'a str,
    conninfo: String,
    seconds: u64,
    work: &'a std::path::Path,
}

impl Floor<'_> {
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
            .map_err(|e| format!("running {}: {e}", self.pgbench))?;
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
