//! What every function's `main` and `app` share: the common routing layers, the database set-up at
//! init, handing the router to the Lambda runtime, and the router a misconfigured function serves
//! instead of its own.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::middleware::from_fn;
use axum::Router;
use http::HeaderValue;
use lambda_http::request::LambdaRequest;
use lambda_http::RequestExt as _;
use tower::{Service, ServiceExt as _};

use crate::config::DatabaseConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::misconfig::Misconfiguration;
use crate::telemetry::{in_invocation, log_request, ColdStart};

/// Adds what every function answers the same way: problem+json for unknown paths and methods,
/// and the one log line per request.
pub fn finish(router: Router) -> Router {
    router
        .fallback(crate::error::route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(log_request))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method Not Allowed".to_owned())
}

/// The pool for this execution environment, warmed up with one connection unless `DB_WARMUP=false`
/// (the warm-up happens during init, which Lambda does not bill at full price, and never fails it).
pub async fn database(
    config: &DatabaseConfig,
    vars: &std::collections::HashMap<String, String>,
) -> anyhow::Result<Db> {
    let db = Db::connect_lazy(config)?;
    let warm_up = !matches!(
        vars.get("DB_WARMUP")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("false" | "0" | "no" | "off")
    );
    if warm_up {
        db.warm_up().await;
    }
    Ok(db)
}

/// What a function whose settings cannot work serves instead of its router: every request, on
/// any path and method, answered at once with the `misconfigured` problem (a 500), so a client
/// learns of the mistake instead of waiting on a function that never started.
pub fn misconfigured(misconfiguration: Misconfiguration) -> Router {
    let misconfiguration = Arc::new(misconfiguration);
    Router::new()
        .fallback(move || std::future::ready(ApiError::Misconfigured(misconfiguration.clone())))
        .layer(from_fn(log_request))
}

/// Serves `app` to the Lambda runtime (API Gateway HTTP API and REST API, ALB) until shutdown.
///
/// `run_concurrent` is lambda_runtime's entry point for a handler that may serve invocations side
/// by side: one at a time unless `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda managed instances) asks for
/// more. Its sequential `run` warned at every start under `cargo lambda watch`, which sets that
/// variable to 1 for every function it spawns.
pub async fn run(app: Router) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run_concurrent(Gateway::new(app)).await
}

type LambdaAdapter = lambda_http::Adapter<'static, axum::response::Response, Router>;
type LambdaEvent = lambda_http::LambdaEvent<LambdaRequest>;
/// lambda_http's response envelope (its type is not exported; its adapter's answer is one).
type LambdaResponse = <LambdaAdapter as Service<LambdaEvent>>::Response;

/// What the Lambda runtime sends back for one event.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Envelope {
    /// An API Gateway HTTP API response written by [`Gateway`] in one pass.
    Written(crate::json::Raw),
    /// Any other, as lambda_http makes it.
    Converted(Box<LambdaResponse>),
}

/// lambda_http's adapter, but for the JSON answers of API Gateway's HTTP API (every route's
/// success and error bodies) the envelope is written here, byte for byte as lambda_http and
/// serde_json write it, in one pass: lambda_http collects the body, copies it into a `String`
/// and has serde_json escape it into the envelope, which callgrind showed as a quarter of a
/// 100-task list's instructions. Everything else (other event kinds, binary or compressed
/// bodies, cookies) goes through lambda_http unchanged. `tests/envelope.rs` compares both.
///
/// Each invocation runs as one for the log (`telemetry::in_invocation`): its lines carry its
/// request id, trace id and whether it is the environment's cold start.
#[derive(Clone)]
pub struct Gateway {
    router: Router,
    cold_start: ColdStart,
}

impl Gateway {
    pub fn new(router: Router) -> Self {
        Self {
            router,
            cold_start: ColdStart::default(),
        }
    }
}

impl Service<LambdaEvent> for Gateway {
    type Response = Envelope;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Envelope, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent) -> Self::Future {
        if !matches!(event.payload, LambdaRequest::ApiGatewayV2(_)) {
            let context = event.context.clone();
            let cold_start = self.cold_start.clone();
            // lambda_http's adapter is made per event: it is not `Send` (its future is), and
            // `run_concurrent` needs a handler that is.
            let converted = LambdaAdapter::from(self.router.clone()).call(event);
            return Box::pin(async move {
                in_invocation(&context, &cold_start, async move {
                    Ok(Envelope::Converted(Box::new(converted.await?)))
                })
                .await
            });
        }
        // As lambda_http's adapter makes the request.
        let lambda_http::LambdaEvent { payload, context } = event;
        let mut request: lambda_http::Request = payload.into();
        if let Some(trace_id) = context.xray_trace_id.as_deref() {
            if let Ok(value) = HeaderValue::from_str(trace_id) {
                request.headers_mut().insert(
                    http::header::HeaderName::from_static("x-amzn-trace-id"),
                    value,
                );
            }
        }
        let cold_start = self.cold_start.clone();
        let invocation = context.clone();
        let request = request.with_lambda_context(context);
        let router = self.router.clone();
        Box::pin(async move {
            in_invocation(&invocation, &cold_start, async move {
                let Ok(response) = router.oneshot(request).await;
                Ok(http_api_envelope(response).await)
            })
            .await
        })
    }
}

