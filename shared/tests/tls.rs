//! TLS to PostgreSQL with `sslmode=require`: the certificate chain and host name are verified.
//! Needs a server with a test CA, which scripts/test.sh starts; ignored by a plain `cargo test`.

use shared::db::{Db, DbError};

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by scripts/test.sh"))
}

fn db(host: &str, ca: &str) -> Db {
    let port = setting("TLS_TEST_PORT");
    let url =
        format!("postgres://postgres@{host}:{port}/postgres?sslmode=require&sslrootcert={ca}");
    let mut config = shared::config::DatabaseConfig::from_source(&shared::config::Source::new(
        &[("DATABASE_URL".to_owned(), url)].into(),
    ))
    .unwrap();
    config.connect_timeout = std::time::Duration::from_secs(3);
    Db::connect_lazy(&config).unwrap()
}

#[tokio::test]
#[ignore = "needs the TLS server scripts/test.sh starts"]
async fn require_connects_to_a_server_whose_certificate_chains_to_the_given_ca() {
    let db = db("localhost", &setting("TLS_TEST_CA"));
    let row = db
        .query_one(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the connection is encrypted");
}

#[tokio::test]
#[ignore = "needs the TLS server scripts/test.sh starts"]
async fn a_certificate_from_another_ca_is_refused() {
    let error = db("localhost", &setting("TLS_TEST_OTHER_CA"))
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(
        format!("{:#}", anyhow::Error::new(error)).contains("certificate"),
        "refused for its certificate"
    );
}

#[tokio::test]
#[ignore = "needs the TLS server scripts/test.sh starts"]
async fn a_certificate_for_another_host_name_is_refused() {
    // The server's certificate names `localhost` only.
    let error = db("127.0.0.1", &setting("TLS_TEST_CA"))
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(
        format!("{:#}", anyhow::Error::new(error)).contains("certificate"),
        "refused for its certificate"
    );
}
