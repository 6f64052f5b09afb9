//! What every command writes: the results file, one JSON object per line (also echoed to
//! stderr), and the percentiles its latency lines give.

use std::io::Write as _;
use std::path::Path;

use serde_json::Value;

/// The `--out` file of a command.
pub struct Output {
    file: std::fs::File,
}

impl Output {
    pub fn create(path: &Path) -> Self {
        Self {
            file: std::fs::File::create(path)
                .unwrap_or_else(|e| panic!("creating {}: {e}", path.display())),
        }
    }
    pub fn line(&mut self, value: Value) {
        eprintln!("{value}");
        writeln!(self.file, "{value}").expect("writing the results");
    }
}

/// The `q` quantile of `sorted` by the nearest-rank method (None when it is empty).
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}
