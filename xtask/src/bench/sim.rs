//! The simulator's side of the benchmark: runs `rl-sim --json` on workloads matching the VM's, reads its
//! reports, and renders their side-by-side table for the report.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::util;
use crate::workspace;

/// Which simulator policy stands for which bundled scheduler.
pub const SIM_POLICIES: &[(&str, &str)] = &[
    ("fifo", "scx_rlfifo"),
    ("rr", "scx_rlrr"),
    ("vruntime", "scx_rustland"),
];

/// Simulator workloads matching the VM's: (file name, what it stands for, TOML). The files are in
/// xtask/bench-workloads/.
pub const SIM_WORKLOADS: &[(&str, &str, &str)] = &[
    (
        "sim-cyclictest.toml",
        "cyclictest under CPU hogs: 2 hogs and a 1 ms periodic waker on 2 CPUs",
        include_str!("../../bench-workloads/sim-cyclictest.toml"),
    ),
    (
        "sim-hackbench.toml",
        "hackbench-like message passing: 40 ping-pong pairs on 2 CPUs",
        include_str!("../../bench-workloads/sim-hackbench.toml"),
    ),
];

/// The simulator's run of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRun {
    /// The workload's file name.
    pub file: String,
    /// What it stands for.
    pub what: String,
    /// The side-by-side table of the policies (or why rl-sim failed).
    pub table: String,
    /// Each policy's name and report, as rl-sim's JSON has them (empty if it failed).
    pub reports: Vec<(String, Value)>,
}

impl SimRun {
    /// The run of `file` from rl-sim's `--json` output.
    pub fn from_json(file: &str, what: &str, json: &str) -> Result<Self> {
        let doc: Value = serde_json::from_str(json).context("rl-sim printed invalid JSON")?;
        let field = |v: &Value, key: &str| {
            v.get(key)
                .cloned()
                .with_context(|| format!("no `{key}` in rl-sim's JSON"))
        };
        let runs = field(&doc, "runs")?;
        let runs = runs.as_array().context("rl-sim's `runs` is not an array")?;
        let mut reports = Vec::with_capacity(runs.len());
        for run in runs {
            let policy = field(run, "policy")?;
            let policy = policy.as_str().context("a policy name is not a string")?;
            reports.push((policy.to_string(), field(run, "report")?));
        }
        let table = field(&doc, "comparison")?;
        let table = table
            .as_str()
            .context("rl-sim's `comparison` is not a string")?
            .to_string();
        Ok(SimRun {
            file: file.to_string(),
            what: what.to_string(),
            table: table.trim_end().to_string(),
            reports,
        })
    }

    /// The value of `figure` for each of [`SIM_POLICIES`] that has one: (scheduler, value).
    pub fn figures(&self, figure: SimFigure) -> Vec<(String, f64)> {
        SIM_POLICIES
            .iter()
            .filter_map(|(policy, sched)| {
                let (_, report) = self.reports.iter().find(|(p, _)| p == policy)?;
                Some((sched.to_string(), figure.of(report)?))
            })
            .collect()
    }
}

/// A figure of a simulated run that stands for a VM metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFigure {
    /// The 99th percentile wakeup latency of a workload group (ns).
    GroupLatencyP99(&'static str),
    /// The longest wait of a workload group's tasks (ns).
    GroupMaxWait(&'static str),
    /// Work units completed by all tasks.
    Completed,
}

impl SimFigure {
    /// Its value in one policy's report.
    fn of(self, report: &Value) -> Option<f64> {
        let group = |name: &str| {
            report["groups"]
                .as_array()?
                .iter()
                .find(|g| g["name"] == name)
        };
        match self {
            Self::GroupLatencyP99(name) => group(name)?["latency"]["p99_ns"].as_f64(),
            Self::GroupMaxWait(name) => group(name)?["max_wait_ns"].as_f64(),
            Self::Completed => report["totals"]["completed"].as_f64(),
        }
    }
}

/// Runs rl-sim on the matching workloads; problems end up in the table text.
pub fn run_sim(out_dir: &Path) -> Vec<SimRun> {
    println!("bench: running the simulator on the matching workloads");
    SIM_WORKLOADS
        .iter()
        .map(|(file, what, toml)| {
            let path = out_dir.join(file);
            fs::write(&path, toml)
                .with_context(|| format!("cannot write {}", path.display()))
                .and_then(|()| rl_sim_json(&path))
                .and_then(|json| SimRun::from_json(file, what, &json))
                .unwrap_or_else(|e| SimRun {
                    file: file.to_string(),
                    what: what.to_string(),
                    table: format!("rl-sim failed: {e:#}"),
                    reports: Vec::new(),
                })
        })
        .collect()
}

/// rl-sim's JSON report of every policy on the workload file at `path`.
fn rl_sim_json(path: &Path) -> Result<String> {
    util::output(
        Command::new(workspace::cargo())
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "rustland-sim",
                "--bin",
                "rl-sim",
                "--",
            ])
            .args(["--policy", "all", "--json"])
            .arg(path)
            .current_dir(util::workspace_root()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rl-sim --policy all --json --duration 200ms xtask/bench-workloads/sim-cyclictest.toml`, and the
    /// comparison table the same command prints without `--json`.
    const JSON: &str = include_str!("testdata/sim-cyclictest-200ms.json");
    const TEXT: &str = include_str!("testdata/sim-cyclictest-200ms.txt");

    #[test]
    fn the_table_from_json_is_rl_sims_own() {
        let run = SimRun::from_json("sim-cyclictest.toml", "w", JSON).unwrap();
        let text_table = &TEXT[TEXT.find("== comparison").unwrap()..];
        assert_eq!(run.table, text_table.trim_end());
        assert_eq!(run.reports.len(), SIM_POLICIES.len());
    }

    #[test]
    fn figures_are_read_per_policy() {
        let run = SimRun::from_json("sim-cyclictest.toml", "w", JSON).unwrap();
        let p99 = run.figures(SimFigure::GroupLatencyP99("cyclic"));
        let scheds: Vec<&str> = p99.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(scheds, ["scx_rlfifo", "scx_rlrr", "scx_rustland"]);
        assert!(p99.iter().all(|(_, v)| *v > 0.0), "{p99:?}");
        assert_eq!(run.figures(SimFigure::Completed).len(), 3);
        assert!(run.figures(SimFigure::GroupMaxWait("nobody")).is_empty());
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(SimRun::from_json("f", "w", "not json").is_err());
        assert!(SimRun::from_json("f", "w", "{\"seed\": 1}").is_err());
    }

    #[test]
    fn the_workloads_are_valid_toml() {
        for (file, _, text) in SIM_WORKLOADS {
            let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                doc.contains_key("sim") && doc.contains_key("task"),
                "{file}"
            );
        }
    }
}
