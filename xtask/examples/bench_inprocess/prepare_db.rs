//! The `prepare-db` command: the emulator run's database (scripts/bench.sh), dropped and made
//! again, migrated, so that every run starts from the same empty schema.

/// Drops the database named at the end of `url` (none but a plain name: it goes into SQL) and
/// makes it again with every migration applied.
pub async fn prepare_db(url: String) -> Result<(), String> {
    let name = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .ok_or("prepare-db needs a URL ending in a plain database name")?
        .to_owned();
    let admin = schema::connect(&schema::replace_database(&url, "postgres"), false)
        .await
        .map_err(|e| format!("{e:#}"))?;
    admin
        .batch_execute(&format!("drop database if exists {name} with (force)"))
        .await
        .map_err(|e| e.to_string())?;
    let mut client = schema::connect(&url, true)
        .await
        .map_err(|e| format!("{e:#}"))?;
    schema::up(&mut client, schema::MIGRATIONS)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(())
}
