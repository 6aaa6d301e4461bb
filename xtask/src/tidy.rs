//! Tidy checks: the invariants docs/architecture.md states about the source tree, run by `cargo test`.
//!
//! Each test reads the workspace's files and names every offending file and line, so a broken invariant fails CI
//! with the place to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::workspace_root;

/// The directories that hold the product's and the harness's code.
const CODE_DIRS: &[&str] = &["crates", "bins", "examples", "xtask"];

/// The only places that may hold `unsafe` code or declare foreign functions: the crate that talks to the kernel, and
/// the guest helper's one system call.
const UNSAFE_ALLOWED: &[&str] = &["crates/bpf/", "xtask/src/bin/rl-guest.rs"];

/// Crates whose `[lints]` repeat the workspace lints with `unsafe_code` relaxed, and the level they set it to.
const OWN_LINTS: &[(&str, &str)] = &[("crates/bpf", "allow"), ("xtask", "deny")];

/// The only crate that may install signal handlers: the runner, whose lifecycle owns SIGINT, SIGTERM and SIGHUP.
const SIGNALS_ALLOWED: &str = "crates/runner/";

/// Constants that two programs sharing no crate must both spell, each with why.
const SHARED_CONSTANTS: &[(&str, &str)] = &[(
    "SCHED_EXT",
    "the kernel's policy number; the guest helper does not link the BPF crate",
)];

/// This file: it spells the patterns it looks for.
const SELF: &str = "xtask/src/tidy.rs";

/// Every file under [`CODE_DIRS`] whose name ends with one of `exts`, relative to the root, sorted.
fn files_with(exts: &[&str]) -> Vec<(String, String)> {
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
        .filter(|(rel, _)| rel != SELF)
        .collect();
    files.sort();
    files
}

/// Every line, as `path:line: text`, of the files with one of `exts` that `in_scope` keeps, for which `matches`
/// holds.
fn lines_where(
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
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
fn code_part(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find(" // ") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Whether a line names a work session or an issue by number ("session 4", "issue #6"): history, which belongs in
/// docs/benchmarks.md and docs/reliability.md, not in code or in what the code prints.
fn mentions_history(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["session", "issue"].iter().any(|word| {
        lower.match_indices(word).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let rest = lower[i + word.len()..].trim_start_matches(['s', ' ', '#']);
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && lower[i + word.len()..].starts_with([' ', 's'])
                && rest.starts_with(|c: char| c.is_ascii_digit())
        })
    })
}

#[test]
fn history_is_not_narrated_in_code() {
    let offending = lines_where(
        &[".rs", ".c", ".h", ".sh", ".py"],
        |_| true,
        mentions_history,
    );
    assert!(
        offending.is_empty(),
        "history (session or issue numbers) in code or output; move it to docs/benchmarks.md or \
         docs/reliability.md and say what and why now:\n{}",
        offending.join("\n")
    );
}

#[test]
fn history_detector_finds_numbered_sessions_and_issues_only() {
    assert!(mentions_history("until session 4 these were"));
    assert!(mentions_history("Targets of issue 6 for scx_rustland"));
    assert!(mentions_history("(issue #12)"));
    assert!(mentions_history("sessions 5 and 6"));
    assert!(!mentions_history("a session of the scheduler"));
    assert!(!mentions_history("the issue is that 3 tasks wait"));
    assert!(!mentions_history("reissue 4 dispatches"));
}

/// Whether a Rust line holds unsafe code, declares foreign functions or allows either (comments do not count).
fn has_unsafe_code(line: &str) -> bool {
    code_contains_any(
        line,
        &[
            "unsafe {",
            "unsafe fn",
            "unsafe impl",
            "extern \"C\"",
            "allow(unsafe_code)",
        ],
    )
}

/// Whether the code part of a Rust line (see [`code_part`]) contains one of `patterns`.
fn code_contains_any(line: &str, patterns: &[&str]) -> bool {
    let code = code_part(line);
    patterns.iter().any(|p| code.contains(p))
}

#[test]
fn unsafe_detector_reads_code_not_comments() {
    assert!(has_unsafe_code(
        "    let me = unsafe { libc::sched_getcpu() };"
    ));
    assert!(has_unsafe_code("pub unsafe fn borrow(&self) {"));
    assert!(has_unsafe_code("extern \"C\" {"));
    assert!(has_unsafe_code("#![allow(unsafe_code)]"));
    assert!(!has_unsafe_code(
        "//! This crate contains no `unsafe` code."
    ));
    assert!(!has_unsafe_code(
        "    // SAFETY: why unsafe { } is sound here"
    ));
    assert!(!has_unsafe_code("let x = 1; // not unsafe { }"));
}

