//! The benchmarked operations, and the two forms their requests take: an `http::Request` for a
//! router, and the API Gateway HTTP API event Lambda would deliver for it.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

/// A benchmarked operation: one route of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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
    pub const ALL: [Op; 9] = [
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

    /// In the order they are measured: the password-hashing ones last, so that the RSS reading
    /// taken before them (`run`) is of the functions without argon2's 19 MiB, and register before
    /// login, which signs in as an account register made.
    pub const MEASURED: [Op; 9] = [
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

    pub fn name(self) -> &'static str {
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

    pub fn hashes_a_password(self) -> bool {
        matches!(self, Op::Register | Op::Login)
    }

    /// Whether its requests carry an access token.
    pub fn carries_a_token(self) -> bool {
        !matches!(self, Op::Health | Op::Register | Op::Login)
    }

    /// Whether it is a route of the tasks function (the only one a Better Auth token reaches).
    pub fn is_a_tasks_route(self) -> bool {
        matches!(
            self,
            Op::Create | Op::List | Op::Get | Op::Update | Op::Delete
        )
    }
}

/// A request as lambda_http hands it to the router for an API Gateway HTTP API event from `ip`.
pub fn request(
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
pub enum Function {
    Health = 0,
    Auth = 1,
    Tasks = 2,
}

/// One request of an operation, before it is given a form (an `http::Request` for the router,
/// or an API Gateway event for lambda_http).
pub struct Call {
    pub function: Function,
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<Value>,
    pub ip: String,
    pub expected: StatusCode,
    /// The call's sequence number: makes request and trace ids unique.
    pub n: u64,
}

impl Call {
    /// The API Gateway HTTP API (payload 2.0) event of this request, as the Lambda runtime
    /// receives it: the headers API Gateway adds, the request context, the body as a string.
    pub fn event(&self) -> Vec<u8> {
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
        if let Some(token) = &self.token {
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
