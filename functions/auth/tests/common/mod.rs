//! Test harness of the auth function: the app on its own database, and small helpers that read
//! like the API (register, login, call with a token).
#![allow(dead_code)]

use auth::{app, AuthSettings, AuthState};
use axum::body::{to_bytes, Body};
use axum::Router;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{JwtConfig, Source};
use std::collections::HashMap;
use test_support::TestDb;
use tower::ServiceExt;

pub const SECRET: &str = "auth-tests-secret-auth-tests-secret-0123";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub database: TestDb,
    pub router: Router,
    pub state: AuthState,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Seals TOTP secrets in the tests.
pub const SECOND_FACTOR_KEY: &str = "test-second-factor-key-test-second-factor-key";

impl TestApp {
    pub async fn new() -> Self {
        Self::with_vars(&[]).await
    }

    pub async fn with_vars(extra: &[(&str, &str)]) -> Self {
        let database = TestDb::new().await;
        let mut vars: HashMap<String, String> = test_support::jwt_signer_vars(SECRET)
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        vars.entry("ADMIN_EMAIL".into())
            .or_insert_with(|| "admin@example.com".into());
        vars.entry("SECOND_FACTOR_KEY".into())
            .or_insert_with(|| SECOND_FACTOR_KEY.into());
        vars.entry("WEBAUTHN_RP_ID".into())
            .or_insert_with(|| "localhost".into());
        vars.entry("WEBAUTHN_RP_ORIGINS".into())
            .or_insert_with(|| "http://localhost:3000".into());
        let jwt = JwtConfig::from_source(&Source::new(&vars)).unwrap();
        let settings = AuthSettings::from_source(&vars).unwrap();
        let state = AuthState::new(database.pool(), &jwt, settings);
        Self {
            router: app(state.clone()),
            state,
            database,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A JSON request, with a bearer token when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn register(&self, email: &str) -> Answer {
        self.post(
            "/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post("/auth/login", json!({"email": email, "password": password}))
            .await
    }

    /// Registers `email` and signs in: (access token, refresh token, user id).
    pub async fn signed_up(&self, email: &str) -> (String, String, String) {
        let registered = self.register(email).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        (
            login.body["access_token"].as_str().unwrap().to_owned(),
            login.body["refresh_token"].as_str().unwrap().to_owned(),
            registered.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Registers `email`, follows the verification link the local mailer logged, and signs in:
    /// (access token, refresh token, user id). With the default `ADMIN_EMAIL`, this is how a
    /// test gets its administrator.
    pub async fn signed_up_verified(&self, email: &str) -> (String, String, String) {
        let token = {
            let (captured, _guard) = capture_log(tracing::Level::INFO);
            let registered = self.register(email).await;
            assert_eq!(
                registered.status,
                StatusCode::CREATED,
                "{}",
                registered.body
            );
            last_mailed_token(&captured).expect("the local mailer logs the verification link")
        };
        let verified = self
            .post("/auth/verify-email", json!({"token": token}))
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        let me = self
            .get("/users/me", login.body["access_token"].as_str().unwrap())
            .await;
        (
            login.body["access_token"].as_str().unwrap().to_owned(),
            login.body["refresh_token"].as_str().unwrap().to_owned(),
            me.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A plain client on the test database, to arrange or inspect rows.
    pub async fn sql(&self) -> std::sync::Arc<tokio_postgres::Client> {
        self.database.client().await
    }
}

/// A request as API Gateway (HTTP API) would deliver it from `source_ip`.
pub fn from_ip(mut request: Request<Body>, source_ip: &str) -> Request<Body> {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    };
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(source_ip.to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    request
        .extensions_mut()
        .insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
    request
}

pub fn json_request(method: Method, path: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Captures this thread's log (where the local mailer writes its links) while the guard lives.
pub fn capture_log(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(level)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

/// The token of the last link (reset or verification) the local mailer logged.
pub fn last_mailed_token(captured: &Captured) -> Option<String> {
    let text = captured.text();
    let start = text.rfind("token=")? + "token=".len();
    Some(
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

/// Log output captured in memory, to search it for secrets or read the local mailer's link.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// RFC 4648 base32 (no padding), the secret of an `otpauth://` URI.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars() {
        buffer = (buffer << 5) | ALPHABET.find(c).expect("base32") as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