#[test]
fn unsafe_code_only_where_allowed() {
    let offending = lines_where(
        &[".rs"],
        |rel| !UNSAFE_ALLOWED.iter().any(|a| rel.starts_with(a)),
        has_unsafe_code,
    );
    assert!(
        offending.is_empty(),
        "unsafe code outside {UNSAFE_ALLOWED:?}:\n{}",
        offending.join("\n")
    );
}

/// The `[lints]` table of a manifest.
fn lints_of(manifest: &toml::Table) -> Option<&toml::Table> {
    manifest.get("lints")?.as_table()
}

#[test]
fn every_crate_has_the_workspace_lints() {
    let root = workspace_root();
    let workspace = manifest(&root.join("Cargo.toml"));
    let ws = workspace["workspace"].as_table().unwrap();
    let ws_lints = ws["lints"].as_table().expect("[workspace.lints]");
    assert_eq!(
        ws_lints["rust"]["unsafe_code"].as_str(),
        Some("forbid"),
        "the workspace forbids unsafe code"
    );
    assert_eq!(
        ws_lints["clippy"]["undocumented_unsafe_blocks"].as_str(),
        Some("deny"),
        "every unsafe block says why it is sound"
    );
    for member in members() {
        let member = member.as_str();
        let toml = manifest(&root.join(member).join("Cargo.toml"));
        let lints = lints_of(&toml).unwrap_or_else(|| panic!("{member}: no [lints]"));
        match OWN_LINTS.iter().find(|(m, _)| *m == member) {
            None => assert_eq!(
                lints.get("workspace").and_then(toml::Value::as_bool),
                Some(true),
                "{member}: [lints] must be `workspace = true`"
            ),
            Some((_, level)) => {
                let mut expected = ws_lints.clone();
                expected["rust"]
                    .as_table_mut()
                    .unwrap()
                    .insert("unsafe_code".into(), toml::Value::from(*level));
                assert_eq!(
                    lints, &expected,
                    "{member}: [lints] must repeat [workspace.lints] with unsafe_code = \"{level}\""
                );
            }
        }
    }
}

