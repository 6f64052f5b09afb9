//! The JSON log lines as CloudWatch receives them: one flat object per line with Lambda
//! Powertools' keys, each once; the invocation's keys on every line logged while serving it;
//! `cold_start` true for the first invocation of an environment only; `latency_ms` a number.

use std::collections::HashMap;

use axum::routing::get;
use axum::Router;
use lambda_http::request::LambdaRequest;
use serde_json::{json, Value};
use shared::lambda::Gateway;
use shared::telemetry::{json_subscriber, PowertoolsJson};
use test_support::CapturedLog;
use tower::{Service, ServiceExt};
use tracing_subscriber::filter::Targets;

/// The log, as CloudWatch would receive it.
#[derive(Clone, Default)]
struct Captured(CapturedLog);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.0.clone()
    }
}

impl Captured {
    /// Every line, parsed; each must be one JSON object with no key twice.
    fn lines(&self) -> Vec<serde_json::Map<String, Value>> {
        let text = self.0.text();
        text.lines()
            .map(|line| {
                let object: serde_json::Map<String, Value> = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
                for key in object.keys() {
                    assert_eq!(
                        line.matches(&format!("\"{key}\":")).count(),
                        1,
                        "{key} twice: {line}"
                    );
                }
                object
            })
            .collect()
    }
}

fn app() -> Router {
    shared::lambda::finish(Router::new().route(
        "/things/{id}",
        get(|| async {
            // A field named like one of the line's own keys does not make a second one.
            tracing::warn!(service = "mine", "inside the handler");
            "{}"
        }),
    ))
}

fn http_api_event(path: &str) -> LambdaRequest {
    serde_json::from_value(json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": "gateway-id", "routeKey": "$default", "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": false
    }))
    .unwrap()
}

fn alb_event(path: &str) -> LambdaRequest {
    serde_json::from_value(json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1"}},
        "httpMethod": "GET", "path": path, "queryStringParameters": {}, "headers": {"host": "api.example.com"},
        "body": "", "isBase64Encoded": false
    }))
    .unwrap()
}

fn context(request_id: &str) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.to_owned();
    context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".to_owned());
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:tasks".to_owned();
    context
}

/// Serves `event` through the adapter inside the span lambda_runtime opens for each invocation
/// (whose fields used to come out nested and twice).
async fn serve(gateway: &mut Gateway, event: LambdaRequest, request_id: &str) {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "Lambda runtime invoke",
        requestId = request_id,
        xrayTraceId = "x"
    );
    gateway
        .ready()
        .await
        .unwrap()
        .call(lambda_http::LambdaEvent::new(event, context(request_id)))
        .instrument(span)
        .await
        .unwrap();
}

fn format() -> PowertoolsJson {
    let vars: HashMap<String, String> = [
        ("AWS_LAMBDA_FUNCTION_NAME", "tasks"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("POWERTOOLS_SERVICE_NAME", "tasks-api"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    PowertoolsJson::from_vars(&vars)
}

#[tokio::test]
async fn every_line_is_flat_with_powertools_keys_once() {
    let captured = Captured::default();
    let filter = Targets::new().with_default(tracing::Level::INFO);
    let _guard =
        tracing::subscriber::set_default(json_subscriber(captured.clone(), filter, format()));
    let mut gateway = Gateway::new(app());
    serve(&mut gateway, http_api_event("/things/1"), "lambda-1").await;
    serve(&mut gateway, http_api_event("/things/2"), "lambda-2").await;
    serve(&mut gateway, alb_event("/things/3"), "lambda-3").await;

    let lines = captured.lines();
    let requests: Vec<_> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 3, "{lines:?}");
    let first = requests[0];
    for (key, value) in [
        ("level", json!("INFO")),
        ("service", json!("tasks-api")),
        ("cold_start", json!(true)),
        ("function_name", json!("tasks")),
        ("function_memory_size", json!(256)),
        (
            "function_arn",
            json!("arn:aws:lambda:us-east-1:1:function:tasks"),
        ),
        ("function_request_id", json!("lambda-1")),
        (
            "xray_trace_id",
            json!("Root=1-5759e988-bd862e3fe1be46a994272793"),
        ),
        ("correlation_id", json!("gateway-id")),
        ("method", json!("GET")),
        ("route", json!("/things/{id}")),
        ("status", json!(200)),
    ] {
        assert_eq!(first.get(key), Some(&value), "{key}: {first:?}");
    }
    assert!(
        first["latency_ms"].is_f64() || first["latency_ms"].is_u64(),
        "{first:?}"
    );
    let timestamp = first["timestamp"].as_str().unwrap();
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{timestamp}: {e}"));
    for gone in [
        "span",
        "spans",
        "request_id",
        "requestId",
        "fields",
        "target",
    ] {
        assert!(!first.contains_key(gone), "{gone}: {first:?}");
    }
    // Only the environment's first invocation is its cold start.
    assert_eq!(requests[1]["cold_start"], false);
    assert_eq!(requests[1]["function_request_id"], "lambda-2");
    // Behind an ALB the problem bodies' id is the Lambda request id: written once.
    assert_eq!(requests[2]["function_request_id"], "lambda-3");
    assert!(
        !requests[2].contains_key("correlation_id"),
        "{:?}",
        requests[2]
    );

    let inside: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "inside the handler")
        .collect();
    assert_eq!(inside.len(), 3);
    assert_eq!(inside[0]["level"], "WARN");
    assert_eq!(inside[0]["function_request_id"], "lambda-1");
    assert_eq!(inside[0]["correlation_id"], "gateway-id");
    assert_eq!(inside[0]["service"], "tasks-api");
    assert_eq!(inside[0]["event_service"], "mine");
}

#[tokio::test]
async fn a_line_outside_any_invocation_has_no_invocation_keys() {
    let captured = Captured::default();
    let filter = Targets::new().with_default(tracing::Level::INFO);
    let _guard =
        tracing::subscriber::set_default(json_subscriber(captured.clone(), filter, format()));
    tracing::info!(elapsed_ms = 12u64, "database connection warmed up");
    let lines = captured.lines();
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["elapsed_ms"], 12);
    assert_eq!(line["function_name"], "tasks");
    for absent in ["cold_start", "function_request_id", "correlation_id"] {
        assert!(!line.contains_key(absent), "{absent}: {line:?}");
    }
}
