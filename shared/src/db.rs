//! The Postgres pool, built once per execution environment, and the query helpers every handler uses.
//!
//! Every query goes through `query_typed`/`execute_typed`: parameters are sent with their types in one
//! Parse/Bind/Execute exchange with the unnamed statement, so nothing outlives the statement and the
//! code works through PgBouncer in transaction mode (Neon's `-pooler` endpoint) in one round trip.
//!
//! With `DATABASE_STATEMENT_CACHE=true` statements are prepared once per connection (named) and
//! then only bound and executed: the server skips parsing and, after five calls, planning, which
//! is most of a small statement's time. Only for a direct connection or a pooler that carries
//! named statements (PgBouncer 1.21+ with `max_prepared_statements`); hence off by default.

use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use native_tls::{Certificate, TlsConnector};
use postgres_native_tls::MakeTlsConnector;
use secrecy::ExposeSecret;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use crate::cancel::{Canceller, CANCEL_LIMIT};
use crate::config::DatabaseConfig;
use crate::error::ApiError;
use crate::misconfig::Misconfiguration;

pub use tokio_postgres::Client;

/// One typed query parameter: the value and the Postgres type it is sent as.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Why a database call failed, split by what the client should be told.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached, or answered too slowly: 503, try again.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The server refused `DATABASE_URL` itself (wrong password, unknown role or database): no
    /// retry helps, so it is a misconfiguration (500), not an outage (503).
    #[error("the database server at {server} refused DATABASE_URL")]
    Refused {
        /// Host, port, database and user: what the log line names (never the password).
        server: Arc<str>,
        #[source]
        cause: tokio_postgres::Error,
    },
    /// The database answered with an error (constraint, syntax, ...).
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
    /// A statement that must return a row returned none.
    #[error("statement returned no row where one was expected")]
    NoRow,
}

impl DbError {
    /// True when the statement broke the unique constraint `constraint` (SQLSTATE 23505).
    pub fn is_unique_violation(&self, constraint: &str) -> bool {
        match self {
            Self::Query(error) => error.as_db_error().is_some_and(|db| {
                db.code() == &SqlState::UNIQUE_VIOLATION && db.constraint() == Some(constraint)
            }),
            Self::Unavailable(_) | Self::Refused { .. } | Self::NoRow => false,
        }
    }

    /// The SQLSTATE of a database-side error, if it is one.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            Self::Query(error) => error.code(),
            Self::Unavailable(_) | Self::Refused { .. } | Self::NoRow => None,
        }
    }
}

/// True when a statement failed because the database lacks a table, column or function the
/// code names: the database is behind the code's migrations, whatever the statement.
fn is_not_migrated(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(
            &SqlState::UNDEFINED_TABLE
                | &SqlState::UNDEFINED_COLUMN
                | &SqlState::UNDEFINED_FUNCTION
                | &SqlState::UNDEFINED_OBJECT
        )
    )
}

/// True when the server refused the connection's credentials or database rather than failing:
/// class 28 (invalid authorization: wrong password, unknown role, no pg_hba entry), 3D000 (no
/// such database) and 42501 (no CONNECT privilege). Only asked of a connection attempt.
fn is_refusal(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        let code = code.code();
        code.starts_with("28") || code == "3D000" || code == "42501"
    })
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => ApiError::Unavailable(cause),
            DbError::Refused { server, cause } => {
                let code = cause.code().map_or("", SqlState::code);
                let message = cause
                    .as_db_error()
                    .map_or_else(|| cause.to_string(), |db| db.message().to_owned());
                ApiError::Misconfigured(Arc::new(Misconfiguration::database_refused(
                    code, &server, &message,
                )))
            }
            DbError::Query(cause) if is_not_migrated(&cause) => {
                ApiError::NotMigrated(anyhow::Error::new(cause).context("query failed"))
            }
            DbError::Query(cause) => {
                ApiError::Internal(anyhow::Error::new(cause).context("query failed"))
            }
            DbError::NoRow => ApiError::Internal(anyhow!(DbError::NoRow)),
        }
    }
}

/// True when the error says the connection (not the statement) failed: the server is gone, shutting
/// down, refusing connections, or the socket broke.
fn is_connection_failure(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            let code = code.code();
            // Class 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
            // 53300: too many connections.
            code.starts_with("08") || code.starts_with("57P0") || code == "53300"
        }
        // No SQLSTATE: an I/O or protocol failure on the socket.
        None => error.as_db_error().is_none(),
    }
}

#[derive(Clone, Copy)]
enum Statement {
    Query,
    Execute,
}

