//! The `migrate` command as a user runs it: `up` creates and migrates a database, `status` lists,
//! `down N` reverts, a wrong argument prints the usage.

use std::process::Command;

use shared::testing::TestDb;

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
        shared::migrate::replace_database(&database.url, &name)
    );

    let (ok, out) = migrate(&url, &["up"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "applied 9 migration(s): 0001, 0002, 0003, 0004, 0005, 0006, 0007, 0009, 0010"
        ),
        "{out}"
    );
    let (ok, out) = migrate(&url, &["up"]);
    assert!(ok && out.contains("applied 0 migration(s)"), "{out}");

    let (ok, out) = migrate(&url, &["down", "2"]);
    assert!(
        ok && out.contains("reverted 2 migration(s): 0010, 0009"),
        "{out}"
    );
    let (ok, out) = migrate(&url, &["status"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("applied").count(), 7, "{out}");
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
