//! Test harness: every test gets its own database, copied from a migrated template and dropped
//! when the test ends; plus the proxies, launchers and token fixtures the suites share. A
//! dev-dependency only: no release binary links it.

pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio_postgres::NoTls;

use schema::{self as migrate, replace_database, MIGRATIONS};
use shared::config::DatabaseConfig;
use shared::db::Db;

/// The server tests run against: `TEST_DATABASE_URL`, else the local default. `DATABASE_URL` is
/// deliberately not used: it may point at a real (Neon) database that tests must never touch.
/// Only its host, port and credentials are used; each test makes its own database there.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of one's own, dropped (with any connection still open to it) when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// A fresh, fully migrated database.
    pub async fn new() -> Self {
        let admin_url = replace_database(&server_url(), "postgres");
        let template = ensure_template(&admin_url).await;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_client(&admin_url).await;
        admin
            .batch_execute(&format!("create database {name} template {template}"))
            .await
            .expect("creating the test database from the template");
        let url = replace_database(&server_url(), &name);
        Self {
            name,
            url,
            admin_url,
        }
    }

    /// An empty database (no migrations), for another program's tables: a Better Auth server's.
    pub async fn empty() -> Self {
        let admin_url = replace_database(&server_url(), "postgres");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        admin_client(&admin_url)
            .await
            .batch_execute(&format!("create database {name}"))
            .await
            .expect("creating an empty test database");
        Self {
            url: replace_database(&server_url(), &name),
            name,
            admin_url,
        }
    }

    /// Settings for a pool on this database, with short timeouts so failure tests finish quickly.
    ///
    /// With `TEST_POOLER_URL` set (scripts/test.sh starts PgBouncer in transaction mode and sets
    /// it), the pool goes through that pooler, as the functions do through Neon's `-pooler`
    /// endpoint; the harness's own set-up still talks to the server directly.
    pub fn config(&self) -> DatabaseConfig {
        let url = match std::env::var("TEST_POOLER_URL") {
            Ok(pooler) if !pooler.is_empty() => replace_database(&pooler, &self.name),
            _ => self.url.clone(),
        };
        self.config_for(url)
    }

    /// Settings for a pool that connects to the server directly, whatever the run's pooler: for
    /// the tests of the direct connection itself.
    pub fn direct_config(&self) -> DatabaseConfig {
        self.config_for(self.url.clone())
    }

    fn config_for(&self, url: String) -> DatabaseConfig {
        DatabaseConfig {
            url: SecretString::from(format!(
                "{}?sslmode=disable",
                url.split('?').next().unwrap_or(&url)
            )),
            pool_max_size: 2,
            connect_timeout: Duration::from_secs(2),
            pool_wait_timeout: Duration::from_millis(1500),
            query_timeout: Duration::from_secs(4),
            // TEST_STATEMENT_CACHE=true runs the suite with the functions' statement cache on.
            statement_cache: std::env::var("TEST_STATEMENT_CACHE").is_ok_and(|v| v == "true"),
        }
    }

    /// A pool on this database.
    pub fn pool(&self) -> Db {
        Db::connect_lazy(&self.config()).expect("a pool for the test database")
    }

    /// A plain client on this database, for arranging and inspecting rows.
    pub async fn client(&self) -> Arc<tokio_postgres::Client> {
        Arc::new(admin_client(&self.url).await)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a thread with its own small runtime.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database")
                .block_on(async move {
                    let admin = admin_client(&admin_url).await;
                    admin
                        .batch_execute(&format!("drop database if exists {name} with (force)"))
                        .await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let plain = format!("{}?sslmode=disable", url.split('?').next().unwrap_or(url));
    let (client, connection) = tokio_postgres::connect(&plain, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server ({e}); set TEST_DATABASE_URL or run scripts/test.sh"));
    tokio::spawn(connection);
    client
}

/// The migrated template for the current set of migrations, made once per set by whichever test
/// gets there first (the others wait on an advisory lock). Its name carries a hash of the migrations,
/// so editing one makes a new template instead of reusing a stale one.
async fn ensure_template(admin_url: &str) -> String {
    let checksums: String = MIGRATIONS.iter().map(|m| m.checksum()).collect();
    let template = format!("tmpl_{}", &migrate::sha256_hex(&checksums)[..16]);
    let admin = admin_client(admin_url).await;
    admin
        .batch_execute("select pg_advisory_lock(74617374)")
        .await
        .expect("template lock");
    let exists = admin
        .query_typed(
            "select 1 from pg_database where datname = $1",
            &[(&template, tokio_postgres::types::Type::TEXT)],
        )
        .await
        .expect("looking up the template")
        .len()
        == 1;
    if !exists {
        let building = format!("{template}_building");
        for statement in [
            format!("drop database if exists {building} with (force)"),
            format!("create database {building}"),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .expect("creating the template database");
        }
        {
            let mut client = migrate::connect(&replace_database(admin_url, &building), false)
                .await
                .expect("connecting to the template database");
            migrate::up(&mut client, MIGRATIONS)
                .await
                .expect("migrating the template database");
        }
        // Renaming needs the migration connection gone; it is, once `client` is dropped and the
        // server notices. Retry briefly.
        let mut renamed = false;
        for _ in 0..50 {
            if admin
                .batch_execute(&format!("alter database {building} rename to {template}"))
                .await
                .is_ok()
            {
                renamed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(renamed, "could not rename the template database");
    }
    admin
        .batch_execute("select pg_advisory_unlock(74617374)")
        .await
        .expect("template unlock");
    template
}

/// A TCP proxy in front of the test PostgreSQL server that a test can take down and bring back,
/// to play a database outage (or Neon scaling to zero) without touching the shared server.
pub struct TcpProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding 127.0.0.1:<port> to `upstream` (host:port).
    pub async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port for the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let task = {
            let up = up.clone();
            let cut = cut.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed at once
                    }
                    let upstream = upstream.clone();
                    let mut cut_signal = cut.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut_signal.changed() => {}
                        }
                    });
                }
            })
        };
        Self {
            port,
            up,
            cut,
            task,
        }
    }

    /// Refuses new connections and cuts every open one, like a database host going away.
    pub fn take_down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Accepts connections again.
    pub fn bring_back(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let credentials = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.take_down();
        self.task.abort();
    }
}