/// Whether a statement may be sent twice. A statement whose connection fails after it was sent
/// may have run (committed, even: the answer is what was lost), so only a read is sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Changes nothing: safe to run twice.
    Read,
    /// May change something: never sent twice.
    Write,
}

enum Outcome {
    Rows(Vec<Row>),
    Count(u64),
}

/// The pool and the per-query time limit, cheap to clone into every handler's state.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    query_timeout: Duration,
    statement_cache: bool,
    /// Where the pool connects, for the log line of a refusal: host, port, database and user.
    server: Arc<str>,
    /// Sends the cancel request of a statement that ran out of time.
    canceller: Canceller,
}

impl Db {
    /// Builds the pool; connects lazily, so this succeeds even when the database is down.
    pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let (pg_config, tls) =
            pg_config_and_tls(config.url.expose_secret(), config.connect_timeout)?;
        let server = describe_server(&pg_config).into();
        let canceller = Canceller::new(&pg_config, tls.clone());
        let manager = Manager::from_config(
            pg_config,
            tls,
            ManagerConfig {
                // `Fast` only checks that the socket is open: no extra round trip per request.
                // A connection the server closed behind our back is caught below: before a
                // statement is sent (`is_closed`), or as a failed statement.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.pool_wait_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .context("building the connection pool")?;
        Ok(Self {
            pool,
            query_timeout: config.query_timeout,
            statement_cache: config.statement_cache,
            server,
            canceller,
        })
    }

    /// Opens one connection during init so the first request finds it ready. Never fails init:
    /// a database that is down now may be up by the first request.
    pub async fn warm_up(&self) {
        let started = Instant::now();
        match self.checkout().await {
            Ok(_) => tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "database connection warmed up"
            ),
            // Retrying cannot help a refusal: say so at once, at error level.
            Err(error @ DbError::Refused { .. }) => tracing::error!(
                error = %crate::error::ErrorChain(&anyhow!(error)),
                "database warm-up refused: DATABASE_URL is misconfigured"
            ),
            Err(error) => tracing::warn!(
                error = %crate::error::ErrorChain(&anyhow!(error)),
                "database warm-up failed; will retry on the first request"
            ),
        }
    }

