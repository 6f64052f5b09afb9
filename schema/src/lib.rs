//! The migration runner: plain SQL files from `migrations/`, embedded at build time, applied in
//! order with `up`, reverted with `down [N]`, listed with `status`.
//!
//! Each migration runs in its own transaction that first takes a transaction-scoped advisory lock
//! and re-reads what is applied, so two runners started at once apply each migration exactly once
//! (and the lock works through PgBouncer in transaction mode too). The SHA-256 of every applied file
//! is recorded; a file edited after it was applied stops the runner with a clear message.
//!
//! No crate fitted: refinery has no down migrations, sqlx's migrator needs sqlx.

mod describe;

pub use describe::describe;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use shared::db::pg_config_and_tls;

/// One migration: `NNNN_name.up.sql` and its `NNNN_name.down.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The newest migration a database has applied: one lookup of the history's primary key, cheap
/// enough for every `/health`. NULL when none is; SQLSTATE 42P01 when the runner never ran there.
pub const NEWEST_APPLIED_SQL: &str = "select max(version) from schema_migrations";

/// The embedded migrations (version, name) a database whose newest applied one is `applied`
/// still lacks, oldest first.
pub fn pending_after(applied: Option<i64>) -> &'static [(i64, &'static str)] {
    let applied = applied.unwrap_or(i64::MIN);
    let first = VERSIONS.partition_point(|(version, _)| *version <= applied);
    &VERSIONS[first..]
}

/// Arbitrary but fixed: the advisory-lock key all runners agree on.
const LOCK_KEY: i64 = 0x7461_736b_735f_6d67; // "tasks_mg"

const CREATE_HISTORY: &str = "
    create table if not exists schema_migrations (
        version    bigint primary key,
        name       text not null,
        checksum   text not null,
        applied_at timestamptz not null default now()
    )";

impl Migration {
    pub fn checksum(&self) -> String {
        sha256_hex(self.up)
    }
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// A migration recorded in `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Edited,
    /// Recorded in the database but no longer among the files.
    Missing,
}

/// Connects to `url`. With `create_database`, a database that does not exist yet is created first
/// (through the server's `postgres` database), which is what a fresh local set-up needs.
pub async fn connect(url: &str, create_database: bool) -> anyhow::Result<Client> {
    match connect_once(url).await {
        Err(error) if create_database && is_missing_database(&error) => {
            create_missing_database(url).await?;
            connect_once(url).await
        }
        other => other,
    }
}

fn is_missing_database(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code())
        .is_some_and(|code| code == &SqlState::INVALID_CATALOG_NAME)
}

async fn connect_once(url: &str) -> anyhow::Result<Client> {
    let (config, tls) = pg_config_and_tls(url, Duration::from_secs(10))?;
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "migration connection closed");
        }
    });
    Ok(client)
}

async fn create_missing_database(url: &str) -> anyhow::Result<()> {
    let (config, _) = pg_config_and_tls(url, Duration::from_secs(10))?;
    let name = config
        .get_dbname()
        .context("DATABASE_URL names no database")?
        .to_owned();
    let admin_url = replace_database(url, "postgres");
    let client = connect_once(&admin_url)
        .await
        .context("connecting to the `postgres` database to create the application database")?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client
        .batch_execute(&format!("create database {quoted}"))
        .await
    {
        Ok(()) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another runner created it first.
        Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
        Err(error) => Err(error).context("creating the database"),
    }
}

