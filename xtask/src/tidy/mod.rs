//! Tidy checks: the invariants docs/architecture.md states about the source tree, run by `cargo test`.
//!
//! Each test reads the workspace's files and names every offending file and line, so a broken invariant fails CI
//! with the place to fix. This module reads the tree; the rules are in `code` (what lines of code may contain),
//! `manifests` (what crates may depend on) and `structure` (how the tree is cut: constants, modules, file sizes).

mod code;
mod manifests;
mod structure;

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::workspace_root;

/// The directories that hold the product's and the harness's code.
pub(super) const CODE_DIRS: &[&str] = &["crates", "bins", "examples", "xtask"];

/// These files: they spell the patterns they look for.
pub(super) const SELF: &str = "xtask/src/tidy/";

/// Every file under [`CODE_DIRS`] whose name ends with one of `exts`, relative to the root, sorted.
pub(super) fn files_with(exts: &[&str]) -> Vec<(String, String)> {
    let root = workspace_root();
    let mut found = Vec::new();
    for dir in CODE_DIRS {
        walk(&root.join(dir), &mut found);
    }
    let mut files: Vec<(String, String)> = found
        .into_iter()
        .filter(|p| exts.iter().any(|e| p.to_string_lossy().ends_with(e)))
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
            (rel, text)
        })
        .filter(|(rel, _)| !rel.starts_with(SELF))
        .collect();
    files.sort();
    files
}

/// Every line, as `path:line: text`, of the files with one of `exts` that `in_scope` keeps, for which `matches`
/// holds.
pub(super) fn lines_where(
    exts: &[&str],
    in_scope: impl Fn(&str) -> bool,
    matches: impl Fn(&str) -> bool,
) -> Vec<String> {
    files_with(exts)
        .iter()
        .filter(|(rel, _)| in_scope(rel))
        .flat_map(|(rel, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| matches(l))
                .map(|(n, l)| format!("{rel}:{}: {}", n + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(super) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// The code of a Rust line, without a `//` comment (doc comments included); string contents stay.
pub(super) fn code_part(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find(" // ") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Whether the code part of a Rust line (see [`code_part`]) contains one of `patterns`.
pub(super) fn code_contains_any(line: &str, patterns: &[&str]) -> bool {
    let code = code_part(line);
    patterns.iter().any(|p| code.contains(p))
}

/// A manifest, parsed.
pub(super) fn manifest(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workspace's members, as paths relative to the root.
pub(super) fn members() -> Vec<String> {
    let workspace = manifest(&workspace_root().join("Cargo.toml"));
    workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// Test and benchmark files may spell their own unit shorthands (`MS`, `US`).
pub(super) fn is_test_code(rel: &str) -> bool {
    rel.contains("/tests/") || rel.contains("/benches/")
}

/// Whether a source file is a program's entry point (a binary or an example), not a library's.
pub(super) fn is_program(rel: &str) -> bool {
    rel.ends_with("/src/main.rs")
        || rel.contains("/src/bin/")
        || (rel.starts_with("crates/") && rel.contains("/examples/"))
}

/// The names in a manifest's `[dependencies]` and `[build-dependencies]`.
pub(super) fn dependencies_of(toml: &toml::Table) -> Vec<String> {
    ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|t| toml.get(*t).and_then(toml::Value::as_table))
        .flat_map(|deps| deps.keys().cloned())
        .collect()
}

/// The lines of a file before its unit-test module (`#[cfg(test)] mod tests {`), which is not part of its job's
/// length.
pub(super) fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim() == "mod tests {")
        .unwrap_or(lines.len())
}