    /// Measures one `select 1` round trip.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        let started = Instant::now();
        self.read("select 1", &[]).await?;
        Ok(started.elapsed())
    }

    /// Runs a statement and returns all its rows. Never sent twice: when the connection fails
    /// after it was sent, the answer is 503 (it may have run).
    pub async fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        rows(
            self.with_retry(Statement::Query, Access::Write, sql, params)
                .await?,
        )
    }

    /// Runs a statement that changes nothing and returns all its rows; sent once more on a fresh
    /// connection when the first one fails, even after the statement was sent.
    pub async fn read(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        rows(
            self.with_retry(Statement::Query, Access::Read, sql, params)
                .await?,
        )
    }

    /// [`Db::read`] of at most one row.
    pub async fn read_opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.read(sql, params).await?.into_iter().next())
    }

    /// [`Db::read`] of exactly one row.
    pub async fn read_one(&self, sql: &str, params: &[Param<'_>]) -> Result<Row, DbError> {
        self.read_opt(sql, params).await?.ok_or(DbError::NoRow)
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement that must return exactly one row.
    pub async fn query_one(&self, sql: &str, params: &[Param<'_>]) -> Result<Row, DbError> {
        self.query_opt(sql, params).await?.ok_or(DbError::NoRow)
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        count(
            self.with_retry(Statement::Execute, Access::Write, sql, params)
                .await?,
        )
    }

    /// A connection of its own, for the rare multi-statement transaction. Prefer one statement,
    /// or [`Db::begin`], which keeps the time limit and the retry rules.
    pub async fn client(&self) -> Result<Object, DbError> {
        self.checkout().await
    }

    /// Starts a transaction on a connection of its own; every statement in it, the commit
    /// included, must finish within one query time limit of this call.
    pub async fn begin(&self) -> Result<Transaction, DbError> {
        let deadline = Instant::now() + self.query_timeout;
        // `begin` changes nothing: like a read, it may be sent again on a fresh connection.
        for attempts_left in [1, 0] {
            let client = self.live_checkout().await?;
            let result = {
                let mut begun = std::pin::pin!(client.batch_execute("begin"));
                match tokio::time::timeout_at(deadline.into(), begun.as_mut()).await {
                    Ok(result) => Some(result),
                    Err(_elapsed) => {
                        self.stop(&client, begun).await;
                        None
                    }
                }
            };
            let Some(result) = result else {
                drop(Object::take(client));
                return Err(self.too_slow());
            };
            match result {
                Ok(()) => {
                    return Ok(Transaction {
                        db: self.clone(),
                        client: Some(client),
                        deadline,
                        broken: AtomicBool::new(false),
                    })
                }
                Err(error) if is_connection_failure(&error) && attempts_left > 0 => {
                    drop(Object::take(client));
                    tracing::info!(error = %error, "dead database connection replaced");
                }
                Err(error) => {
                    drop(Object::take(client));
                    return Err(connection_or_query(error, Access::Read));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn checkout(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(cause) if is_refusal(&cause) => DbError::Refused {
                server: self.server.clone(),
                cause,
            },
            error => DbError::Unavailable(anyhow!(error).context("getting a pooled connection")),
        })
    }

    /// A pooled connection not yet known to be dead. One the client already saw closed (the
    /// server or a proxy dropped it while idle) is replaced before anything is sent on it: what
    /// was never sent cannot have run, so this is the one retry every statement gets.
    async fn live_checkout(&self) -> Result<Object, DbError> {
        let client = self.checkout().await?;
        if !client.is_closed() {
            return Ok(client);
        }
        drop(Object::take(client));
        tracing::info!("closed database connection replaced before use");
        self.checkout().await
    }

    /// After the time limit fired: asks the server to cancel the statement (so neither PgBouncer
    /// nor PostgreSQL keeps working for a client that left), then gives the statement up to
    /// [`CANCEL_LIMIT`] to end with the cancel's error. Closing the connection at once instead
    /// would leave the statement running (the server only notices a client that left when it
    /// writes to it) and make PgBouncer close that server connection and open another beside it.
    /// The caller closes the connection afterwards, never reusing it.
    async fn stop<F: std::future::Future>(&self, client: &Object, operation: Pin<&mut F>) {
        self.canceller.cancel(client.cancel_token()).await;
        let _ = tokio::time::timeout(CANCEL_LIMIT, operation).await;
    }

    fn too_slow(&self) -> DbError {
        DbError::Unavailable(anyhow!(
            "query did not finish within {} ms",
            self.query_timeout.as_millis()
        ))
    }

    /// Runs one statement on `client`, through the statement cache when it is on.
    async fn run(
        &self,
        client: &Object,
        statement: Statement,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Outcome, tokio_postgres::Error> {
        if self.statement_cache {
            return run_cached(client, statement, sql, params).await;
        }
        match statement {
            Statement::Query => client.query_typed(sql, params).await.map(Outcome::Rows),
            Statement::Execute => client.execute_typed(sql, params).await.map(Outcome::Count),
        }
    }

    /// Runs `operation` on a pooled connection within the query time limit. A connection found
    /// dead before the statement was sent is replaced (see [`Db::live_checkout`]); one that fails
    /// after it was sent is discarded, and only a read runs again on a fresh one: a write may
    /// have committed with only its answer lost, so the request answers 503 and the client's
    /// retry (with an `Idempotency-Key` for creates) decides. A statement error from a live
    /// connection is returned as is.
    async fn with_retry(
        &self,
        statement: Statement,
        access: Access,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Outcome, DbError> {
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let client = self.live_checkout().await?;
            let result = {
                let mut operation = std::pin::pin!(self.run(&client, statement, sql, params));
                match tokio::time::timeout(self.query_timeout, operation.as_mut()).await {
                    Ok(result) => Some(result),
                    Err(_elapsed) => {
                        self.stop(&client, operation).await;
                        None
                    }
                }
            };
            let Some(result) = result else {
                drop(Object::take(client));
                return Err(self.too_slow());
            };
            match result {
                Ok(value) => return Ok(value),
                Err(error) if self.statement_cache && is_stale_statement(&error) => {
                    // A migration changed what the statement returns, or a pooler handed us a
                    // server connection that never saw it: the server refused it without running
                    // it, so prepare it afresh, once.
                    let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
                    client.statement_cache.remove(sql, &types);
                    if attempts_left == 0 {
                        return Err(DbError::Query(error));
                    }
                    tracing::info!(error = %error, "cached statement prepared again");
                }
                Err(error) if is_connection_failure(&error) => {
                    // Never hand this connection out again.
                    drop(Object::take(client));
                    if access == Access::Write || attempts_left == 0 {
                        return Err(connection_or_query(error, access));
                    }
                    tracing::info!(error = %error, "dead database connection replaced; read sent again");
                }
                Err(error) => return Err(DbError::Query(error)),
            }
        }
    }
}

fn rows(outcome: Outcome) -> Result<Vec<Row>, DbError> {
    match outcome {
        Outcome::Rows(rows) => Ok(rows),
        Outcome::Count(_) => unreachable!("a query returns rows"),
    }
}

fn count(outcome: Outcome) -> Result<u64, DbError> {
    match outcome {
        Outcome::Count(count) => Ok(count),
        Outcome::Rows(_) => unreachable!("an execute returns a count"),
    }
}

/// The error of a failed statement: a broken connection is a 503, and for a write the log says
/// that it may have run.
fn connection_or_query(error: tokio_postgres::Error, access: Access) -> DbError {
    if !is_connection_failure(&error) {
        return DbError::Query(error);
    }
    DbError::Unavailable(anyhow!(error).context(match access {
        Access::Read => "connection failed",
        Access::Write => {
            "connection failed after the statement was sent (it may have run; not sent again)"
        }
    }))
}

/// A transaction on one pooled connection ([`Db::begin`]). Nothing in it is ever sent twice.
/// Dropped without [`Transaction::commit`] (an error, a panic) it closes its connection, which
/// rolls the transaction back at the server (PgBouncer rolls back a client that leaves).
pub struct Transaction {
    db: Db,
    client: Option<Object>,
    deadline: Instant,
    /// A statement failed: the transaction is over and its connection is not reused.
    broken: AtomicBool,
}

impl Transaction {
    fn client(&self) -> Result<&Object, DbError> {
        match &self.client {
            Some(client) if !self.broken.load(Ordering::Relaxed) => Ok(client),
            _ => Err(DbError::Unavailable(anyhow!(
                "the transaction's connection failed earlier"
            ))),
        }
    }

    async fn run(
        &self,
        statement: Statement,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Outcome, DbError> {
        let client = self.client()?;
        let mut operation = std::pin::pin!(self.db.run(client, statement, sql, params));
        match tokio::time::timeout_at(self.deadline.into(), operation.as_mut()).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => {
                // Any error ends a PostgreSQL transaction; drop closes the connection.
                self.broken.store(true, Ordering::Relaxed);
                Err(connection_or_query(error, Access::Write))
            }
            Err(_elapsed) => {
                self.broken.store(true, Ordering::Relaxed);
                self.db.stop(client, operation).await;
                Err(DbError::Unavailable(anyhow!(
                    "transaction did not finish within {} ms",
                    self.db.query_timeout.as_millis()
                )))
            }
        }
    }

    /// Commits. An error here is ambiguous when the connection failed: the commit may have been
    /// applied with only its answer lost; a retry with the same idempotency key finds out.
    pub async fn commit(mut self) -> Result<(), DbError> {
        self.run(Statement::Execute, "commit", &[]).await?;
        // Committed: the connection goes back to the pool.
        self.client.take();
        Ok(())
    }

    /// Rolls back, keeping the connection for the pool when that works (a failure closes it).
    pub async fn rollback(mut self) {
        if self.run(Statement::Execute, "rollback", &[]).await.is_ok() {
            self.client.take();
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Still inside the transaction (or broken): close it rather than pool it.
            drop(Object::take(client));
        }
    }
}

/// Where a statement runs: on its own pooled connection ([`Db`]) or inside a [`Transaction`].
/// Code that writes takes this, so one statement serves both the plain and the idempotent path.
pub trait Queries: Sync {
    /// Runs a statement and returns all its rows (never sent twice).
    fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Vec<Row>, DbError>> + Send;

    /// Runs a statement and returns the number of rows it changed (never sent twice).
    fn execute(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<u64, DbError>> + Send;

    /// A statement that returns at most one row.
    fn query_opt(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Option<Row>, DbError>> + Send {
        async { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// A statement that must return exactly one row.
    fn query_one(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Row, DbError>> + Send {
        async { self.query_opt(sql, params).await?.ok_or(DbError::NoRow) }
    }
}

impl Queries for Db {
    async fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        Db::query(self, sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        Db::execute(self, sql, params).await
    }
}

impl Queries for Transaction {
    async fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        rows(self.run(Statement::Query, sql, params).await?)
    }

    async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        count(self.run(Statement::Execute, sql, params).await?)
    }
}

/// One statement through the connection's statement cache: prepared (named) on first use, then
/// bound and executed in one round trip.
async fn run_cached(
    client: &Object,
    statement: Statement,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Outcome, tokio_postgres::Error> {
    let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
    let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(value, _)| *value).collect();
    let prepared = client.prepare_typed_cached(sql, &types).await?;
    match statement {
        Statement::Query => client.query(&prepared, &values).await.map(Outcome::Rows),
        Statement::Execute => client.execute(&prepared, &values).await.map(Outcome::Count),
    }
}

/// A cached statement the server no longer accepts: "cached plan must not change result type"
/// (0A000, after a migration) or "prepared statement ... does not exist" (26000).
fn is_stale_statement(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED | &SqlState::INVALID_SQL_STATEMENT_NAME)
    )
}

/// Parses the URL and builds the TLS connector its `sslmode` asks for:
/// - `disable`: plain TCP;
/// - `prefer` (the default): TLS when the server offers it, without certificate checks (as libpq);
/// - `require` (also `verify-ca`/`verify-full`): TLS with the certificate chain and host name verified
///   against the system roots, or against `sslrootcert=<path>` when given.
pub fn pg_config_and_tls(
    url: &str,
    connect_timeout: Duration,
) -> anyhow::Result<(tokio_postgres::Config, MakeTlsConnector)> {
    let (url, root_cert_path, verify) = split_tls_params(url);
    let mut pg_config = tokio_postgres::Config::from_str(&url)
        .map_err(|_| anyhow!("DATABASE_URL is not a valid PostgreSQL connection URL"))?;
    pg_config.connect_timeout(connect_timeout);
    if pg_config.get_application_name().is_none() {
        pg_config.application_name(
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "tasks-api".to_owned()),
        );
    }
    if verify {
        pg_config.ssl_mode(SslMode::Require);
    }
    let mut builder = TlsConnector::builder();
    match pg_config.get_ssl_mode() {
        SslMode::Require => {
            if let Some(path) = root_cert_path {
                let pem =
                    std::fs::read(&path).with_context(|| format!("reading sslrootcert {path}"))?;
                let cert = Certificate::from_pem(&pem).context("parsing sslrootcert")?;
                builder.add_root_certificate(cert);
                // Only the given CA: a certificate from another CA must fail even if public.
                builder.disable_built_in_roots(true);
            }
        }
        _ => {
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
    }
    let connector = builder.build().context("building the TLS connector")?;
    Ok((pg_config, MakeTlsConnector::new(connector)))
}

/// "host:port (database "d", user "u")" of a parsed URL: enough for an operator to find the
/// setting at fault, and nothing secret.
fn describe_server(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(index)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{name}:{port}")
        })
        .collect();
    format!(
        "{} (database {:?}, user {:?})",
        hosts.join(","),
        config.get_dbname().unwrap_or(""),
        config.get_user().unwrap_or("")
    )
}

/// Takes out what tokio-postgres does not parse itself: `sslrootcert=<path>` and the libpq modes
/// `verify-ca`/`verify-full` (which we treat as `require`, since `require` already verifies).
fn split_tls_params(url: &str) -> (String, Option<String>, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None, false);
    };
    let mut root_cert = None;
    let mut verify = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("sslrootcert", value)) => {
                root_cert = Some(value.to_owned());
                false
            }
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root_cert, verify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmodes_are_honoured() {
        let timeout = Duration::from_secs(1);
        let (config, _) = pg_config_and_tls("postgres://u@h/db?sslmode=disable", timeout).unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        let (config, _) = pg_config_and_tls("postgres://u@h/db", timeout).unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
        let (config, _) = pg_config_and_tls("postgres://u@h/db?sslmode=require", timeout).unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        let (config, _) =
            pg_config_and_tls("postgres://u@h/db?sslmode=verify-full", timeout).unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(config.get_connect_timeout(), Some(&timeout));
    }

    #[test]
    fn neon_style_url_parses() {
        let url = "postgres://app:pw@ep-x-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require";
        let (config, _) = pg_config_and_tls(url, Duration::from_secs(1)).unwrap();
        assert_eq!(config.get_dbname(), Some("neondb"));
    }

    #[test]
    fn sslrootcert_is_taken_out_of_the_url() {
        let (url, cert, verify) =
            split_tls_params("postgres://h/db?sslrootcert=/tmp/ca.pem&sslmode=require");
        assert_eq!(url, "postgres://h/db?sslmode=require");
        assert_eq!(cert.as_deref(), Some("/tmp/ca.pem"));
        assert!(!verify);
    }

    #[test]
    fn invalid_url_error_does_not_echo_the_url() {
        let error = pg_config_and_tls("postgres://u:secret@h:notaport/db", Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(!format!("{error:#}").contains("secret"));
    }
}