/// The HTTP API (payload 2.0) envelope of `response`: written here when it is JSON text, else
/// lambda_http's.
async fn http_api_envelope(response: axum::response::Response) -> Envelope {
    let (parts, body) = response.into_parts();
    // lambda_http takes these as UTF-8 text (no content type too: a 204, say).
    let writable = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_none_or(|kind| kind == "application/json" || kind == "application/problem+json")
        && !parts.headers.contains_key(http::header::CONTENT_ENCODING)
        && !parts.headers.contains_key(http::header::SET_COOKIE);
    // Our bodies are in memory: collecting them does not wait (and cannot fail).
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if writable {
        if let Some(envelope) = write_http_api_envelope(&parts, &bytes) {
            return Envelope::Written(envelope);
        }
    }
    let mut response = Some(axum::response::Response::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ));
    // The adapter is not Send (it names its response type by reference); its future is.
    let converting = {
        let mut adapter =
            lambda_http::Adapter::from(tower::service_fn(move |_: lambda_http::Request| {
                std::future::ready(Ok::<_, Infallible>(response.take().expect("called once")))
            }));
        adapter.call(lambda_http::LambdaEvent::new(
            LambdaRequest::ApiGatewayV2(Default::default()),
            lambda_http::Context::default(),
        ))
    };
    let Ok(converted) = converting.await;
    Envelope::Converted(Box::new(converted))
}

/// The whole life of a function process: telemetry, configuration, `build` (pool, keys, router),
/// then serving. A configuration problem is one clear log line, never a panic or a printed config;
/// under a Lambda runtime (AWS, `cargo lambda watch`) the function then serves [`misconfigured`]
/// rather than exit, which would leave the request waiting (a hang under `cargo lambda watch`, a
/// 502 after retries in AWS). Outside one nothing could be served, so the process stops.
pub async fn start<F, Fut>(build: F) -> std::process::ExitCode
where
    F: FnOnce(std::collections::HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Router>>,
{
    crate::telemetry::init();
    return_freed_memory_to_the_os();
    let (app, cors) = match crate::config::load_environment().await {
        Ok(vars) => match cors_policy(&vars) {
            Ok(cors) => (build(vars).await, cors),
            Err(error) => (Err(error), None),
        },
        Err(error) => (Err(error), None),
    };
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            let misconfiguration = Misconfiguration::from_start_error(&error);
            let setting = misconfiguration.setting.unwrap_or("unknown");
            if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
                tracing::error!(setting, error = %misconfiguration.cause, "refusing to start: configuration is invalid");
                return std::process::ExitCode::FAILURE;
            }
            tracing::error!(setting, error = %misconfiguration.cause, "configuration is invalid: every request is answered 500 misconfigured");
            misconfigured(misconfiguration)
        }
    };
    // Also around the misconfigured answer: a browser frontend can then read its detail.
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    match run(app).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The CORS policy of `CORS_ORIGINS` (see `cors`): an invalid origin is a configuration error like
/// any other.
fn cors_policy(
    vars: &std::collections::HashMap<String, String>,
) -> anyhow::Result<Option<tower_http::cors::CorsLayer>> {
    let origins = crate::cors::origins(vars)?;
    crate::cors::layer(&origins)
}

/// Keeps glibc from holding on to large freed blocks. argon2id allocates 19 MiB per hash; with glibc's
/// default, the first free raises the mmap threshold past that size, so later hashes come from the
/// heap and each blocking thread's arena keeps its 19 MiB (the auth function was seen at 126 MB RSS
/// after a few dozen logins). A fixed threshold sends such blocks straight back to the OS.
fn return_freed_memory_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// The envelope lambda_http would make for a text body (`ApiGatewayV2httpResponse` through
/// serde_json): status, each header's first value, no multi-value headers, the body as a JSON
/// string, not base64, no cookies. `None` (lambda_http does it) when a header value or the body
/// is not UTF-8, or the body starts with a byte-order mark (lambda_http's decoding drops it).
fn write_http_api_envelope(parts: &http::response::Parts, body: &[u8]) -> Option<crate::json::Raw> {
    let body = std::str::from_utf8(body).ok()?;
    if body.starts_with('\u{feff}') {
        return None;
    }
    // The body, an eighth more for escapes, the headers and the fixed fields.
    let mut out = Vec::with_capacity(body.len() + body.len() / 8 + 512);
    out.extend_from_slice(b"{\"statusCode\":");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.extend_from_slice(b",\"headers\":{");
    for (index, name) in parts.headers.keys().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        crate::json::write_str(&mut out, name.as_str());
        out.push(b':');
        crate::json::write_str(
            &mut out,
            std::str::from_utf8(parts.headers[name].as_bytes()).ok()?,
        );
    }
    out.extend_from_slice(b"},\"multiValueHeaders\":{},\"body\":\"");
    crate::json::write_str_contents(&mut out, body.as_bytes());
    out.extend_from_slice(b"\",\"isBase64Encoded\":false,\"cookies\":[]}");
    // SAFETY: `out` is ASCII written here, header values checked as UTF-8 above and the body
    // (UTF-8, checked above) with ASCII escapes put in place of ASCII bytes: all UTF-8.
    // Checking it again cost 2 % of a 100-task list (callgrind, `from_utf8`).
    Some(crate::json::Raw(unsafe {
        String::from_utf8_unchecked(out)
    }))
}
