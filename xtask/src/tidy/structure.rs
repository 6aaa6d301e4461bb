//! Rules about how the tree is cut: each constant defined once, no dependency cycle between a crate's modules, no
//! file longer than its job needs.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// Constants that two programs sharing no crate must both spell, each with why.
const SHARED_CONSTANTS: &[(&str, &str)] = &[(
    "SCHED_EXT",
    "the kernel's policy number; the guest helper does not link the BPF crate",
)];

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
