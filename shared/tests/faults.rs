//! Database faults: an exhausted pool answers Unavailable (503) after the wait timeout instead of
//! hanging, and building a function while the database is down still succeeds.

use std::time::{Duration, Instant};

use shared::db::{Db, DbError};
use test_support::TestDb;

#[tokio::test]
async fn exhausted_pool_is_unavailable_after_the_wait_timeout_never_a_hang() {
    let database = TestDb::new().await;
    let mut config = database.config();
    config.pool_max_size = 1;
    config.pool_wait_timeout = Duration::from_millis(300);
    let db = Db::connect_lazy(&config).unwrap();
    let held = db.client().await.unwrap();
    let started = Instant::now();
    let error = db.ping().await.unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    db.ping()
        .await
        .expect("the pool serves again once the connection is back");
}

#[tokio::test]
async fn init_with_the_database_down_still_succeeds() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let database = TestDb::new().await;
    let mut config = database.config();
    config.url = format!("postgres://postgres@127.0.0.1:{closed}/db?sslmode=disable").into();
    let vars = std::collections::HashMap::new();
    let started = Instant::now();
    let db = shared::lambda::database(&config, &vars)
        .await
        .expect("init never fails on the database");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(db.ping().await, Err(DbError::Unavailable(_))));
}
