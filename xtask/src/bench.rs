//! `cargo xtask bench`: every bundled scheduler against the kernel's default
//! scheduler in one VM boot, with a JSON/markdown report, SVG plots and the
//! simulator's comparison of the same policies on matching workloads.
//!
//! - `vm`: the job, the boot and what the log says (guest side: xtask/guest/bench.sh);
//! - `data`: the guest's `@@RL bench` lines, statistics and summary rows;
//! - `sim`: `rl-sim --json` on the matching workloads (xtask/bench-workloads/);
//! - `report`, `table`, `svg`: the report files, its tables and its figures.
//!
//! The method is described in docs/benchmarks.md.

mod data;
mod report;
mod sim;
mod svg;
mod table;
mod vm;

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::util;
use crate::vm::VmArgs;
use crate::workspace;

/// A workload of one benchmark phase (see docs/benchmarks.md).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchWorkload {
    /// hackbench message passing (time).
    Hackbench,
    /// cyclictest wakeup latency under two CPU hogs.
    Cyclictest,
    /// three CPU hogs on two CPUs (throughput, fairness).
    Hogs,
    /// stress-ng's pipe-pair context switches.
    Switch,
}

impl BenchWorkload {
    /// The workload's name in the guest script (its `w_<name>` function).
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Hackbench => "hackbench",
            Self::Cyclictest => "cyclictest",
            Self::Hogs => "hogs",
            Self::Switch => "switch",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Repetitions of each workload per phase.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub repeat: u32,
    /// Also benchmark this sched_ext scheduler binary (repeatable); it is
    /// named after its file, which must differ from the bundled ones.
    #[arg(long = "compare-bin", value_name = "PATH")]
    pub compare_bins: Vec<PathBuf>,
    /// Benchmark only this bundled scheduler (repeatable). Default: all under bins/.
    #[arg(long = "sched", value_name = "NAME")]
    pub scheds: Vec<String>,
    /// Run only this workload (repeatable; default: all). Cells of the
    /// workloads left out are empty in the report.
    #[arg(long = "workload", value_enum, value_name = "NAME")]
    pub workloads: Vec<BenchWorkload>,
    /// Length of each cyclictest run, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub cyclictest_secs: u64,
    /// hackbench groups (40 tasks each).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub hackbench_groups: u32,
    /// hackbench loops (messages per sender).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub hackbench_loops: u32,
    /// Output directory (default: `<target dir>/bench`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not boot: rebuild the report from the log of an earlier run.
    #[arg(long, value_name = "VM_LOG")]
    pub from_log: Option<PathBuf>,
    /// Leave the simulator's comparison out.
    #[arg(long)]
    pub no_sim: bool,
}

/// Entry point of `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.repeat == 0 || args.repeat > 50 {
        bail!("--repeat must be 1..=50, got {}", args.repeat);
    }
    if args.cyclictest_secs == 0 || args.hackbench_groups == 0 || args.hackbench_loops == 0 {
        bail!("--cyclictest-secs, --hackbench-groups and --hackbench-loops must be positive");
    }
    let ws = workspace::load()?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("bench"));
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let load = if args.from_log.is_some() {
        "unknown (report rebuilt from a log)".to_string()
    } else {
        vm::host_load()
    };
    let source = vm::source_state();

    let (log_path, release, faults) = match &args.from_log {
        Some(log) => (log.clone(), None, Vec::new()),
        None => {
            let (log, release, faults) = vm::boot(args, &ws)?;
            (log, release, faults)
        }
    };
    let text = fs::read_to_string(&log_path)
        .with_context(|| format!("cannot read {}", log_path.display()))?;
    let release = release.or_else(|| vm::release_from_log(&text));
    let data = data::parse_log(&text);
    if data.samples.is_empty() {
        bail!(
            "no benchmark samples in {} (the guest reported none)",
            log_path.display()
        );
    }
    let sim = if args.no_sim {
        Vec::new()
    } else {
        sim::run_sim(&out_dir)
    };
    let rows = data::summarize(&data);
    let compared = rows
        .iter()
        .filter(|r| r.phase == r.sched && r.sched != "default")
        .filter(|r| !ws.schedulers.iter().any(|s| s.binary == r.sched))
        .map(|r| r.sched.clone())
        .collect();
    let report = report::Report {
        kernel: release.unwrap_or_else(|| "unknown".into()),
        date: util::timestamp(),
        host_load: load,
        source,
        repeat: args.repeat,
        log: log_path,
        rows,
        compared,
        data,
        sim,
        kernel_faults: faults,
    };
    report::write_report(&report, &out_dir)?;
    print!("\n{}", report.summary_text());
    println!("report: {}", out_dir.join("report.md").display());
    Ok(())
}
