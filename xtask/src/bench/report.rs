//! The benchmark report: the VM's summary rows, the orders of the schedulers in the VM and in the simulator,
//! and the files written from them (report.md, report.json, the SVG figures).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::data::{self, BenchData, Row, METRICS};
use super::sim::{SimFigure, SimRun, SIM_POLICIES};
use super::svg;
use super::table;

/// Order of schedulers from best to worst by `value` (lower or higher
/// better): `a > b = c` (`>`: better; `=`: within 1 %).
fn ranking(values: &[(String, f64)], lower_is_better: bool) -> String {
    let mut v = values.to_vec();
    v.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if lower_is_better {
            o
        } else {
            o.reverse()
        }
    });
    let mut out = String::new();
    for (i, (name, value)) in v.iter().enumerate() {
        if i > 0 {
            let prev = v[i - 1].1;
            let tie = (value - prev).abs() <= 0.01 * value.abs().max(prev.abs());
            out.push_str(if tie { " = " } else { " > " });
        }
        out.push_str(name);
    }
    out
}

/// Everything the report shows.
pub struct Report {
    /// The guest's kernel release.
    pub kernel: String,
    /// When the report was made.
    pub date: String,
    /// The host's load averages at the start.
    pub host_load: String,
    /// The commit the schedulers were built from.
    pub source: String,
    /// Repetitions of each workload per phase.
    pub repeat: u32,
    /// The VM log the figures come from.
    pub log: PathBuf,
    /// Everything the guest reported.
    pub data: BenchData,
    /// The summary rows, one per phase.
    pub rows: Vec<Row>,
    /// The simulator's runs.
    pub sim: Vec<SimRun>,
    /// The phases of `--compare-bin` schedulers (neither bundled nor the default).
    pub compared: Vec<String>,
    /// Kernel fault lines of the console log.
    pub kernel_faults: Vec<String>,
}

/// (description, VM metric id, sim workload file, sim figure, lower is better)
const RANK_PAIRS: &[(&str, &str, &str, SimFigure, bool)] = &[
    (
        "wakeup latency under hogs (p99)",
        "cyc_p99",
        "sim-cyclictest.toml",
        SimFigure::GroupLatencyP99("cyclic"),
        true,
    ),
    (
        "wakeup latency under hogs (max)",
        "cyc_max",
        "sim-cyclictest.toml",
        SimFigure::GroupMaxWait("cyclic"),
        true,
    ),
    (
        "message passing throughput",
        "hackbench",
        "sim-hackbench.toml",
        SimFigure::Completed,
        false,
    ),
];

impl Report {
    /// The ratios to the default scheduler of one row's cells.
    fn ratios_for(&self, row: &Row) -> Vec<Option<f64>> {
        row.cells.iter().map(|c| c.and_then(|c| c.ratio)).collect()
    }

    /// Ranking of the bundled schedulers in the VM and in the simulator.
    fn rankings(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (what, metric, file, sim_figure, lower) in RANK_PAIRS {
            let idx = METRICS
                .iter()
                .position(|m| m.id == *metric)
                .expect("metric");
            let vm: Vec<(String, f64)> = SIM_POLICIES
                .iter()
                .filter_map(|(_, sched)| {
                    let row = self.rows.iter().find(|r| r.sched == *sched)?;
                    Some((sched.to_string(), row.cells[idx]?.mean))
                })
                .collect();
            // hackbench is a time (lower is better); the sim counts completions.
            let vm_lower = METRICS[idx].lower_is_better;
            let sim: Vec<(String, f64)> = self
                .sim
                .iter()
                .find(|s| s.file == *file)
                .map(|s| s.figures(*sim_figure))
                .unwrap_or_default();
            out.push((
                what.to_string(),
                if vm.is_empty() {
                    "–".into()
                } else {
                    ranking(&vm, vm_lower)
                },
                if sim.is_empty() {
                    "–".into()
                } else {
                    ranking(&sim, *lower)
                },
            ));
        }
        out
    }