/// host:port of the test server, for a proxy to forward to.
pub fn server_address() -> String {
    let url = server_url();
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

/// A local AWS API (`moto_server` from .venv, as scripts/test.sh installs it) for the tests that
/// talk to Secrets Manager or SES for real. Stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    child: std::process::Child,
}

impl Moto {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("its address")
            .port();
        let mut child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("`moto_server` must be installed: run the tests with scripts/test.sh");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { endpoint, child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto_server did not start on port {port}");
    }

    /// SDK configuration pointing at this server, with throwaway credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "testing", "testing", None, None, "tests",
                    ),
                ),
            )
            .http_client(http_client)
            .build()
    }

    /// Environment variables that point the SDK of a child process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ]
    }
}

/// The string value of a secret (tests only: panics on any failure).
pub async fn secret_string(client: &aws_sdk_secretsmanager::Client, arn: &str) -> String {
    client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("the secret")
        .secret_string()
        .expect("a string secret")
        .to_owned()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo lambda watch` (from .venv, as scripts/test.sh installs it) serving every function of the
/// workspace on a free port of 127.0.0.1, the functions configured by `envs`; stopped (with the
/// function processes it started) when dropped. Its output goes to a log file named in panics.
pub struct Emulator {
    child: std::process::Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Emulator {
    /// Starts the emulator and waits (up to 300 s: cargo lambda builds each function on its first
    /// invocation) until each function answers something other than a gateway error: health on
    /// `/health`, auth and tasks with their 401 to a request without a token.
    pub async fn start(envs: &[(&str, &str)]) -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let log = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
        let file = std::fs::File::create(&log).expect("the emulator's log file");
        let child = std::process::Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                // The functions apply CORS themselves (CORS_ORIGINS), as the HTTP API does in
                // AWS; the emulator's own policy would allow every origin.
                "--disable-cors",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(workspace)
            .envs(envs.iter().copied())
            .stdout(file.try_clone().expect("the emulator's log file"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("`cargo lambda watch` must be installed: run the tests with scripts/test.sh");
        let emulator = Self { child, port, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        for path in ["/health", "/users/me", "/api/nobody/tasks"] {
            loop {
                match plain_get(port, path).await {
                    Some(status) if status != 502 && status != 503 => break,
                    _ if std::time::Instant::now() > deadline => panic!(
                        "cargo lambda watch did not serve {path} within 300 s; see {}",
                        emulator.log.display()
                    ),
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        emulator
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // cargo lambda watch shuts down on Ctrl-C (SIGINT); SIGKILL the group if it lingers.
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = std::process::Command::new("kill")
                .args(["-s", name, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal("INT");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("KILL");
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for a test's own servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// The status of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
async fn plain_get(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// An in-process answer with its body exactly as sent, for tests that compare bytes.
pub struct RawAnswer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends `request` to `router` in-process and keeps the body's bytes.
pub async fn send_raw(router: axum::Router, request: http::Request<axum::body::Body>) -> RawAnswer {
    use tower::ServiceExt as _;
    let response = router
        .oneshot(request)
        .await
        .expect("routers are infallible");
    RawAnswer {
        status: response.status(),
        headers: response.headers().clone(),
        bytes: axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("in-process bodies are readable")
            .to_vec(),
    }
}

/// How the test run signs our access tokens: EdDSA (Ed25519), what the template deploys, unless
/// `TEST_JWT_ALGORITHM=HS256` asks for the seeds' shared secret. The HS256 path keeps focused tests
/// of its own (e2e/tests/hs256.rs, the HS256 rotation tests) that do not depend on this switch.
pub fn test_algorithm() -> shared::config::TokenAlgorithm {
    match std::env::var("TEST_JWT_ALGORITHM").as_deref() {
        Ok("EdDSA") | Err(_) => shared::config::TokenAlgorithm::EdDSA,
        Ok("HS256") => shared::config::TokenAlgorithm::HS256,
        Ok(other) => panic!("TEST_JWT_ALGORITHM must be HS256 or EdDSA, not {other:?}"),
    }
}

/// The test run's Ed25519 key (one per test process), as a PKCS#8 PEM.
pub fn test_signing_key_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(shared::token::jwks::Ed25519Key::generate_pem)
}

/// The JWKS of [`test_signing_key_pem`].
pub fn test_public_keys() -> String {
    let key =
        shared::token::jwks::Ed25519Key::from_pem(test_signing_key_pem()).expect("our own key");
    shared::token::jwks::document([&key.public])
}

/// The variables that configure the function that signs (auth) for the test run's algorithm:
/// `JWT_SECRET` = `secret` with HS256; the Ed25519 key and its JWKS with EdDSA.
pub fn jwt_signer_vars(secret: &str) -> Vec<(String, String)> {
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => vec![("JWT_SECRET".into(), secret.into())],
        shared::config::TokenAlgorithm::EdDSA => vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_SIGNING_KEY".into(), test_signing_key_pem().into()),
            ("JWT_PUBLIC_KEYS".into(), test_public_keys()),
        ],
    }
}

/// The variables that configure a function that only verifies (tasks): with EdDSA the public keys
/// only, so the tests run it as it is deployed, without any key that could sign.
pub fn jwt_verifier_vars(secret: &str) -> Vec<(String, String)> {
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => vec![("JWT_SECRET".into(), secret.into())],
        shared::config::TokenAlgorithm::EdDSA => vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_PUBLIC_KEYS".into(), test_public_keys()),
        ],
    }
}

/// `claims` signed as our own tokens are in this test run (HS256 with `secret`, or the Ed25519 key
/// with its `kid`): for tests that hand-craft tokens our keys would sign.
pub fn sign_as_ours(claims: &serde_json::Value, secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        ),
        shared::config::TokenAlgorithm::EdDSA => {
            let key = shared::token::jwks::Ed25519Key::from_pem(test_signing_key_pem())
                .expect("our own key");
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(key.kid().to_owned());
            jsonwebtoken::encode(&header, claims, &key.encoding)
        }
    }
    .expect("signable claims")
}
