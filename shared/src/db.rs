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

use std::str::FromStr;
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
}

impl Db {
    /// Builds the pool; connects lazily, so this succeeds even when the database is down.
    pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let (pg_config, tls) =
            pg_config_and_tls(config.url.expose_secret(), config.connect_timeout)?;
        let server = describe_server(&pg_config).into();
        let manager = Manager::from_config(
            pg_config,
            tls,
            ManagerConfig {
                // `Fast` only checks that the socket is open: no extra round trip per request.
                // A connection the server closed behind our back is caught by the retry below.
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
        self.query("select 1", &[]).await?;
        Ok(started.elapsed())
    }

    /// Runs a statement and returns all its rows.
    pub async fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        match self.with_retry(Statement::Query, sql, params).await? {
            Outcome::Rows(rows) => Ok(rows),
            Outcome::Count(_) => unreachable!("a query returns rows"),
        }
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
        match self.with_retry(Statement::Execute, sql, params).await? {
            Outcome::Count(count) => Ok(count),
            Outcome::Rows(_) => unreachable!("an execute returns a count"),
        }
    }

    /// A connection of its own, for the rare multi-statement transaction. Prefer one statement.
    pub async fn client(&self) -> Result<Object, DbError> {
        self.checkout().await
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

    /// Runs `operation` on a pooled connection within the query time limit. When the connection turns
    /// out to be dead (Neon scaled to zero, `pg_terminate_backend`, a proxy dropped it while the Lambda
    /// was frozen) it is discarded and the operation runs once more on a fresh one, so the request
    /// does not fail. A statement error from a live connection is returned as is.
    async fn with_retry(
        &self,
        statement: Statement,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Outcome, DbError> {
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let client = self.checkout().await?;
            let operation = async {
                if self.statement_cache {
                    return run_cached(&client, statement, sql, params).await;
                }
                match statement {
                    Statement::Query => client.query_typed(sql, params).await.map(Outcome::Rows),
                    Statement::Execute => {
                        client.execute_typed(sql, params).await.map(Outcome::Count)
                    }
                }
            };
            match tokio::time::timeout(self.query_timeout, operation).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) if self.statement_cache && is_stale_statement(&error) => {
                    // A migration changed what the statement returns, or a pooler handed us a
                    // server connection that never saw it: prepare it afresh, once.
                    let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
                    client.statement_cache.remove(sql, &types);
                    if attempts_left == 0 {
                        return Err(DbError::Query(error));
                    }
                    tracing::info!(error = %error, "cached statement prepared again");
                }
                Ok(Err(error)) if is_connection_failure(&error) => {
                    // Never hand this connection out again.
                    drop(Object::take(client));
                    if attempts_left == 0 {
                        return Err(DbError::Unavailable(
                            anyhow!(error).context("connection failed"),
                        ));
                    }
                    tracing::info!(error = %error, "dead database connection replaced");
                }
                Ok(Err(error)) => return Err(DbError::Query(error)),
                Err(_elapsed) => {
                    // The statement may still be running: close this connection rather than reuse it.
                    drop(Object::take(client));
                    return Err(DbError::Unavailable(anyhow!(
                        "query did not finish within {} ms",
                        self.query_timeout.as_millis()
                    )));
                }
            }
        }
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