    /// The summary table and how scx_rustland and scx_rlfifo fare against their performance targets.
    pub fn summary_text(&self) -> String {
        let mut s = format!(
            "Kernel {}, {} repetition(s); cells are mean ± σ (ratio to the default scheduler's mean)\n\n",
            self.kernel, self.repeat
        );
        s.push_str(&table::render_table(&self.rows));
        s.push_str(
            "\nPerformance targets, as ratios to the default scheduler (docs/benchmarks.md):\n\n\
             | target | measured | met |\n| --- | --- | --- |\n",
        );
        for t in table::targets(&self.rows, &self.compared) {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "–",
            };
            let _ = writeln!(s, "| {} | {} | {met} |", t.what, t.got);
        }
        s
    }

    /// The whole report as markdown.
    fn markdown(&self) -> String {
        let mut s = String::from("# rustland benchmark report\n\n");
        let _ = writeln!(
            s,
            "Generated {} by `cargo xtask bench` from {}; guest kernel {}; host load average at the start {}; VM log `{}`.\n",
            self.date,
            self.source,
            self.kernel,
            self.host_load,
            self.log.display()
        );
        s.push_str(
            "Absolute figures come from a 2-vCPU TCG guest on a shared host and mean little; the ratios to the \
             default scheduler measured in the same boot are the figure. `default-again` repeats the default \
             scheduler at the end: its ratios show the drift over the boot.\n\n",
        );
        if !self.kernel_faults.is_empty() {
            let _ = writeln!(
                s,
                "**Kernel faults in the console log** ({}): `{}`\n",
                self.kernel_faults.len(),
                self.kernel_faults[0].trim()
            );
        }
        s.push_str(&self.summary_text());
        s.push_str("\n![latency distributions](latency.svg)\n\n![ratios](ratios.svg)\n\n");
        s.push_str("## Phases\n\n");
        for st in &self.data.statuses {
            let vals: Vec<String> = st.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(s, "- {} ({}): {}", st.phase, st.sched, vals.join(" "));
        }
        if !self.sim.is_empty() {
            s.push_str("\n## The simulator on matching workloads\n\n");
            s.push_str(
                "Policies: fifo = scx_rlfifo, rr = scx_rlrr, vruntime = scx_rustland. The simulator has no model \
                 of the kernel's default scheduler, so only the order of the policies compares.\n\n\
                 | what | order in the VM (`>`: better, `=`: within 1 %) | order in the simulator |\n| --- | --- | --- |\n",
            );
            for (what, vm, sim) in self.rankings() {
                let _ = writeln!(s, "| {what} | {vm} | {sim} |");
            }
            for run in &self.sim {
                let _ = write!(
                    s,
                    "\n### {} (`{}`)\n\n```\n{}\n```\n",
                    run.what, run.file, run.table
                );
            }
        }
        s
    }

    /// The whole report as JSON, every sample included.
    fn json(&self) -> Value {
        let cell = |c: &Option<data::Cell>| {
            c.map(|c| json!({"mean": c.mean, "sd": c.sd, "n": c.n, "ratio": c.ratio}))
        };
        json!({
            "kernel": self.kernel,
            "date": self.date,
            "host_load": self.host_load,
            "source": self.source,
            "repeat": self.repeat,
            "vm_log": self.log.display().to_string(),
            "kernel_faults": self.kernel_faults,
            "rows": self.rows.iter().map(|r| {
                let cells: serde_json::Map<String, Value> = METRICS.iter().zip(&r.cells)
                    .map(|(m, c)| (m.id.to_string(), json!(cell(c)))).collect();
                json!({
                    "phase": r.phase, "sched": r.sched, "metrics": cells,
                    "sched_cpu_ms_per_s": r.cost.map(|c| c.cpu_ms_per_s),
                    "sched_cpu_ms_per_kdispatch": r.cost.and_then(|c| c.cpu_ms_per_kdispatch),
                    "sched_cpu_ms_per_kswitch": r.cost.and_then(|c| c.cpu_ms_per_kswitch),
                    "dispatches_per_s": r.cost.map(|c| c.dispatches_per_s),
                    "pgfaults_after_start": r.pgfaults_after_start,
                    "watchdog_exits": r.ejections,
                    "detached_samples": r.detached_samples,
                    "failed_to_attach": r.failed_to_attach,
                })
            }).collect::<Vec<_>>(),
            "targets": table::targets(&self.rows, &self.compared).iter()
                .map(|t| json!({"target": t.what, "measured": t.got, "met": t.met})).collect::<Vec<_>>(),
            "samples": self.data.samples.iter().map(|s| json!({
                "phase": s.phase, "sched": s.sched, "workload": s.workload, "rep": s.rep, "values": s.values,
            })).collect::<Vec<_>>(),
            "histograms": self.data.hists.iter().map(|h| json!({
                "phase": h.phase, "sched": h.sched, "rep": h.rep,
                "buckets_upper_us": h.buckets, "overflows": h.over,
            })).collect::<Vec<_>>(),
            "statuses": self.data.statuses.iter().map(|s| json!({
                "phase": s.phase, "sched": s.sched, "values": s.values,
            })).collect::<Vec<_>>(),
            "sim": self.sim.iter().map(|r| json!({
                "workload": r.file, "what": r.what, "comparison": r.table,
            })).collect::<Vec<_>>(),
            "rankings": self.rankings().iter().map(|(w, vm, sim)| json!({
                "what": w, "vm": vm, "sim": sim,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Writes report.json, report.md, latency.svg and ratios.svg to `out_dir`.
pub fn write_report(report: &Report, out_dir: &Path) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = out_dir.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(
        "report.json",
        &serde_json::to_string_pretty(&report.json())?,
    )?;
    write("report.md", &report.markdown())?;
    let series: Vec<(String, Vec<(u64, u64)>)> = report
        .rows
        .iter()
        .map(|r| (r.phase.clone(), data::phase_hist(&report.data, &r.phase)))
        .collect();
    write(
        "latency.svg",
        &svg::latency_plot(
            &format!(
                "cyclictest wakeup latency under CPU hogs ({})",
                report.kernel
            ),
            &series,
        ),
    )?;
    let titles: Vec<&str> = METRICS.iter().map(|m| m.id).collect();
    let bars: Vec<(String, Vec<Option<f64>>)> = report
        .rows
        .iter()
        .filter(|r| r.phase != data::DEFAULT)
        .map(|r| (r.phase.clone(), report.ratios_for(r)))
        .collect();
    write(
        "ratios.svg",
        &svg::ratio_bars(
            "Ratio to the default scheduler (times, latencies: lower is better; ops/s, fairness: higher)",
            &titles,
            &bars,
            // The default scheduler has the first colour in the latency plot.
            1,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rl-sim's JSON for the cyclictest workload (200 ms), as in the simulator's tests.
    const SIM_JSON: &str = include_str!("testdata/sim-cyclictest-200ms.json");

    #[test]
    fn rankings_compare_vm_and_sim_orders() {
        let log = "\
@@RL bench sample default default cyclictest 1 p99_us=100 max_us=1000
@@RL bench sample scx_rlfifo scx_rlfifo cyclictest 1 p99_us=300 max_us=900
@@RL bench sample scx_rlrr scx_rlrr cyclictest 1 p99_us=200 max_us=800
@@RL bench sample scx_rustland scx_rustland cyclictest 1 p99_us=150 max_us=700
";
        let data = data::parse_log(log);
        let sim = vec![SimRun::from_json("sim-cyclictest.toml", "", SIM_JSON).unwrap()];
        let report = Report {
            kernel: "k".into(),
            date: "d".into(),
            host_load: "0".into(),
            source: "abc".into(),
            repeat: 1,
            log: PathBuf::from("x.log"),
            rows: data::summarize(&data),
            compared: Vec::new(),
            data,
            sim,
            kernel_faults: Vec::new(),
        };
        let r = report.rankings();
        assert_eq!(r[0].1, "scx_rustland > scx_rlrr > scx_rlfifo");
        // The three policies give the cyclic group the same p99 (8.0us) in the test data.
        assert_eq!(r[0].2, "scx_rlfifo = scx_rlrr = scx_rustland");
        assert_eq!(
            ranking(
                &[("a".into(), 100.0), ("b".into(), 100.5), ("c".into(), 50.0)],
                false
            ),
            "b = a > c"
        );
        assert_eq!(r[2].1, "–");
        let md = report.markdown();
        assert!(md.contains("| wakeup latency under hogs (p99) |"), "{md}");
        let json = report.json();
        assert_eq!(json["rows"][1]["metrics"]["cyc_p99"]["ratio"], 3.0);
    }
}
