//! `migrate up | down [N] | status` against `DATABASE_URL` (or `DATABASE_DIRECT_URL`, which wins:
//! with Neon, migrations should use the direct endpoint rather than the `-pooler` one).

use std::process::ExitCode;

use schema::{self as migrate, State, MIGRATIONS};
use secrecy::ExposeSecret;
use shared::config::{self, DatabaseConfig, Source};

const USAGE: &str = "usage: migrate up | down [N] | status";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    shared::telemetry::init();
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("migrate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let vars = config::load_environment().await?;
    let mut source_vars = vars.clone();
    if let Some(direct) = vars
        .get("DATABASE_DIRECT_URL")
        .filter(|v| !v.trim().is_empty())
    {
        source_vars.insert("DATABASE_URL".into(), direct.clone());
    }
    let database = DatabaseConfig::from_source(&Source::new(&source_vars))?;
    let url = database.url.expose_secret();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up"] => {
            let mut client = migrate::connect(url, true).await?;
            let applied = migrate::up(&mut client, MIGRATIONS).await?;
            println!("applied {} migration(s){}", applied.len(), list(&applied));
        }
        ["down"] | ["down", _] => {
            let steps = match args.get(1) {
                Some(n) => n
                    .parse()
                    .map_err(|_| anyhow::anyhow!("N must be a number; {USAGE}"))?,
                None => 1,
            };
            let mut client = migrate::connect(url, false).await?;
            let reverted = migrate::down(&mut client, MIGRATIONS, steps).await?;
            println!(
                "reverted {} migration(s){}",
                reverted.len(),
                list(&reverted)
            );
        }
        ["status"] => {
            let mut client = migrate::connect(url, false).await?;
            for (version, name, state) in migrate::status(&mut client, MIGRATIONS).await? {
                let state = match state {
                    State::Applied => "applied",
                    State::Pending => "pending",
                    State::Edited => "EDITED since applied",
                    State::Missing => "MISSING file",
                };
                println!("{version:04}_{name:<28} {state}");
            }
        }
        _ => anyhow::bail!(USAGE),
    }
    Ok(())
}

fn list(versions: &[i64]) -> String {
    if versions.is_empty() {
        return String::new();
    }
    let names: Vec<String> = versions.iter().map(|v| format!("{v:04}")).collect();
    format!(": {}", names.join(", "))
}
