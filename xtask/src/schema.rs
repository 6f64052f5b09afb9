//! `cargo xtask schema [--check]`: `schema/schema.sql`, the database after the last migration,
//! described from a freshly migrated scratch database ([`schema::describe`]).

use crate::codegen::{workspace_path, Artifact};

/// The description of a freshly migrated database on `server` (default: the test server).
pub async fn render(server: Option<&str>) -> anyhow::Result<String> {
    if let Some(server) = server {
        // Read by the test harness below; set before any thread reads the environment.
        std::env::set_var("TEST_DATABASE_URL", server);
    }
    let database = test_support::TestDb::new().await;
    let text = schema::describe(&*database.client().await).await?;
    Ok(text)
}

/// The committed file and what the database says it holds.
pub fn artifact(contents: String) -> Artifact {
    Artifact {
        path: workspace_path("schema/schema.sql"),
        contents,
        command: "cargo xtask schema",
    }
}
