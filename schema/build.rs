//! Embeds `migrations/*.up.sql` and their `.down.sql` twins into the binary, so the migration
//! command (and the migration Lambda) needs no files beside it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut ups: Vec<_> = std::fs::read_dir(&dir)
        .expect("the migrations/ folder of the schema crate")
        .map(|entry| entry.expect("readable migrations/ entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".up.sql"))
        .collect();
    ups.sort();
    let mut code = String::from("pub static MIGRATIONS: &[Migration] = &[\n");
    // Versions and names alone, for a check that must not link the SQL texts (`/health`).
    let mut versions = String::from("pub static VERSIONS: &[(i64, &str)] = &[\n");
    for up in ups {
        let file = up.file_name().unwrap().to_string_lossy().into_owned();
        let stem = file.trim_end_matches(".up.sql");
        let (version, name) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{file}: expected NNNN_name.up.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("{file}: the prefix must be a number"));
        let down = up.with_file_name(format!("{stem}.down.sql"));
        assert!(down.exists(), "{file} has no {stem}.down.sql");
        println!("cargo:rerun-if-changed={}", up.display());
        println!("cargo:rerun-if-changed={}", down.display());
        writeln!(versions, "    ({version}, {name:?}),").unwrap();
        writeln!(
            code,
            "    Migration {{ version: {version}, name: {name:?}, up: include_str!({up:?}), down: include_str!({down:?}) }},",
            up = up.display().to_string(),
            down = down.display().to_string(),
        )
        .unwrap();
    }
    code.push_str("];\n");
    versions.push_str("];\n");
    code.push_str(&versions);
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(out, code).unwrap();
}
