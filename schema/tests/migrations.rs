//! The migration runner against a real PostgreSQL: up, down, status, checksums, concurrent runners.

use schema::{self as migrate, Migration, State, MIGRATIONS};
use test_support::TestDb;

async fn empty_database() -> (TestDb, tokio_postgres::Client) {
    let database = TestDb::new().await;
    // Start from nothing: revert everything the template applied.
    let mut client = migrate::connect(&database.url, false).await.unwrap();
    migrate::down(&mut client, MIGRATIONS, MIGRATIONS.len())
        .await
        .unwrap();
    (database, client)
}

#[tokio::test]
async fn up_applies_everything_then_nothing() {
    let (_database, mut client) = empty_database().await;
    let applied = migrate::up(&mut client, MIGRATIONS).await.unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    assert!(migrate::up(&mut client, MIGRATIONS)
        .await
        .unwrap()
        .is_empty());
    let status = migrate::status(&mut client, MIGRATIONS).await.unwrap();
    assert!(status.iter().all(|(_, _, state)| *state == State::Applied));
}

#[tokio::test]
async fn down_reverts_the_newest_first_and_up_restores() {
    let database = TestDb::new().await;
    let mut client = migrate::connect(&database.url, false).await.unwrap();
    let reverted = migrate::down(&mut client, MIGRATIONS, 2).await.unwrap();
    let newest: Vec<i64> = MIGRATIONS.iter().rev().take(2).map(|m| m.version).collect();
    assert_eq!(reverted, newest);
    let status = migrate::status(&mut client, MIGRATIONS).await.unwrap();
    assert_eq!(
        status
            .iter()
            .filter(|(_, _, s)| *s == State::Pending)
            .count(),
        2
    );
    assert_eq!(migrate::up(&mut client, MIGRATIONS).await.unwrap(), {
        let mut v = newest.clone();
        v.reverse();
        v
    });
}

#[tokio::test]
async fn every_down_migration_leaves_a_clean_schema() {
    let (_database, client) = empty_database().await;
    let tables: i64 = client
        .query_one(
            "select count(*) from information_schema.tables where table_schema = 'public' and table_name <> 'schema_migrations'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn edited_migration_stops_the_runner() {
    let database = TestDb::new().await;
    let mut client = migrate::connect(&database.url, false).await.unwrap();
    let mut edited: Vec<Migration> = MIGRATIONS.to_vec();
    edited[0].up = "create table users (id int); -- edited";
    let error = migrate::up(&mut client, &edited).await.unwrap_err();
    assert!(error.to_string().contains("was edited"), "{error}");
    let status = migrate::status(&mut client, &edited).await.unwrap();
    assert_eq!(status[0].2, State::Edited);
}

#[tokio::test]
async fn failing_migration_is_rolled_back_and_not_recorded() {
    let (_database, mut client) = empty_database().await;
    let broken = [Migration {
        version: 1,
        name: "broken",
        up: "create table half_done (id int); select * from no_such_table;",
        down: "drop table half_done",
    }];
    assert!(migrate::up(&mut client, &broken).await.is_err());
    let exists: bool = client
        .query_one("select to_regclass('half_done') is not null", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "the failed migration's transaction must roll back");
    let status = migrate::status(&mut client, &broken).await.unwrap();
    assert_eq!(status[0].2, State::Pending);
}

#[tokio::test]
async fn concurrent_runners_apply_each_migration_once() {
    let (database, _client) = empty_database().await;
    let runners = (0..4).map(|_| {
        let url = database.url.clone();
        tokio::spawn(async move {
            let mut client = migrate::connect(&url, false).await.unwrap();
            migrate::up(&mut client, MIGRATIONS).await.unwrap()
        })
    });
    let mut applied: Vec<i64> = Vec::new();
    for runner in runners {
        applied.extend(runner.await.unwrap());
    }
    applied.sort();
    let expected: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied, expected,
        "each migration applied by exactly one runner"
    );
}

#[tokio::test]
async fn up_creates_a_missing_database() {
    let database = TestDb::new().await;
    let name = format!("{}_new", database.name);
    let url = migrate::replace_database(&database.url, &name);
    let mut client = migrate::connect(&url, true).await.unwrap();
    assert_eq!(
        migrate::up(&mut client, MIGRATIONS).await.unwrap().len(),
        MIGRATIONS.len()
    );
    drop(client);
    let admin = database.client().await;
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .unwrap();
}

/// A database migrated up to (not including) version 6, with accounts in it.
async fn before_email_keys(emails: &[&str]) -> (TestDb, tokio_postgres::Client) {
    let (database, mut client) = empty_database().await;
    let older: Vec<Migration> = MIGRATIONS
        .iter()
        .copied()
        .filter(|m| m.version < 6)
        .collect();
    migrate::up(&mut client, &older).await.unwrap();
    for email in emails {
        client
            .execute(
                "insert into users (email, password_hash) values ($1, 'x')",
                &[email],
            )
            .await
            .unwrap();
    }
    (database, client)
}

#[tokio::test]
async fn existing_accounts_get_their_canonical_key_computed_in_rust() {
    let (_database, mut client) = before_email_keys(&[
        "Ada@Example.com",
        "ΟΔΟΣ@example.gr",
        "Straße@Bücher.example",
    ])
    .await;
    migrate::up(&mut client, MIGRATIONS).await.unwrap();
    let rows = client
        .query("select email, email_key from users order by email", &[])
        .await
        .unwrap();
    let keys: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        keys,
        [
            ("Ada@Example.com".into(), "ada@example.com".into()),
            (
                "Straße@Bücher.example".into(),
                "strasse@xn--bcher-kva.example".into()
            ),
            ("ΟΔΟΣ@example.gr".into(), "οδοσ@example.gr".into()),
        ]
    );
}

#[tokio::test]
async fn accounts_that_are_one_address_stop_the_migration_and_are_named() {
    let (_database, mut client) =
        before_email_keys(&["strasse@example.de", "STRAẞE@example.de", "ok@example.com"]).await;
    let ids: Vec<String> = client
        .query(
            "select id::text from users where email <> 'ok@example.com'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let error = migrate::up(&mut client, MIGRATIONS).await.unwrap_err();
    let report = format!("{error:#}");
    assert!(report.contains("0006_add_users_email_key"), "{report}");
    assert!(report.contains("strasse@example.de"), "{report}");
    for id in &ids {
        assert!(report.contains(id.as_str()), "{report} lacks {id}");
    }
    // Nothing changed: version 6 is not applied and both accounts are still there.
    let status = migrate::status(&mut client, MIGRATIONS).await.unwrap();
    assert!(status
        .iter()
        .any(|(version, _, state)| *version == 6 && *state == State::Pending));
    let users: i64 = client
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 3);
}