/// A manifest, parsed.
fn manifest(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workspace's members, as paths relative to the root.
fn members() -> Vec<String> {
    let workspace = manifest(&workspace_root().join("Cargo.toml"));
    workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// Libraries that must list anyhow as a dependency without naming it, and why.
const ANYHOW_FOR_MACROS: &[(&str, &str)] = &[(
    "crates/bpf",
    "scx_utils' scx_ops_open!/load!/attach! expand to ::anyhow paths in the calling crate",
)];

#[test]
fn anyhow_only_in_binaries_and_xtask() {
    let root = workspace_root();
    let libraries: Vec<String> = members()
        .into_iter()
        .filter(|m| m != "xtask" && root.join(m).join("src/lib.rs").exists())
        .collect();
    let mut offending: Vec<String> = libraries
        .iter()
        .filter(|m| !ANYHOW_FOR_MACROS.iter().any(|(lib, _)| lib == m))
        .filter(|m| {
            dependencies_of(&manifest(&root.join(m).join("Cargo.toml")))
                .contains(&"anyhow".to_owned())
        })
        .map(|m| format!("{m} depends on anyhow"))
        .collect();
    // No library's own code names it either: its errors are thiserror enums whose variants keep their #[source].
    for (rel, text) in files_with(&[".rs"]) {
        if !libraries
            .iter()
            .any(|lib| rel.starts_with(&format!("{lib}/src/")))
            || is_program(&rel)
        {
            continue;
        }
        let product = text.lines().take(lines_before_tests(&text));
        for (n, line) in product.enumerate() {
            if code_part(line).contains("anyhow") {
                offending.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "anyhow in a library (give it a thiserror enum whose variants keep their #[source]):\n{}",
        offending.join("\n")
    );
}

/// Whether a Rust line installs a signal handler (comments do not count).
fn installs_signal_handler(line: &str) -> bool {
    code_contains_any(
        line,
        &["signal_hook::", "sigaction(", "libc::signal(", "ctrlc::"],
    )
}

#[test]
fn signal_handler_detector_reads_code_not_comments() {
    assert!(installs_signal_handler(
        "    signal_hook::flag::register(SIGINT, flag)?;"
    ));
    assert!(installs_signal_handler("use signal_hook::consts::SIGTERM;"));
    assert!(!installs_signal_handler(
        "    /// The shared flag, e.g. for `signal_hook::flag::register`."
    ));
}

#[test]
fn signal_handlers_only_in_the_runner() {
    let offending = lines_where(
        &[".rs"],
        |rel| !rel.starts_with(SIGNALS_ALLOWED),
        installs_signal_handler,
    );
    assert!(
        offending.is_empty(),
        "signal handlers outside {SIGNALS_ALLOWED}:\n{}",
        offending.join("\n")
    );
}

/// A constant a line defines, as `(name, value)`: `pub const NAME: T = VALUE;` on one line.
fn constant_of(line: &str) -> Option<(&str, &str)> {
    let code = code_part(line).trim();
    let rest = code.strip_prefix("pub ").unwrap_or(code);
    let rest = match rest.strip_prefix("pub(crate) ") {
        Some(r) => r,
        None => rest,
    };
    let rest = rest.strip_prefix("const ")?;
    let (name, rest) = rest.split_once(':')?;
    let (_, value) = rest.split_once('=')?;
    let name = name.trim();
    let value = value.trim().strip_suffix(';')?.trim();
    name.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        .then_some((name, value))
}

#[test]
fn constant_parser_reads_one_line_definitions() {
    assert_eq!(
        constant_of("    pub const MIN_SLICE_NS: u64 = 10_000;"),
        Some(("MIN_SLICE_NS", "10_000"))
    );
    assert_eq!(
        constant_of("const SCHED_EXT: i32 = 7; // the policy"),
        Some(("SCHED_EXT", "7"))
    );
    assert_eq!(constant_of("    const fn new() -> Self {"), None);
    assert_eq!(constant_of("// const X: u32 = 1;"), None);
}

/// Test and benchmark files may spell their own unit shorthands (`MS`, `US`).
fn is_test_code(rel: &str) -> bool {
    rel.contains("/tests/") || rel.contains("/benches/")
}

#[test]
fn constants_are_defined_once() {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut offending = Vec::new();
    for (rel, text) in files_with(&[".rs"])
        .iter()
        .filter(|(r, _)| !is_test_code(r))
    {
        for (n, line) in text.lines().enumerate() {
            let Some((name, value)) = constant_of(line) else {
                continue;
            };
            let at = format!("{rel}:{}", n + 1);
            // A slice bound belongs to core's Dispatch; elsewhere it is derived from it, never a new literal.
            let literal = value.starts_with(|c: char| c.is_ascii_digit());
            if (name.contains("SLICE") || name.contains("QUANTUM"))
                && literal
                && !rel.starts_with("crates/core/")
            {
                offending.push(format!(
                    "{at}: {name} = {value} (derive it from Dispatch's bounds)"
                ));
            }
            if SHARED_CONSTANTS.iter().any(|(shared, _)| *shared == name) {
                continue;
            }
            if let Some((_, _, first)) = seen.iter().find(|(n2, v2, first)| {
                n2 == name && v2 == value && !first.starts_with(&format!("{rel}:"))
            }) {
                offending.push(format!("{at}: {name} = {value} is also defined at {first}"));
            }
            seen.push((name.to_owned(), value.to_owned(), at));
        }
    }
    assert!(
        offending.is_empty(),
        "constants written twice; define each once and refer to it:\n{}",
        offending.join("\n")
    );
}

/// What code under a directory must not contain, and why: the "never does" of docs/architecture.md's code map.
const FORBIDDEN_IN: &[(&str, &[&str], &str)] = &[
    (
        "crates/core/src/",
        &["std::fs", "std::net", "std::thread", "std::time", "std::process", "println!", "eprintln!"],
        "core does no I/O, starts no threads and has no clock of its own",
    ),
    (
        "crates/sim/src/",
        &["Instant", "SystemTime", "HashMap", "HashSet", "thread_rng"],
        "the simulator has no wall clock, no unseeded randomness and no iteration-order-dependent containers",
    ),
    (
        "crates/policies/",
        &["std::fs", "std::net", "std::thread", "std::time", "println!", "eprintln!"],
        "a policy does no I/O and reads time only from its Context",
    ),
];

#[test]
fn code_never_does_what_its_crate_must_not() {
    let files = files_with(&[".rs"]);
    let mut offending = Vec::new();
    for (dir, patterns, why) in FORBIDDEN_IN {
        for (rel, text) in files.iter().filter(|(rel, _)| rel.starts_with(dir)) {
            for (n, line) in text.lines().enumerate() {
                let code = code_part(line);
                if let Some(p) = patterns.iter().find(|p| code.contains(**p)) {
                    offending.push(format!("{rel}:{}: `{p}`: {why}", n + 1));
                }
            }
        }
    }
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}

/// Whether a source file is a program's entry point (a binary or an example), not a library's.
fn is_program(rel: &str) -> bool {
    rel.ends_with("/src/main.rs")
        || rel.contains("/src/bin/")
        || (rel.starts_with("crates/") && rel.contains("/examples/"))
}

#[test]
fn only_programs_install_an_allocator() {
    let offending = lines_where(
        &[".rs"],
        |rel| !is_program(rel),
        |l| code_part(l).contains("#[global_allocator]"),
    );
    assert!(
        offending.is_empty(),
        "a library installs a global allocator (it would also replace the allocator of build scripts and of \
         every program that links it): {offending:?}"
    );
}

/// What a member may depend on.
struct DependencyRule {
    member: &'static str,
    /// Every dependency it may have, or `None` for any.
    only: Option<&'static [&'static str]>,
    /// Dependencies it must never have.
    never: &'static [&'static str],
}

/// The dependency edges docs/architecture.md's code map allows.
const DEPENDENCY_RULES: &[DependencyRule] = &[
    DependencyRule {
        member: "crates/core",
        only: Some(&["thiserror"]),
        never: &[],
    },
    DependencyRule {
        member: "crates/policies/fifo",
        only: Some(&["rustland-core"]),
        never: &[],
    },
    DependencyRule {
        member: "crates/policies/rr",
        only: Some(&["rustland-core"]),
        never: &[],
    },
    DependencyRule {
        member: "crates/policies/vruntime",
        only: Some(&["rustland-core", "rustc-hash"]),
        never: &[],
    },
    DependencyRule {
        member: "examples/edf",
        only: Some(&["rustland-core"]),
        never: &[],
    },
    DependencyRule {
        member: "crates/sim",
        only: None,
        never: &["rustland-bpf", "rustland-runner", "libbpf-rs"],
    },
];

/// Crates that link libbpf: only crates/bpf may depend on them.
const LIBBPF: &[&str] = &["libbpf-rs", "libbpf-sys", "libbpf-cargo"];

/// The names in a manifest's `[dependencies]` and `[build-dependencies]`.
fn dependencies_of(toml: &toml::Table) -> Vec<String> {
    ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|t| toml.get(*t).and_then(toml::Value::as_table))
        .flat_map(|deps| deps.keys().cloned())
        .collect()
}

#[test]
fn crates_depend_only_on_what_the_map_allows() {
    let root = workspace_root();
    let mut offending = Vec::new();
    for member in members() {
        let deps = dependencies_of(&manifest(&root.join(&member).join("Cargo.toml")));
        if member != "crates/bpf" {
            for dep in deps.iter().filter(|d| LIBBPF.contains(&d.as_str())) {
                offending.push(format!(
                    "{member} depends on {dep}: only crates/bpf links libbpf"
                ));
            }
        }
        let Some(rule) = DEPENDENCY_RULES.iter().find(|r| r.member == member) else {
            continue;
        };
        for dep in &deps {
            let name = dep.as_str();
            if rule.only.is_some_and(|only| !only.contains(&name)) || rule.never.contains(&name) {
                offending.push(format!("{member} depends on {dep}"));
            }
        }
    }
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}

/// The top-level modules of the crate whose sources are under `src` (relative to the root), each with the other
/// top-level modules its files name through `crate::`. Binaries under `src/bin/` and the crate root are left out.
fn module_graph(src: &str, files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let module_of = |rel: &str| -> Option<String> {
        let inner = rel.strip_prefix(src)?.strip_prefix('/')?;
        if matches!(inner, "lib.rs" | "main.rs") || inner.starts_with("bin/") {
            return None;
        }
        let top = inner.split('/').next()?;
        Some(top.strip_suffix(".rs").unwrap_or(top).to_owned())
    };
    let sources: Vec<(String, &str)> = files
        .iter()
        .filter_map(|(rel, text)| Some((module_of(rel)?, text.as_str())))
        .collect();
    let names: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> =
        names.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (module, text) in &sources {
        for used in modules_named(text).filter(|u| names.contains(*u) && *u != module) {
            graph.get_mut(module).unwrap().insert(used.to_owned());
        }
    }
    graph
}

/// The names that follow `crate::` in Rust code, including those inside `crate::{a, b::C}` groups.
fn modules_named(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(code_part)
        .flat_map(|code| {
            code.match_indices("crate::")
                .map(move |(i, _)| &code[i + 7..])
        })
        .flat_map(|rest| {
            let group = rest
                .strip_prefix('{')
                .map(|g| g.split('}').next().unwrap_or(g));
            let words =
                group.unwrap_or_else(|| rest.split(|c: char| !is_ident(c)).next().unwrap_or(""));
            words
                .split(|c: char| !is_ident(c))
                .filter(|w| !w.is_empty())
        })
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn module_graph_reads_uses_and_finds_cycles() {
    let files = vec![
        (
            "c/src/a.rs".to_owned(),
            "use crate::{b::X, c};\n".to_owned(),
        ),
        (
            "c/src/b.rs".to_owned(),
            "fn f() { crate::c::g() }\n".to_owned(),
        ),
        (
            "c/src/c/mod.rs".to_owned(),
            "// crate::a in a comment\n".to_owned(),
        ),
        (
            "c/src/lib.rs".to_owned(),
            "mod a; use crate::a::Y;\n".to_owned(),
        ),
    ];
    let graph = module_graph("c/src", &files);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    assert!(graph["c"].is_empty());
    assert_eq!(find_cycle(&graph), None);
    let mut cyclic = files.clone();
    cyclic[2].1 = "use crate::a;\n".to_owned();
    assert_eq!(
        find_cycle(&module_graph("c/src", &cyclic)),
        Some(vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            "a".to_owned()
        ])
    );
}

#[test]
fn no_dependency_cycle_between_modules() {
    let files = files_with(&[".rs"]);
    let roots: BTreeSet<String> = files
        .iter()
        .filter_map(|(rel, _)| {
            let (crate_dir, _) = rel.split_once("/src/")?;
            Some(format!("{crate_dir}/src"))
        })
        .collect();
    let cycles: Vec<String> = roots
        .iter()
        .filter_map(|src| {
            let cycle = find_cycle(&module_graph(src, &files))?;
            Some(format!("{src}: {}", cycle.join(" -> ")))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "modules that depend on each other (move what both need into a third module):\n{}",
        cycles.join("\n")
    );
}

/// The most lines a file of the product or the harness has before it is split by job.
const MAX_LINES: usize = 600;

/// Files allowed over [`MAX_LINES`], each with the one job that needs the length.
const LONG_FILES: &[(&str, &str)] = &[];

/// The lines of a file before its unit-test module (`#[cfg(test)] mod tests {`), which is not part of its job's
/// length.
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim() == "mod tests {")
        .unwrap_or(lines.len())
}