/// `postgres://u@h:5432/app?x=y` with the database part replaced.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[authority_start..]
        .find('/')
        .map(|i| authority_start + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Takes the runners' lock for the rest of `transaction`.
async fn lock(transaction: &tokio_postgres::Transaction<'_>) -> anyhow::Result<()> {
    transaction
        .execute_typed(
            "select pg_advisory_xact_lock($1)",
            &[(&LOCK_KEY, Type::INT8)],
        )
        .await
        .context("taking the migration lock")?;
    Ok(())
}

async fn applied(client: &mut Client) -> anyhow::Result<Vec<Applied>> {
    let transaction = client.transaction().await?;
    lock(&transaction).await?;
    transaction.batch_execute(CREATE_HISTORY).await?;
    let rows = transaction
        .query_typed(
            "select version, name, checksum from schema_migrations order by version",
            &[],
        )
        .await?;
    transaction.commit().await?;
    Ok(rows
        .iter()
        .map(|row| Applied {
            version: row.get(0),
            name: row.get(1),
            checksum: row.get(2),
        })
        .collect())
}

/// Refuses to go on when an applied migration's file changed or disappeared.
fn check_history(applied: &[Applied], migrations: &[Migration]) -> anyhow::Result<()> {
    for record in applied {
        match migrations.iter().find(|m| m.version == record.version) {
            Some(migration) if migration.checksum() != record.checksum => bail!(
                "migration {:04}_{} was edited after it was applied (checksum differs); \
                 restore the file and add a new migration instead",
                record.version,
                record.name
            ),
            Some(_) => {}
            None => bail!(
                "migration {:04}_{} is applied in the database but its file is missing",
                record.version,
                record.name
            ),
        }
    }
    Ok(())
}

/// Applies every pending migration; returns the versions it applied.
pub async fn up(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<i64>> {
    check_history(&applied(client).await?, migrations)?;
    let mut done = Vec::new();
    for migration in migrations {
        let transaction = client.transaction().await?;
        lock(&transaction).await?;
        let already: bool = transaction
            .query_typed_one(
                "select exists(select 1 from schema_migrations where version = $1)",
                &[(&migration.version, Type::INT8)],
            )
            .await?
            .get(0);
        if already {
            continue;
        }
        transaction
            .batch_execute(migration.up)
            .await
            .with_context(|| format!("applying {:04}_{}", migration.version, migration.name))?;
        after_file(&transaction, migration.version)
            .await
            .with_context(|| format!("applying {:04}_{}", migration.version, migration.name))?;
        transaction
            .execute_typed(
                "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
                &[
                    (&migration.version, Type::INT8),
                    (&migration.name, Type::TEXT),
                    (&migration.checksum(), Type::TEXT),
                ],
            )
            .await?;
        transaction.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        done.push(migration.version);
    }
    Ok(done)
}

/// What a migration needs beyond its SQL file, run in its transaction right after the file.
async fn after_file(transaction: &Transaction<'_>, version: i64) -> anyhow::Result<()> {
    match version {
        6 => fill_email_keys(transaction).await,
        _ => Ok(()),
    }
}

/// Version 6: the canonical key of every existing address ([`shared::email`]), computed here because
/// SQL has no full case folding or IDNA. Accounts whose addresses turn out to be one address are
/// never merged silently: the migration stops, changes nothing, and names them.
async fn fill_email_keys(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    let rows = transaction
        .query_typed("select id, email from users order by created_at, id", &[])
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut unparsable = Vec::new();
    for row in &rows {
        let (id, email): (uuid::Uuid, String) = (row.get(0), row.get(1));
        let key = match shared::email::Email::parse(&email, "email") {
            Ok(parsed) => parsed.key().to_owned(),
            // Stored before today's rules (an invisible character, say): keep the account,
            // keyed by its old lower-cased form, and say so.
            Err(_) => {
                unparsable.push(id);
                email.trim().to_lowercase()
            }
        };
        ids.push(id);
        keys.push(key);
    }
    let mut by_key: std::collections::BTreeMap<&str, Vec<uuid::Uuid>> = Default::default();
    for (id, key) in ids.iter().zip(&keys) {
        by_key.entry(key.as_str()).or_default().push(*id);
    }
    let shared: Vec<String> = by_key
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(key, ids)| {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            format!("  {key}: accounts {}", ids.join(", "))
        })
        .collect();
    if !shared.is_empty() {
        bail!(
            "{} addresses are each registered to more than one account once spelling differences \
             (case, Unicode normalization, width, IDNA) are ignored; nothing was changed. Merge or \
             rename those accounts (users.email), then run the migration again:\n{}",
            shared.len(),
            shared.join("\n")
        );
    }
    transaction
        .execute_typed(
            "update users u set email_key = k.key
               from unnest($1::uuid[], $2::text[]) as k(id, key) where u.id = k.id",
            &[(&ids, Type::UUID_ARRAY), (&keys, Type::TEXT_ARRAY)],
        )
        .await?;
    if !unparsable.is_empty() {
        tracing::warn!(
            accounts = ?unparsable,
            "addresses that today's rules refuse were keyed by their lower-cased form; these users cannot sign in until an admin changes their email"
        );
    }
    Ok(())
}

/// Reverts the last `steps` applied migrations, newest first; returns the versions it reverted.
pub async fn down(
    client: &mut Client,
    migrations: &[Migration],
    steps: usize,
) -> anyhow::Result<Vec<i64>> {
    check_history(&applied(client).await?, migrations)?;
    let mut done = Vec::new();
    for _ in 0..steps {
        let transaction = client.transaction().await?;
        lock(&transaction).await?;
        let Some(row) = transaction
            .query_typed_opt(
                "select max(version) from schema_migrations having count(*) > 0",
                &[],
            )
            .await?
        else {
            break;
        };
        let version: i64 = row.get(0);
        let migration = migrations
            .iter()
            .find(|m| m.version == version)
            .with_context(|| format!("no file for applied migration {version}"))?;
        transaction
            .batch_execute(migration.down)
            .await
            .with_context(|| format!("reverting {:04}_{}", migration.version, migration.name))?;
        transaction
            .execute_typed(
                "delete from schema_migrations where version = $1",
                &[(&version, Type::INT8)],
            )
            .await?;
        transaction.commit().await?;
        tracing::info!(version, name = migration.name, "reverted migration");
        done.push(version);
    }
    Ok(done)
}

/// Every migration (files and database records) with its state, in version order.
pub async fn status(
    client: &mut Client,
    migrations: &[Migration],
) -> anyhow::Result<Vec<(i64, String, State)>> {
    let applied = applied(client).await?;
    let mut lines: Vec<(i64, String, State)> = migrations
        .iter()
        .map(|migration| {
            let state = match applied.iter().find(|a| a.version == migration.version) {
                Some(record) if record.checksum != migration.checksum() => State::Edited,
                Some(_) => State::Applied,
                None => State::Pending,
            };
            (migration.version, migration.name.to_owned(), state)
        })
        .collect();
    for record in &applied {
        if !migrations.iter().any(|m| m.version == record.version) {
            lines.push((record.version, record.name.clone(), State::Missing));
        }
    }
    lines.sort_by_key(|(version, _, _)| *version);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_migrations_are_those_after_the_newest_applied() {
        assert_eq!(VERSIONS.len(), MIGRATIONS.len());
        assert_eq!(pending_after(None), VERSIONS);
        let newest = MIGRATIONS.last().unwrap().version;
        assert!(pending_after(Some(newest)).is_empty());
        assert!(
            pending_after(Some(newest + 1)).is_empty(),
            "a database ahead is not behind"
        );
        let lacking = pending_after(Some(newest - 1));
        assert_eq!(lacking, &[(newest, MIGRATIONS.last().unwrap().name)]);
    }

    #[test]
    fn embedded_migrations_are_ordered_and_unique() {
        assert!(!MIGRATIONS.is_empty());
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
        assert!(MIGRATIONS
            .iter()
            .all(|m| !m.up.trim().is_empty() && !m.down.trim().is_empty()));
    }

    #[test]
    fn checksum_is_sha256_hex() {
        let migration = Migration {
            version: 1,
            name: "x",
            up: "abc",
            down: "",
        };
        assert_eq!(
            migration.checksum(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn replace_database_keeps_credentials_and_query() {
        assert_eq!(
            replace_database("postgres://u:p@h:5432/app?sslmode=require", "postgres"),
            "postgres://u:p@h:5432/postgres?sslmode=require"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn edited_migration_is_refused() {
        let migrations = [Migration {
            version: 1,
            name: "a",
            up: "select 1",
            down: "select 1",
        }];
        let applied = [Applied {
            version: 1,
            name: "a".into(),
            checksum: "0".repeat(64),
        }];
        let error = check_history(&applied, &migrations).unwrap_err();
        assert!(error.to_string().contains("was edited"), "{error}");
    }

    #[test]
    fn vanished_migration_is_refused() {
        let applied = [Applied {
            version: 9,
            name: "gone".into(),
            checksum: "0".repeat(64),
        }];
        let error = check_history(&applied, &[]).unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
