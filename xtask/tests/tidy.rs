//! The house rules, checked on the source tree (rust-analyzer's `tidy` tests): no function crate
//! depends on another, the test harness is only ever a dev-dependency, and no module imports a
//! module that imports it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FUNCTIONS: &[&str] = &["auth", "tasks", "health", "migrations"];
/// The crates whose code ends up in a Lambda binary.
const RELEASE_CRATES: &[&str] = &[
    "shared",
    "schema",
    "functions/auth",
    "functions/tasks",
    "functions/health",
    "functions/migrations",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The dependency names of one `[section]` of a manifest.
fn dependencies(manifest: &str, section: &str) -> Vec<String> {
    let table: toml::Table = manifest.parse().expect("a valid Cargo.toml");
    table
        .get(section)
        .and_then(|deps| deps.as_table())
        .map(|deps| deps.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn no_function_crate_depends_on_another_and_no_release_crate_links_the_test_harness() {
    for krate in RELEASE_CRATES {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            for dependency in dependencies(&manifest, section) {
                assert!(
                    !FUNCTIONS.contains(&dependency.as_str()),
                    "{krate} depends on the function crate {dependency} ({section}): move the code \
                     both need into shared, or the test into e2e"
                );
                assert!(
                    section == "dev-dependencies" || dependency != "test-support",
                    "{krate} links the test harness into a release build ({section})"
                );
            }
        }
    }
}

/// The module a `.rs` file is, as its path from the crate root (`[]` for lib.rs/main.rs).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The paths a file names after `crate::` or `super::` (groups `{a, b::c}` expanded one level),
/// each as segments relative to the crate root. Unit-test modules are left out: a test may reach
/// into its parent.
fn named_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = Vec::new();
    for (keyword, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in text.match_indices(keyword) {
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &text[at + keyword.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let item = item.split(" as ").next().unwrap().trim();
                    if !item.is_empty() && item != "self" {
                        found.push(segments(&base, item));
                    }
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                found.push(segments(&base, rest[..end].trim_end_matches(':')));
            }
        }
    }
    found
}

fn segments(base: &[String], path: &str) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(
            path.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        )
        .collect()
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    for krate in RELEASE_CRATES.iter().chain(&["test-support", "xtask"]) {
        let src = root().join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .filter(|file| !(file.ends_with("main.rs") && src.join("lib.rs").exists()))
            .map(|file| (module_of(&src, file), file.clone()))
            .collect();
        let resolve = |path: &[String]| {
            (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix))
        };
        let mut imports: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (module, file) in &modules {
            let text = std::fs::read_to_string(file).unwrap();
            let mut targets: BTreeSet<Vec<String>> = named_paths(&text, module)
                .iter()
                .filter_map(|path| resolve(path))
                .collect();
            // `use child::Item` from a parent names its own submodule without `self::`.
            for line in text.lines() {
                let line = line.trim_start().trim_start_matches("pub ");
                if let Some(rest) = line.strip_prefix("use ") {
                    let first = rest.split("::").next().unwrap_or_default();
                    let mut child = module.clone();
                    child.push(first.to_owned());
                    if modules.contains_key(&child) {
                        targets.insert(child);
                    }
                }
            }
            targets.remove(module);
            imports.insert(module.clone(), targets);
        }
        for (module, targets) in &imports {
            for target in targets {
                assert!(
                    !imports.get(target).is_some_and(|back| back.contains(module)),
                    "{krate}: `{}` and `{}` import each other; move what both need into a third module",
                    display(module),
                    display(target)
                );
            }
        }
    }
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate root".to_owned()
    } else {
        module.join("::")
    }
}
