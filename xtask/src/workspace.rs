//! The schedulers: bundled ones (workspace packages under `bins/`), the tutorial's (under `examples/`), and
//! building them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util;

/// A bundled scheduler: a workspace package under `bins/` with one binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    /// Cargo package name.
    pub package: String,
    /// Binary name (also the sched_ext ops name prefix).
    pub binary: String,
}

/// What `cargo metadata` tells about the workspace.
pub struct Workspace {
    /// Bundled schedulers, sorted by binary name.
    pub schedulers: Vec<Scheduler>,
    /// Example schedulers (under `examples/`), sorted by binary name: run only when named.
    pub examples: Vec<Scheduler>,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
}

/// Reads the workspace layout with `cargo metadata`.
pub fn load() -> Result<Workspace> {
    let root = util::workspace_root();
    let json = util::output(
        Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(&root),
    )
    .context("cannot read the workspace with `cargo metadata`")?;
    let meta: Value = serde_json::from_str(&json).context("unexpected `cargo metadata` output")?;
    let target_dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` gave no target_directory")?;
    let mut schedulers = schedulers_in(&meta, &root.join("bins"));
    schedulers.sort_by(|a, b| a.binary.cmp(&b.binary));
    let mut examples = schedulers_in(&meta, &root.join("examples"));
    examples.sort_by(|a, b| a.binary.cmp(&b.binary));
    Ok(Workspace {
        schedulers,
        examples,
        target_dir,
    })
}

/// The cargo to run: the one that runs us, else `cargo` on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn schedulers_in(meta: &Value, bins_dir: &Path) -> Vec<Scheduler> {
    let Some(packages) = meta["packages"].as_array() else {
        return Vec::new();
    };
    packages
        .iter()
        .filter(|p| {
            p["manifest_path"]
                .as_str()
                .is_some_and(|m| Path::new(m).starts_with(bins_dir))
        })
        .filter_map(|p| {
            let package = p["name"].as_str()?.to_string();
            let binary = p["targets"]
                .as_array()?
                .iter()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
                })
                .filter_map(|t| t["name"].as_str())
                .find(|name| *name == package)
                .or_else(|| {
                    p["targets"].as_array()?.iter().find(|t| {
                        t["kind"]
                            .as_array()
                            .is_some_and(|k| k.iter().any(|k| k == "bin"))
                    })?["name"]
                        .as_str()
                })?
                .to_string();
            Some(Scheduler { package, binary })
        })
        .collect()
}

impl Workspace {
    /// Selects schedulers by binary or package name (bundled or example); all bundled ones when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<Scheduler>> {
        if names.is_empty() {
            return Ok(self.schedulers.clone());
        }
        names
            .iter()
            .map(|name| {
                self.schedulers
                    .iter()
                    .chain(&self.examples)
                    .find(|s| &s.binary == name || &s.package == name)
                    .cloned()
                    .with_context(|| {
                        format!(
                            "unknown scheduler `{name}`; bundled schedulers: {}",
                            if self.schedulers.is_empty() {
                                "none yet (no packages under bins/)".to_string()
                            } else {
                                self.schedulers
                                    .iter()
                                    .chain(&self.examples)
                                    .map(|s| s.binary.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        )
                    })
            })
            .collect()
    }

    /// Builds the schedulers in release mode; returns the binaries' paths.
    pub fn build(&self, schedulers: &[Scheduler]) -> Result<Vec<PathBuf>> {
        if schedulers.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "--release"])
            .current_dir(util::workspace_root());
        for s in schedulers {
            cmd.args(["-p", &s.package]);
        }
        println!("build: {}", util::display_cmd(&cmd));
        util::run(&mut cmd).context("building the schedulers failed")?;
        schedulers
            .iter()
            .map(|s| {
                let path = self.target_dir.join("release").join(&s.binary);
                if !path.is_file() {
                    bail!(
                        "cargo built {} but {} is missing",
                        s.package,
                        path.display()
                    );
                }
                Ok(path)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedulers_are_the_bin_packages_under_bins() {
        let meta: Value = serde_json::from_str(
            r#"{"packages": [
                {"name": "rustland-core", "manifest_path": "/w/crates/core/Cargo.toml",
                 "targets": [{"name": "rustland_core", "kind": ["lib"]}]},
                {"name": "scx_rlfifo", "manifest_path": "/w/bins/scx_rlfifo/Cargo.toml",
                 "targets": [{"name": "scx_rlfifo", "kind": ["bin"]}]},
                {"name": "helper", "manifest_path": "/w/bins/helper/Cargo.toml",
                 "targets": [{"name": "helper", "kind": ["lib"]}]},
                {"name": "xtask", "manifest_path": "/w/xtask/Cargo.toml",
                 "targets": [{"name": "xtask", "kind": ["bin"]}]}
            ]}"#,
        )
        .unwrap();
        let found = schedulers_in(&meta, Path::new("/w/bins"));
        assert_eq!(
            found,
            [Scheduler {
                package: "scx_rlfifo".into(),
                binary: "scx_rlfifo".into()
            }]
        );
        let ws = Workspace {
            schedulers: found,
            examples: vec![Scheduler {
                package: "scx_edf".into(),
                binary: "scx_edf".into(),
            }],
            target_dir: PathBuf::from("/w/target"),
        };
        // Examples run only when named.
        assert_eq!(ws.select(&[]).unwrap().len(), 1);
        assert_eq!(
            ws.select(&["scx_edf".into()]).unwrap()[0].package,
            "scx_edf"
        );
        let err = ws.select(&["scx_nope".into()]).unwrap_err().to_string();
        assert!(err.contains("unknown scheduler `scx_nope`"), "{err}");
        assert!(err.contains("scx_rlfifo"), "{err}");
    }
}
