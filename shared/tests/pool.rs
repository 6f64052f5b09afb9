//! The pool against a real PostgreSQL: dead connections are replaced without a failed request,
//! an unreachable server is a quick `Unavailable`, and statements work without named prepares.

use std::time::{Duration, Instant};

use shared::db::DbError;
use test_support::{TcpProxy, TestDb};
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
        .query_one("select pg_backend_pid()", &[])
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
