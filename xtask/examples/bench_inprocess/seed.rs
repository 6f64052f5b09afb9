//! The database every measurement starts from: a fresh one with two accounts, their tasks and
//! other users' tasks, and the routers of the three functions on it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use shared::config::{DatabaseConfig, JwtConfig, Source};
use shared::db::Db;
use shared::secrecy::SecretString;
use test_support::TestDb;

use crate::bench::{Account, Bench, Routers};
use crate::keys::{KeyPair, Kind};

/// JWT_SECRET: the key the functions sign and check tokens with here (`--tokens hs256`).
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";

/// The issuer (and audience) of the Better Auth tokens of `--tokens es256`.
const BETTER_AUTH_ISSUER: &str = "https://auth.bench.example";

/// The tokens the bench's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Ours, signed with Ed25519: what the template deploys (`JwtAlgorithm=EdDSA`).
    EdDSA,
    /// Ours, signed with `JWT_SECRET`.
    HS256,
    /// A Better Auth JWT plugin token signed with a P-256 key of its JWKS (given as
    /// `BETTER_AUTH_JWKS`); our own tokens stay EdDSA.
    ES256,
}

/// Other accounts and their tasks, present before anything is measured.
const BACKGROUND_USERS: u32 = 1000;
const BACKGROUND_TASKS_EACH: u32 = 100;

/// What the routers are built from: one pool per function on the database `url`.
#[derive(Clone)]
pub struct Configs {
    jwt: JwtConfig,
    settings: auth::AuthSettings,
    statement_cache: bool,
    better_auth: Option<tasks::better_auth::config::BetterAuthJwksConfig>,
}

impl Configs {
    fn database(&self, url: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: SecretString::from(format!(
                "{}?sslmode=disable",
                url.split('?').next().unwrap_or(url)
            )),
            // As many connections as concurrent calls (each Lambda instance has its own 2).
            pool_max_size: 4,
            connect_timeout: Duration::from_secs(2),
            pool_wait_timeout: Duration::from_millis(1500),
            query_timeout: Duration::from_secs(4),
            statement_cache: self.statement_cache,
        }
    }

    pub async fn routers(&self, url: String) -> Routers {
        let pool = || Db::connect_lazy(&self.database(&url)).expect("a pool");
        let (health_db, auth_db, tasks_db) = (pool(), pool(), pool());
        for db in [&health_db, &auth_db, &tasks_db] {
            db.warm_up().await;
        }
        Routers {
            health: health::app(health::HealthState::new(health_db)),
            auth: auth::app(auth::AuthState::new(
                auth_db,
                &self.jwt,
                self.settings.clone(),
            )),
            tasks: tasks::app(
                tasks::TasksState::new(tasks_db, &self.jwt, self.better_auth.as_ref())
                    .expect("tasks state"),
            ),
        }
    }
}

/// A fresh database with the accounts and tasks every measurement starts from, and the bench on it.
pub struct Seeded {
    pub database: TestDb,
    pub sql: Arc<tokio_postgres::Client>,
    pub bench: Arc<Bench>,
    pub configs: Configs,
}

