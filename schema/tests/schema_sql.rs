//! `schema/schema.sql` is the database as the migrations leave it: a migration that changes the
//! schema changes that file too (`cargo xtask schema`), so a reader never pieces it together.

use test_support::TestDb;

#[tokio::test]
async fn schema_sql_is_the_database_after_the_last_migration() {
    let database = TestDb::new().await;
    let described = schema::describe(&*database.client().await).await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == described,
        "{path} differs from a freshly migrated database: run `cargo xtask schema` and commit it"
    );
}

#[tokio::test]
async fn schema_sql_names_the_rules_in_force() {
    let committed = include_str!("../schema.sql");
    for rule in [
        "create view live_sessions",
        "end_user_credentials(",
        "create table tasks",
    ] {
        assert!(committed.contains(rule), "schema.sql lacks {rule:?}");
    }
}
