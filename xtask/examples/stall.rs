//! PgBouncer's queue during a database stall: `STALL_CLIENTS` execution environments (each its own
//! pool of one connection, the functions' time limits) insert in a loop through PgBouncer while a
//! lock stalls the table for `STALL_SECS`; every second prints PgBouncer's `SHOW POOLS`
//! (`cl_waiting`, `maxwait`, `sv_active`) and the statements still running at the server.
//! `STALL_MODE=cancel` uses the pool (`shared::db::Db`: cancel request, then close, at the limit);
//! `STALL_MODE=drop` only closes the connection at the limit, as the pool did before issue 27.
//! Run by `scripts/measure-stall.sh`, which starts its own PgBouncer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{NoTls, SimpleQueryMessage};

const CONNECT: Duration = Duration::from_secs(2);
const QUERY: Duration = Duration::from_secs(4);
const INSERT: &str = "insert into stall_t values (1)";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// One environment as the pool was before: at the limit the connection is closed, nothing more.
async fn dropping_worker(
    url: String,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok((client, connection))) =
            tokio::time::timeout(CONNECT, tokio_postgres::connect(&url, NoTls)).await
        else {
            failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let task = tokio::spawn(connection);
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(QUERY, client.execute_typed(INSERT, &[])).await {
                Ok(Ok(_)) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        // What deadpool's `Object::take` + drop did: abort the connection task, closing the socket.
        task.abort();
    }
}

async fn pool_worker(
    url: String,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    let config = shared::config::DatabaseConfig {
        url: url.into(),
        pool_max_size: 1,
        connect_timeout: CONNECT,
        pool_wait_timeout: Duration::from_millis(1500),
        query_timeout: QUERY,
        statement_cache: false,
    };
    let db = shared::db::Db::connect_lazy(&config).expect("pool");
    while !stop.load(Ordering::Relaxed) {
        match db.execute(INSERT, &[]).await {
            Ok(_) => {
                ok.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// (cl_waiting, maxwait seconds, sv_active) of the measured database's pool.
async fn show_pools(admin: &tokio_postgres::Client, database: &str) -> (u64, u64, u64) {
    let messages = admin.simple_query("SHOW POOLS").await.expect("SHOW POOLS");
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            if row.get("database") == Some(database) {
                let number = |name: &str| row.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
                return (number("cl_waiting"), number("maxwait"), number("sv_active"));
            }
        }
    }
    (0, 0, 0)
}

#[tokio::main]
async fn main() {
    let pooler = var("STALL_POOLER_URL");
    let admin_url = var("STALL_ADMIN_URL");
    let direct = var("STALL_DIRECT_URL");
    let database = var("STALL_DATABASE");
    let mode = var("STALL_MODE");
    let clients: usize = var("STALL_CLIENTS").parse().expect("STALL_CLIENTS");
    let stall_secs: u64 = var("STALL_SECS").parse().expect("STALL_SECS");

    let setup = connect(&direct).await;
    setup
        .batch_execute("drop table if exists stall_t; create table stall_t (n int)")
        .await
        .unwrap();
    let admin = connect(&admin_url).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    for _ in 0..clients {
        let (url, stop, ok, failed) = (pooler.clone(), stop.clone(), ok.clone(), failed.clone());
        match mode.as_str() {
            "drop" => tokio::spawn(dropping_worker(url, stop, ok, failed)),
            "cancel" => tokio::spawn(pool_worker(url, stop, ok, failed)),
            other => panic!("STALL_MODE {other}: drop or cancel"),
        };
    }

    let started = Instant::now();
    let warm = Duration::from_secs(5);
    let stall = Duration::from_secs(stall_secs);
    let recovery = Duration::from_secs(10);
    let locker = {
        let direct = direct.clone();
        tokio::spawn(async move {
            tokio::time::sleep(warm).await;
            let client = connect(&direct).await;
            client
                .batch_execute("begin; lock table stall_t in access exclusive mode")
                .await
                .unwrap();
            tokio::time::sleep(stall).await;
            client.batch_execute("commit").await.unwrap();
        })
    };
    let (mut peak_waiting, mut peak_maxwait, mut peak_server) = (0, 0, 0);
    println!("t_s\tphase\tcl_waiting\tmaxwait_s\tsv_active\tstatements_at_server\tok\tfailed");
    while started.elapsed() < warm + stall + recovery {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = started.elapsed();
        let (waiting, maxwait, sv_active) = show_pools(&admin, &database).await;
        let at_server: i64 = setup
            .query_one(
                "select count(*) from pg_stat_activity where datname = $1 and query like 'insert into stall_t%' and state = 'active'",
                &[&database],
            )
            .await
            .unwrap()
            .get(0);
        let phase = if t < warm {
            "before"
        } else if t < warm + stall {
            peak_waiting = peak_waiting.max(waiting);
            peak_maxwait = peak_maxwait.max(maxwait);
            peak_server = peak_server.max(at_server);
            "stall"
        } else {
            "after"
        };
        println!(
            "{}\t{phase}\t{waiting}\t{maxwait}\t{sv_active}\t{at_server}\t{}\t{}",
            t.as_secs(),
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    locker.await.unwrap();
    println!(
        "mode={mode} clients={clients} stall={stall_secs}s: peak cl_waiting {peak_waiting}, peak maxwait {peak_maxwait} s, peak statements at the server {peak_server}"
    );
    std::process::exit(0);
}
