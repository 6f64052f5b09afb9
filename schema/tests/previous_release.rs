//! The previous release keeps working on the schema after this checkout's migrations (expand,
//! then contract: docs/deployment.md): its writes, kept in `previous_release.sql`, run on a
//! freshly migrated database and must all succeed, and must each have written their row.

use test_support::TestDb;

#[tokio::test]
async fn the_previous_releases_writes_work_after_the_new_migrations() {
    let database = TestDb::new().await;
    let client = database.client().await;
    let statements = include_str!("previous_release.sql");
    client.batch_execute("begin").await.unwrap();
    if let Err(error) = client.batch_execute(statements).await {
        panic!(
            "a statement of the previous release fails on the new schema: {}\n\
             A migration must keep them working until the release after (see \
             docs/deployment.md, \"Expand, then contract\")",
            error
                .as_db_error()
                .map_or_else(|| error.to_string(), |db| db.message().to_owned())
        );
    }
    // Each statement did its work, not merely parsed.
    let row = client
        .query_one(
            "select (select count(*) from users), (select count(*) from email_verification_tokens),
                    (select count(*) from sessions), (select count(*) from refresh_tokens),
                    (select count(*) from tasks),
                    (select count(*) from idempotency_keys where status = 201)",
            &[],
        )
        .await
        .unwrap();
    for index in 0..row.len() {
        assert_eq!(row.get::<_, i64>(index), 1, "column {index} of {row:?}");
    }
    client.batch_execute("rollback").await.unwrap();
}