#[test]
fn files_are_split_by_job() {
    let offending: Vec<String> = files_with(&[".rs", ".c", ".h", ".sh", ".py"])
        .iter()
        .filter(|(rel, _)| !is_test_code(rel) && !LONG_FILES.iter().any(|(long, _)| long == rel))
        .filter_map(|(rel, text)| {
            let lines = lines_before_tests(text);
            (lines > MAX_LINES).then(|| format!("{rel}: {lines} lines"))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "files over {MAX_LINES} lines; split them by job (or name the one job in LONG_FILES):\n{}",
        offending.join("\n")
    );
}

/// Hosts the harness may spell: documentation examples and the SVG namespace, never a server it downloads from.
fn is_placeholder_host(host: &str) -> bool {
    host == "www.w3.org" || host.starts_with("example.") || host.contains(".example")
}

/// The hosts of the `http://` and `https://` URLs in a line.
fn url_hosts(line: &str) -> impl Iterator<Item = &str> {
    ["http://", "https://"].into_iter().flat_map(move |scheme| {
        line.match_indices(scheme).map(move |(i, _)| {
            let rest = &line[i + scheme.len()..];
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                .next()
                .unwrap_or("")
        })
    })
}

#[test]
fn url_hosts_are_read_from_urls() {
    let hosts: Vec<&str> =
        url_hosts("URIs: http://mirror.example.org/debian https://a.b-c.net:80/x").collect();
    assert_eq!(hosts, ["mirror.example.org", "a.b-c.net"]);
    assert!(is_placeholder_host("mirror.example.org"));
    assert!(is_placeholder_host("a.example"));
    assert!(!is_placeholder_host("mirror.debian.net"));
}

#[test]
fn the_harness_names_no_server_to_download_from() {
    // The package mirror comes from the machine's apt sources at run time; crates come through cargo.
    let offending = lines_where(
        &[".rs", ".sh", ".py"],
        |rel| rel.starts_with("xtask/"),
        |l| url_hosts(l).any(|host| !is_placeholder_host(host)),
    );
    assert!(
        offending.is_empty(),
        "a download server written into the harness:\n{}",
        offending.join("\n")
    );
}