/// A fresh database and the bench on it, its requests carrying tokens of `kind`; each account also
/// gets `fresh` tokens never sent yet (each of its own live session, or, for Better Auth, its own
/// signature), for measuring the first request of a token.
pub async fn seed(statement_cache: bool, kind: TokenKind, fresh: usize) -> Result<Seeded, String> {
    let database = TestDb::new().await;
    let mut vars: HashMap<String, String> = match kind {
        TokenKind::HS256 => HashMap::from([("JWT_SECRET".into(), SECRET.into())]),
        TokenKind::EdDSA | TokenKind::ES256 => shared::token::ring::KeyRing::generate()
            .signer_vars()
            .into_iter()
            .collect(),
    };
    let better_auth_key = (kind == TokenKind::ES256).then(|| KeyPair::new(Kind::ES256));
    if let Some(key) = &better_auth_key {
        vars.insert(
            "BETTER_AUTH_JWKS".into(),
            json!({"keys": [key.jwk()]}).to_string(),
        );
        vars.insert("BETTER_AUTH_ISSUER".into(), BETTER_AUTH_ISSUER.into());
    }
    let source = Source::new(&vars);
    let configs = Configs {
        jwt: JwtConfig::from_source(&source).map_err(|e| e.to_string())?,
        settings: auth::AuthSettings::from_source(&vars).map_err(|e| e.to_string())?,
        statement_cache,
        better_auth: tasks::better_auth::config::BetterAuthJwksConfig::from_source(&source)
            .map_err(|e| e.to_string())?,
    };

    // Two accounts with live sessions, made in SQL (no password hashing before the RSS reading).
    let sql = database.client().await;
    let keys = shared::token::TokenKeys::new(&configs.jwt);
    let tag = format!("{:x}", std::process::id());
    let mut accounts = Vec::new();
    for who in ["reader", "writer"] {
        let row = sql
            .query_one(
                "with u as (insert into users (email, email_key, password_hash) values ($1, lower($1), 'unused') returning id)
                 insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u
                 returning user_id::text, id",
                &[&format!("{who}-{tag}@bench.example")],
            )
            .await
            .map_err(|e| e.to_string())?;
        let id: String = row.get(0);
        let token = keys
            .issue(&id, row.get(1), "user")
            .map_err(|e| e.to_string())?;
        let account = match &better_auth_key {
            None => {
                let account = Account::new(id.clone(), token);
                let sessions = sql
                    .query(
                        "insert into sessions (user_id, expires_at)
                         select $1::text::uuid, now() + interval '1 day' from generate_series(1, $2::int)
                         returning id",
                        &[&id, &(fresh as i32)],
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let mut pool = account.fresh.lock().expect("lock");
                for session in sessions {
                    pool.push(
                        keys.issue(&id, session.get(0), "user")
                            .map_err(|e| e.to_string())?,
                    );
                }
                drop(pool);
                account
            }
            Some(key) => {
                // Better Auth's claims (its JWT plugin's defaults: the user's fields beside sub).
                let subject = format!("ba-{who}-{tag}");
                let now = shared::token::unix_now();
                let claims = json!({"sub": subject, "iat": now, "exp": now + 900,
                    "iss": BETTER_AUTH_ISSUER, "aud": BETTER_AUTH_ISSUER,
                    "email": format!("{who}@bench.example"), "name": who, "emailVerified": false});
                // ECDSA signatures are randomized: every signing is another token.
                let account = Account::new(subject, key.sign(&key.header(), &claims));
                account
                    .fresh
                    .lock()
                    .expect("lock")
                    .extend((0..fresh).map(|_| key.sign(&key.header(), &claims)));
                account
            }
        };
        accounts.push(account);
    }
    let writer = accounts.pop().expect("writer");
    let reader = accounts.pop().expect("reader");
    let issuer = match kind {
        TokenKind::ES256 => BETTER_AUTH_ISSUER.to_owned(),
        _ => String::new(),
    };
    let reader_tasks: Vec<i64> = sql
        .query(
            "insert into tasks (issuer, user_id, owner_id, title, description)
             select $2, $1, case when $2 = '' then $1::text::uuid end, 'Task ' || g, 'Description of task ' || g
               from generate_series(1, 100) g
             returning id",
            &[&reader.id, &issuer],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|row| row.get(0))
        .collect();

    // Other users' tasks, so that the planner sees a database in service: many owners, none of
    // whom is most of the table. With only the reader's 100 rows analyzed, the statistics say every
    // task is the reader's, and the tasks the writer adds later look like nobody's: the planner then
    // scans the whole table to list the reader's tasks, and walks all of the writer's index entries
    // to delete one task by id (3-4 ms instead of 0.1; seen in perf as seq-scan and texteq time).
    sql.batch_execute(&format!(
        "with owners as (
            insert into users (email, email_key, password_hash)
            select 'other' || g || '-{tag}@bench.example', 'other' || g || '-{tag}@bench.example', 'unused'
              from generate_series(1, {BACKGROUND_USERS}) g
            returning id
         )
         insert into tasks (issuer, user_id, owner_id, title, description)
         select '', owners.id::text, owners.id, 'Task ' || g, 'Description of task ' || g
           from owners, generate_series(1, {BACKGROUND_TASKS_EACH}) g"
    ))
    .await
    .map_err(|e| e.to_string())?;

    // Statistics and no dead rows, as a database in service has (a fresh one has neither).
    vacuum(&sql).await?;

    let bench = Arc::new(Bench {
        routers: configs.routers(database.url.clone()).await,
        reader,
        reader_tasks,
        writer,
        deletable: Mutex::new(Vec::new()),
        login_email: Mutex::new(None),
        sequence: AtomicU64::new(0),
        tag,
        issuer,
    });
    Ok(Seeded {
        database,
        sql,
        bench,
        configs,
    })
}

/// What autovacuum would have done by now on a database in service.
pub async fn vacuum(sql: &tokio_postgres::Client) -> Result<(), String> {
    sql.batch_execute("vacuum (analyze) users, sessions, tasks, login_throttle")
        .await
        .map_err(|e| e.to_string())
}

/// `count` new tasks of the writer's for the delete operation; their ids in insertion order.
pub async fn add_deletable(
    sql: &tokio_postgres::Client,
    bench: &Bench,
    count: u64,
) -> Result<Vec<i64>, String> {
    let ids: Vec<i64> = sql
        .query(
            &format!(
                "insert into tasks (issuer, user_id, owner_id, title)
                 select $2, $1, case when $2 = '' then $1::text::uuid end, 'To delete ' || g
                   from generate_series(1, {count}) g returning id"
            ),
            &[&bench.writer.id, &bench.issuer],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|row| row.get(0))
        .collect();
    bench
        .deletable
        .lock()
        .expect("lock")
        .extend(ids.iter().rev());
    Ok(ids)
}
