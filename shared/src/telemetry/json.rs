//! One flat JSON object per log line, with the keys AWS Lambda Powertools' Logger writes (`level`,
//! `message`, `timestamp`, `service`, `cold_start`, `function_name`, `function_memory_size`,
//! `function_arn`, `function_request_id`, `xray_trace_id`, `correlation_id`), so CloudWatch Logs
//! Insights queries written for Powertools work on ours; the event's own fields follow, numbers as
//! numbers. Spans are not written: the only one is lambda_runtime's, whose request and trace ids
//! come out under Powertools' names, once, from the invocation.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::{invocation, request_id};
use crate::json::{write_rfc3339, write_str};

/// Powertools' name when none is set; ours is one service of several functions.
const DEFAULT_SERVICE: &str = "tasks-api";

/// The keys this writer owns; an event field of the same name is written as `event_<name>`, so
/// no line ever holds a key twice.
const OWN_KEYS: &[&str] = &[
    "level",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "correlation_id",
];

/// The line format, with what is fixed for the process read once.
pub struct PowertoolsJson {
    service: String,
    function_name: Option<String>,
    function_memory_size: Option<u64>,
}

impl PowertoolsJson {
    /// From the process environment: see [`PowertoolsJson::from_vars`].
    pub fn from_env() -> Self {
        Self::from_vars(&std::env::vars().collect())
    }

    /// `POWERTOOLS_SERVICE_NAME` (else `tasks-api`), and the function's name and memory as the
    /// Lambda runtime (or `cargo lambda watch`) sets them.
    pub fn from_vars(vars: &HashMap<String, String>) -> Self {
        let var = |name: &str| vars.get(name).filter(|value| !value.is_empty()).cloned();
        Self {
            service: var("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE.to_owned()),
            function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
            function_memory_size: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .and_then(|size| size.parse().ok()),
        }
    }
}

impl<S, N> FormatEvent<S, N> for PowertoolsJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Vec::with_capacity(256 + fields.json.len());
        line.extend_from_slice(b"{\"level\":");
        write_str(&mut line, event.metadata().level().as_str());
        line.extend_from_slice(b",\"message\":");
        write_str(&mut line, &fields.message);
        line.extend_from_slice(b",\"timestamp\":");
        let now = OffsetDateTime::now_utc();
        // Milliseconds, as Powertools writes them; CloudWatch keeps its own ingestion time too.
        write_rfc3339(
            &mut line,
            now.replace_millisecond(now.millisecond()).unwrap_or(now),
        )
        .map_err(|_| fmt::Error)?;
        line.extend_from_slice(b",\"service\":");
        write_str(&mut line, &self.service);
        let invocation_id = invocation::with_current(|current| {
            write_key(&mut line, "cold_start");
            line.extend_from_slice(if current.cold_start {
                b"true"
            } else {
                b"false"
            });
            current.request_id.clone()
        });
        if let Some(name) = &self.function_name {
            write_key(&mut line, "function_name");
            write_str(&mut line, name);
        }
        if let Some(size) = self.function_memory_size {
            write_key(&mut line, "function_memory_size");
            line.extend_from_slice(size.to_string().as_bytes());
        }
        invocation::with_current(|current| {
            if !current.function_arn.is_empty() {
                write_key(&mut line, "function_arn");
                write_str(&mut line, &current.function_arn);
            }
            write_key(&mut line, "function_request_id");
            write_str(&mut line, &current.request_id);
            if let Some(trace) = &current.xray_trace_id {
                write_key(&mut line, "xray_trace_id");
                write_str(&mut line, trace);
            }
        });
        // The id the problem bodies carry: API Gateway's. Behind an ALB it is the Lambda request
        // id, already written as `function_request_id`.
        if let Some(id) = request_id::current() {
            if invocation_id.as_deref() != Some(id.as_str()) {
                write_key(&mut line, "correlation_id");
                write_str(&mut line, &id);
            }
        }
        line.extend_from_slice(&fields.json);
        line.push(b'}');
        // Every byte above is ASCII or comes from a `&str`.
        let line = std::str::from_utf8(&line).map_err(|_| fmt::Error)?;
        writer.write_str(line)?;
        writer.write_char('\n')
    }
}

fn write_key(line: &mut Vec<u8>, key: &str) {
    line.push(b',');
    write_str(line, key);
    line.push(b':');
}

/// An event's message, and its other fields as `,"key":value` pairs.
#[derive(Default)]
struct Fields {
    message: String,
    json: Vec<u8>,
}

impl Fields {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        if OWN_KEYS.contains(&name) {
            write_key(&mut self.json, &format!("event_{name}"));
        } else {
            write_key(&mut self.json, name);
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            // Rust's shortest round-trip form, never an exponent: a JSON number.
            self.json.extend_from_slice(value.to_string().as_bytes());
        } else {
            self.json.extend_from_slice(b"null");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.json.extend_from_slice(value.to_string().as_bytes());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.json.extend_from_slice(value.to_string().as_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.json
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
            return;
        }
        self.key(field);
        write_str(&mut self.json, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
            return;
        }
        self.key(field);
        write_str(&mut self.json, &format!("{value:?}"));
    }
}
