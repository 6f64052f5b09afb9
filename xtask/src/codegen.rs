//! Generated files a user reads (`functions/health/openapi.json`, `schema/schema.sql`) are
//! committed; each has a test that fails when the code says otherwise (rust-analyzer's
//! `ensure_file_contents`), and a command that rewrites it.

use std::path::PathBuf;

use anyhow::{bail, Context as _};

/// A generated file: where it is committed, what the code says it holds, and how to remake it.
pub struct Artifact {
    pub path: PathBuf,
    pub contents: String,
    pub command: &'static str,
}

impl Artifact {
    /// Whether the committed file holds exactly what the code generates.
    pub fn is_current(&self) -> bool {
        std::fs::read_to_string(&self.path).is_ok_and(|committed| committed == self.contents)
    }

    /// The message a stale file gets, naming the command that fixes it.
    pub fn stale_message(&self) -> String {
        format!(
            "{} differs from the code: run `{}` and commit it",
            self.path.display(),
            self.command
        )
    }
}

/// Writes the artifact, or with `check` only fails when it is stale.
pub fn ensure(artifact: &Artifact, check: bool) -> anyhow::Result<()> {
    if artifact.is_current() {
        return Ok(());
    }
    if check {
        bail!(artifact.stale_message());
    }
    std::fs::write(&artifact.path, &artifact.contents)
        .with_context(|| format!("writing {}", artifact.path.display()))?;
    eprintln!("wrote {}", artifact.path.display());
    Ok(())
}

/// A path relative to the workspace root.
pub fn workspace_path(relative: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(relative)
}
