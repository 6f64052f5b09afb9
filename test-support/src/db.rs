//! Per-test databases: each test gets its own, copied from a migrated template (made once per set
//! of migrations) and dropped when the test ends, with every connection still open to it.

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
