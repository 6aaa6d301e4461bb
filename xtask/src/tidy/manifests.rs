//! Rules about the crates' manifests: the workspace lints in every crate, and what each crate may depend on.

use super::*;

/// Crates whose `[lints]` repeat the workspace lints with `unsafe_code` relaxed, and the level they set it to.
const OWN_LINTS: &[(&str, &str)] = &[("crates/bpf", "allow"), ("xtask", "deny")];

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
