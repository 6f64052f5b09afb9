//! The pool against a real PostgreSQL: dead connections are replaced without a failed request,
//! an unreachable server is a quick `Unavailable`, and statements work without named prepares.

use std::time::{Duration, Instant};

use shared::db::DbError;
use test_support::{Fault, TcpProxy, TestDb};
use tokio_postgres::types::Type;

#[tokio::test]
async fn connection_killed_by_the_server_is_replaced_without_failing_the_request() {
    let database = TestDb::new().await;
    let mut config = database.config();
    config.pool_max_size = 1;
    let db = shared::db::Db::connect_lazy(&config).unwrap();
    let pid: i32 = db
        .query_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let admin = database.client().await;
    let killed: bool = admin
        .query_one("select pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);

    let new_pid: i32 = db
        .read_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(pid, new_pid, "the dead connection must have been replaced");
}

#[tokio::test]
async fn connection_cut_while_idle_is_replaced() {
    let database = TestDb::new().await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let mut config = database.config();
    config.url = proxy
        .url_for(secrecy::ExposeSecret::expose_secret(&config.url))
        .into();
    config.pool_max_size = 1;
    let db = shared::db::Db::connect_lazy(&config).unwrap();
    db.ping().await.unwrap();

    // The proxy cuts the open connection but accepts the next one: what a pooler or Neon does.
    proxy.take_down();
    proxy.bring_back();
    tokio::time::sleep(Duration::from_millis(50)).await;

    db.ping()
        .await
        .expect("the request after the cut must succeed");
}

#[tokio::test]
async fn unreachable_server_is_unavailable_quickly() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let database = TestDb::new().await;
    let mut config = database.config();
    config.url = format!("postgres://postgres@127.0.0.1:{closed_port}/x?sslmode=disable").into();
    let db = shared::db::Db::connect_lazy(&config).unwrap();

    let started = Instant::now();
    let error = db.ping().await.unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn statements_leave_no_named_prepared_statement_behind() {
    let database = TestDb::new().await;
    // The default, whatever TEST_STATEMENT_CACHE says.
    let mut config = database.config();
    config.statement_cache = false;
    let db = shared::db::Db::connect_lazy(&config).unwrap();
    let name = "it's \"quoted\"; drop table users; --".to_owned();
    let row = db
        .query_one(
            "select $1::text as echoed, count(*) from pg_prepared_statements",
            &[(&name, Type::TEXT)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), name);
    let prepared: i64 = db
        .query_one("select count(*) from pg_prepared_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        prepared, 0,
        "query_typed must use the unnamed statement only"
    );
}

#[tokio::test]
async fn the_statement_cache_prepares_once_per_connection_and_survives_a_schema_change() {
    let database = TestDb::new().await;
    let mut config = database.config();
    config.pool_max_size = 1;
    config.statement_cache = true;
    let db = shared::db::Db::connect_lazy(&config).unwrap();
    let admin = database.client().await;
    admin
        .batch_execute("create table cached (a int); insert into cached values (1)")
        .await
        .unwrap();

    let select = "select * from cached where a = $1";
    for _ in 0..3 {
        let row = db.query_one(select, &[(&1i32, Type::INT4)]).await.unwrap();
        assert_eq!(row.len(), 1);
        assert_eq!(row.get::<_, i32>(0), 1);
    }
    let prepared: Vec<String> = db
        .query(
            "select statement from pg_prepared_statements where from_sql = false",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        prepared.iter().filter(|s| *s == select).count(),
        1,
        "prepared once, reused: {prepared:?}"
    );

    // A migration adds a column: the cached statement's result type changed (the server says
    // "cached plan must not change result type"); it is prepared again, and the caller never knows.
    admin
        .batch_execute("alter table cached add column b text default 'new'")
        .await
        .unwrap();
    let row = db.query_one(select, &[(&1i32, Type::INT4)]).await.unwrap();
    assert_eq!(row.len(), 2);
    assert_eq!(row.get::<_, String>(1), "new");
}

#[tokio::test]
async fn unique_violation_is_recognised_by_constraint() {
    let database = TestDb::new().await;
    let db = database.pool();
    let insert = "insert into users (email, email_key, password_hash) values ($1, $2, 'x')";
    db.execute(
        insert,
        &[
            (&"A@example.com", Type::TEXT),
            (&"a@example.com", Type::TEXT),
        ],
    )
    .await
    .unwrap();
    let error = db
        .execute(
            insert,
            &[
                (&"a@EXAMPLE.com", Type::TEXT),
                (&"a@example.com", Type::TEXT),
            ],
        )
        .await
        .unwrap_err();
    assert!(error.is_unique_violation("users_email_key"), "{error:?}");
}

#[tokio::test]
async fn statement_errors_are_not_retried_or_reported_as_unavailable() {
    let database = TestDb::new().await;
    let db = database.pool();
    let error = db
        .query("select * from no_such_table", &[])
        .await
        .unwrap_err();
    assert!(matches!(error, DbError::Query(_)), "{error:?}");
}

/// A pool of one connection through `proxy`, with a 1 s query limit.
fn db_through(database: &TestDb, proxy: &TcpProxy) -> shared::db::Db {
    let mut config = database.config();
    config.url = proxy
        .url_for(secrecy::ExposeSecret::expose_secret(&config.url))
        .into();
    config.pool_max_size = 1;
    config.query_timeout = Duration::from_secs(1);
    shared::db::Db::connect_lazy(&config).unwrap()
}

async fn rows_of(database: &TestDb, table: &str) -> i64 {
    database
        .client()
        .await
        .query_one(&format!("select count(*) from {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_503_and_never_sent_twice() {
    let database = TestDb::new().await;
    database
        .client()
        .await
        .batch_execute("create table writes (n int)")
        .await
        .unwrap();
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let db = db_through(&database, &proxy);
    db.ping().await.unwrap();

    // The insert commits, its answer is lost: the pool used to send it again on a fresh
    // connection (two rows, one 201).
    proxy.arm(Fault::AnswerLost("insert into writes"));
    let error = db
        .execute("insert into writes values (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(proxy.fired(), 1);
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert_eq!(rows_of(&database, "writes").await, 1, "sent once, ran once");

    // Cut while running, or before it went: a 503 as well, and never a second row.
    proxy.arm(Fault::WhileRunning("insert into writes"));
    let error = db.execute("insert into writes values (2)", &[]).await;
    assert!(matches!(error, Err(DbError::Unavailable(_))), "{error:?}");
    proxy.arm(Fault::BeforeSending("insert into writes"));
    let error = db.execute("insert into writes values (3)", &[]).await;
    assert!(matches!(error, Err(DbError::Unavailable(_))), "{error:?}");
    assert_eq!(proxy.fired(), 3);
    let rows = rows_of(&database, "writes").await;
    assert!((1..=2).contains(&rows), "{rows} rows");
}

#[tokio::test]
async fn a_read_whose_answer_was_lost_is_sent_again() {
    let database = TestDb::new().await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let db = db_through(&database, &proxy);
    db.ping().await.unwrap();
    proxy.arm(Fault::AnswerLost("select 41 + 1"));
    let row = db.read_one("select 41 + 1", &[]).await.unwrap();
    assert_eq!(proxy.fired(), 1);
    assert_eq!(row.get::<_, i32>(0), 42);
}

#[tokio::test]
async fn a_write_on_a_connection_closed_before_it_was_sent_runs_once_on_a_fresh_one() {
    let database = TestDb::new().await;
    database
        .client()
        .await
        .batch_execute("create table writes (n int)")
        .await
        .unwrap();
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let db = db_through(&database, &proxy);
    db.ping().await.unwrap();
    proxy.take_down();
    proxy.bring_back();
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.execute("insert into writes values (1)", &[])
        .await
        .expect("a connection known dead before sending is replaced");
    assert_eq!(rows_of(&database, "writes").await, 1);
}

#[tokio::test]
async fn a_statement_over_its_time_limit_is_cancelled_at_the_server() {
    let database = TestDb::new().await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let db = db_through(&database, &proxy);
    let started = Instant::now();
    let error = db
        .query("select pg_sleep(30), 'cancel-me'", &[])
        .await
        .unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Without the cancel request the server sleeps on for 30 s: it does not notice a client
    // that left until it writes to it.
    let admin = database.client().await;
    let mut running = 1;
    for _ in 0..20 {
        running = admin
            .query_one(
                "select count(*) from pg_stat_activity
                  where state = 'active' and query like '%''cancel-me''%' and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running, 0, "the statement still runs at the server");
}

#[tokio::test]
async fn a_transaction_cut_before_its_commit_leaves_nothing() {
    let database = TestDb::new().await;
    database
        .client()
        .await
        .batch_execute("create table writes (n int)")
        .await
        .unwrap();
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let db = db_through(&database, &proxy);
    for (index, fault) in [
        Fault::BeforeSending("commit"),
        Fault::WhileRunning("insert into writes"),
        Fault::Blackhole("insert into writes"),
    ]
    .into_iter()
    .enumerate()
    {
        let transaction = db.begin().await.unwrap();
        proxy.arm(fault);
        let inserted =
            shared::db::Queries::execute(&transaction, "insert into writes values (1)", &[]).await;
        let outcome = match inserted {
            Ok(_) => transaction.commit().await,
            Err(error) => Err(error),
        };
        assert!(
            matches!(outcome, Err(DbError::Unavailable(_))),
            "{fault:?}: {outcome:?}"
        );
        assert_eq!(proxy.fired(), index + 1, "{fault:?}");
        // The server rolls back once it sees the client gone.
        let mut rows = 1;
        for _ in 0..20 {
            rows = rows_of(&database, "writes").await;
            if rows == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(rows, 0, "{fault:?}");
    }
}
