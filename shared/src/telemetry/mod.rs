//! Logging: one subscriber per process (JSON in AWS, shaped like Lambda Powertools' Logger, see
//! `json`; readable text locally) and one structured line per request with its method, route,
//! status and latency, the invocation's keys (`invocation`) and API Gateway's request id.

mod invocation;
mod json;
mod request_id;

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tracing::{Instrument as _, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use invocation::{in_invocation, ColdStart};
pub use json::PowertoolsJson;

/// Installs the global subscriber. `LOG_FORMAT=json|text` chooses the format; by default it is
/// JSON inside AWS (CloudWatch Logs Insights parses it) and text on a laptop. `RUST_LOG` filters
/// by level and target (`info`, `warn,tasks=debug`); `Targets` understands that much without the
/// regex engine `EnvFilter` links in (a smaller binary and a faster cold start).
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => crate::aws::running_in_aws(),
    };
    let result = if json {
        json_subscriber(std::io::stdout, filter, PowertoolsJson::from_env()).try_init()
    } else {
        tracing_subscriber::fmt()
            .with_target(false)
            .with_ansi(false)
            .finish()
            .with(filter)
            .try_init()
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    drop(result);
}

/// The JSON subscriber `init` installs in AWS, writing `format`'s lines to `writer`: what the
/// tests that read our log lines install too.
pub fn json_subscriber<W>(
    writer: W,
    filter: Targets,
    format: PowertoolsJson,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_writer(writer)
        .fmt_fields(NoSpanFields)
        .event_format(format)
        .finish()
        .with(filter)
}

/// Span fields are never written in JSON (see `json`): not formatting them saves the work at every
/// span's creation.
struct NoSpanFields;

impl<'w> FormatFields<'w> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _: Writer<'w>,
        _: R,
    ) -> std::fmt::Result {
        Ok(())
    }
}

pub use request_id::current as current_request_id;

/// The API Gateway request id when there is one (it is what API Gateway's access log shows),
/// else the Lambda invocation id, else a fresh one (in-process tests).
fn request_id_of(request: &Request) -> String {
    let from_gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    from_gateway
        .or_else(|| {
            request
                .lambda_context_ref()
                .map(|context| context.request_id.clone())
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Axum middleware: scopes the request id (for error bodies and every log line of the request)
/// and logs one line when the response is ready.
pub async fn log_request(request: Request, next: Next) -> Response {
    let request_id = request_id_of(&request);
    // For the text lines: the id problem bodies carry, in every line's prefix. The JSON lines
    // write it as `correlation_id` and skip spans.
    let span = tracing::info_span!("request", id = %request_id);
    request_id::scope(request_id, serve_and_log(request, next))
        .instrument(span)
        .await
}

async fn serve_and_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    // Hundredths of a millisecond are plenty, and a number, so Logs Insights can add them up.
    let latency_ms = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    tracing::info!(method = %method, route, status, latency_ms, "request");
    response
}
