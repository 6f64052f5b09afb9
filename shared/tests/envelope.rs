//! `shared::lambda::Gateway` answers every event with the bytes lambda_http's own adapter would
//! send: for the JSON answers it writes itself (success and problem bodies, any text in them,
//! extra and repeated headers) and for those it hands to lambda_http (empty, plain text, binary,
//! compressed, cookies, a byte-order mark, invalid UTF-8), and for REST API and ALB events.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lambda_http::request::LambdaRequest;
use serde_json::json;
use shared::lambda::Gateway;
use tower::{Service, ServiceExt};

fn with(kind: &'static str, status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body.into(),
    )
        .into_response()
}

fn app() -> Router {
    let tricky = "[{\"t\":\"\\\" \\\\ \\u0001 \\n\",\"u\":\"🦀 é \u{2028} </script>\"}]";
    Router::new()
        .route(
            "/json",
            get(|| async { axum::Json(json!({"a": [1, "two", null], "b": "q\"uote"})) }),
        )
        .route(
            "/tricky",
            get(move || async move { with("application/json", StatusCode::OK, tricky) }),
        )
        .route(
            "/problem",
            get(|| async {
                with(
                    "application/problem+json",
                    StatusCode::UNPROCESSABLE_ENTITY,
                    r#"{"title":"Bad","status":422}"#,
                )
            }),
        )
        .route(
            "/headers",
            get(|| async {
                let mut response = with("application/json", StatusCode::CREATED, "{}");
                let headers = response.headers_mut();
                headers.insert(header::LOCATION, HeaderValue::from_static("/api/x/tasks/1"));
                headers.insert("x-total-count", HeaderValue::from(42));
                headers.append("vary", HeaderValue::from_static("origin"));
                headers.append("vary", HeaderValue::from_static("accept"));
                headers.insert(
                    header::LINK,
                    HeaderValue::from_static("</next?a=1&b=\"2\">; rel=\"next\""),
                );
                response
            }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/text", get(|| async { "plain \"text\"" }))
        .route(
            "/binary",
            get(|| async {
                with(
                    "application/octet-stream",
                    StatusCode::OK,
                    vec![0u8, 159, 255, 1],
                )
            }),
        )
        .route(
            "/gzip",
            get(|| async {
                let mut response = with("application/json", StatusCode::OK, vec![31u8, 139, 8, 0]);
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }),
        )
        .route(
            "/cookie",
            get(|| async {
                let mut response = with("application/json", StatusCode::OK, "{}");
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, HeaderValue::from_static("a=b; Secure"));
                response
            }),
        )
        .route(
            "/bom",
            get(|| async { with("application/json", StatusCode::OK, "\u{feff}{}") }),
        )
        .route(
            "/invalid",
            get(|| async { with("application/json", StatusCode::OK, vec![b'"', 0xff, b'"']) }),
        )
        .route(
            "/charset",
            get(|| async {
                with(
                    "application/json; charset=utf-8",
                    StatusCode::OK,
                    "{\"x\":1}",
                )
            }),
        )
        .route(
            "/opaque-header",
            get(|| async {
                let mut response = with("application/json", StatusCode::OK, "{}");
                response
                    .headers_mut()
                    .insert("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
                response
            }),
        )
        .fallback(|| async {
            with(
                "application/problem+json",
                StatusCode::NOT_FOUND,
                r#"{"title":"Not Found"}"#,
            )
        })
}

fn http_api_event(path: &str) -> LambdaRequest {
    serde_json::from_value(json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example.com", "accept": "*/*"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0},
        "isBase64Encoded": false
    }))
    .unwrap()
}

fn rest_api_event(path: &str) -> LambdaRequest {
    serde_json::from_value(json!({
        "resource": "/{proxy+}", "path": path, "httpMethod": "GET", "headers": {"Host": "api.example.com"},
        "multiValueHeaders": {"Host": ["api.example.com"]}, "queryStringParameters": null,
        "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
        "requestContext": {"accountId": "1", "resourceId": "x", "stage": "prod", "requestId": "r",
            "identity": {"sourceIp": "192.0.2.1"}, "resourcePath": "/{proxy+}", "httpMethod": "GET", "apiId": "a"},
        "body": null, "isBase64Encoded": false
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

/// Both envelopes as serde_json writes them (or its error: a header that is not UTF-8 fails).
async fn both(
    event: impl Fn() -> LambdaRequest,
) -> (Result<String, String>, Result<String, String>) {
    let context = lambda_http::Context::default();
    let ours = Gateway::new(app())
        .ready()
        .await
        .unwrap()
        .call(lambda_http::LambdaEvent::new(event(), context.clone()))
        .await
        .unwrap();
    let mut adapter: lambda_http::Adapter<'static, Response, Router> =
        lambda_http::Adapter::from(app());
    let theirs = adapter
        .ready()
        .await
        .unwrap()
        .call(lambda_http::LambdaEvent::new(event(), context))
        .await
        .unwrap();
    let text = |e: serde_json::Error| e.to_string();
    (
        serde_json::to_string(&ours).map_err(text),
        serde_json::to_string(&theirs).map_err(text),
    )
}

const PATHS: [&str; 14] = [
    "/json",
    "/tricky",
    "/problem",
    "/headers",
    "/empty",
    "/text",
    "/binary",
    "/gzip",
    "/cookie",
    "/bom",
    "/invalid",
    "/charset",
    "/opaque-header",
    "/nowhere",
];

#[tokio::test]
async fn http_api_envelopes_are_lambda_https() {
    for path in PATHS {
        let (ours, theirs) = both(|| http_api_event(path)).await;
        assert_eq!(ours, theirs, "{path}");
    }
    // The JSON answers are written by the gateway itself; the rest by lambda_http.
    for path in PATHS {
        let envelope = Gateway::new(app())
            .call(lambda_http::LambdaEvent::new(
                http_api_event(path),
                Default::default(),
            ))
            .await
            .unwrap();
        let written = matches!(envelope, shared::lambda::Envelope::Written(_));
        let json = [
            "/json", "/tricky", "/problem", "/headers", "/empty", "/nowhere",
        ]
        .contains(&path);
        assert_eq!(written, json, "{path}");
    }
}

#[tokio::test]
async fn rest_api_and_alb_envelopes_are_lambda_https() {
    for path in PATHS {
        let (ours, theirs) = both(|| rest_api_event(path)).await;
        assert_eq!(ours, theirs, "REST API {path}");
        let (ours, theirs) = both(|| alb_event(path)).await;
        assert_eq!(ours, theirs, "ALB {path}");
    }
}
