//! The `migrate` command as a user runs it: `up` creates and migrates a database, `status` lists,
//! `down N` reverts, a wrong argument prints the usage.

use std::process::Command;

use test_support::TestDb;

fn migrate(url: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .current_dir(std::env::temp_dir()) // no .env there
        .output()
        .expect("the migrate command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn up_status_down_from_the_command_line() {
    let database = TestDb::new().await;
    let name = format!("{}_cli", database.name);
    let url = format!(
        "{}?sslmode=disable",
        schema::replace_database(&database.url, &name)
    );

    // Every migration there is, whatever their numbers (they need not be contiguous).
    let versions: Vec<String> = schema::MIGRATIONS
        .iter()
        .map(|m| format!("{:04}", m.version))
        .collect();
    let (ok, out) = migrate(&url, &["up"]);
    assert!(ok, "{out}");
    let applied = format!(
        "applied {} migration(s): {}",
        versions.len(),
        versions.join(", ")
    );
    assert!(out.contains(&applied), "{out}");
    let (ok, out) = migrate(&url, &["up"]);
    assert!(ok && out.contains("applied 0 migration(s)"), "{out}");

    let (ok, out) = migrate(&url, &["down", "2"]);
    let last_two = format!(
        "reverted 2 migration(s): {}, {}",
        versions[versions.len() - 1],
        versions[versions.len() - 2]
    );
    assert!(ok && out.contains(&last_two), "{out}");
    let (ok, out) = migrate(&url, &["status"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("applied").count(), versions.len() - 2, "{out}");
    assert_eq!(out.matches("pending").count(), 2, "{out}");

    let (ok, out) = migrate(&url, &["sideways"]);
    assert!(
        !ok && out.contains("usage: migrate up | down [N] | status"),
        "{out}"
    );
    let (ok, out) = migrate(&url, &["down", "many"]);
    assert!(!ok && out.contains("N must be a number"), "{out}");

    let admin = database.client().await;
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .unwrap();
}

#[test]
fn a_wrong_password_in_the_url_is_reported_without_the_password() {
    let (ok, out) = migrate(
        "postgres://postgres:hunter2-secret@127.0.0.1:1/x?sslmode=disable",
        &["status"],
    );
    assert!(!ok);
    assert!(!out.contains("hunter2-secret"), "{out}");
}
