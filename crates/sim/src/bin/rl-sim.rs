//! `rl-sim`: runs a bundled policy (or all of them) on a workload file in the simulator and prints a report, as
//! text tables or (`--json`) as one JSON document.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use rustland_core::Policy;
use rustland_policy_fifo::{Fifo, FifoConfig};
use rustland_policy_rr::{RoundRobin, RrConfig};
use rustland_policy_vruntime::{Vruntime, VruntimeConfig};
use rustland_sim::{parse_duration, render_comparison, simulate, SimConfig, SimReport, Workload};
use serde::Serialize;

/// Run a rustland policy on a simulated machine and report CPU shares, wakeup latency, fairness and dispatches.
#[derive(Debug, Parser)]
#[command(name = "rl-sim", version)]
struct Args {
    /// Workload file (TOML, or JSON if the name ends in .json); see docs/simulator.md.
    workload: PathBuf,
    /// Policy to run; `all` runs each on the same workload and seed and compares them.
    #[arg(short, long, value_enum, default_value_t = PolicyArg::All)]
    policy: PolicyArg,
    /// Seed of the simulation (overrides the file's `seed`).
    #[arg(short, long)]
    seed: Option<u64>,
    /// Simulated time, e.g. `10s` or `500ms` (overrides the file's `duration`).
    #[arg(short, long, value_parser = parse_duration)]
    duration: Option<u64>,
    /// Number of CPUs (overrides the file's `cpus`).
    #[arg(short, long)]
    cpus: Option<u32>,
    /// Turn the kernel side's idle-CPU fast path off, so the policy sees every wakeup.
    #[arg(long)]
    no_fast_path: bool,
    /// The kernel's scheduler tick, e.g. `4ms` for HZ=250: slices end on tick boundaries (default: exactly).
    #[arg(long, value_parser = parse_duration)]
    kernel_tick: Option<u64>,
    /// Direct wakeups for timer-woken tasks whose last burst was at most this long, e.g. `500us` (as
    /// `scx_rustland --direct-wakeup-us 500`); `0` turns them off (overrides the file's `direct-wakeup`).
    #[arg(long, value_parser = parse_duration)]
    direct_wakeup: Option<u64>,
    /// Slice of the policy (fifo, vruntime) or quantum (rr), e.g. `5ms`; the policy's default otherwise.
    #[arg(long, value_parser = parse_duration)]
    slice: Option<u64>,
    /// Print the reports as one JSON document (the settings and, per policy, its report and metrics) instead of
    /// text tables.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct JsonOutput<'a> {
    /// The seed of every run.
    seed: u64,
    /// CPUs simulated.
    nr_cpus: u32,
    /// Simulated time of each run (ns).
    duration_ns: u64,
    /// One per policy, in the order they ran.
    runs: Vec<JsonRun<'a>>,
    /// With more than one policy, the side-by-side table the text output ends with.
    comparison: Option<String>,
}

/// One policy's run in `--json` output.
#[derive(Serialize)]
struct JsonRun<'a> {
    /// The policy's name.
    policy: &'a str,
    /// What the simulator measured.
    report: &'a SimReport,
    /// The policy's own metrics.
    metrics: BTreeMap<&'static str, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    Fifo,
    Rr,
    Vruntime,
    All,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(stalled) if stalled => ExitCode::from(2),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rl-sim: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs what `args` asks for; `Ok(true)` if any run ended with a watchdog stall.
fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let workload = Workload::from_file(&args.workload)?;
    let mut config = SimConfig::default();
    workload.sim.apply(&mut config);
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(d) = args.duration {
        config.duration_ns = d;
    }
    if let Some(c) = args.cpus {
        config.nr_cpus = c;
    }
    if let Some(t) = args.kernel_tick {
        config.kernel_tick_ns = t;
    }
    if let Some(d) = args.direct_wakeup {
        config.direct_wakeup_max_ns = d;
    }
    if args.no_fast_path {
        config.idle_fast_path = false;
    }
    config.validate()?;
    workload.validate(config.nr_cpus)?;

    let policies: &[PolicyArg] = match args.policy {
        PolicyArg::All => &[PolicyArg::Fifo, PolicyArg::Rr, PolicyArg::Vruntime],
        ref one => std::slice::from_ref(one),
    };
    let runs = policies
        .iter()
        .map(|&p| run_one(p, args.slice, &config, &workload))
        .collect::<Result<Vec<_>, _>>()?;
    let stalled = runs.iter().any(|r| r.report.exit.is_error());
    if args.json {
        let side_by_side: Vec<(&str, &SimReport)> =
            runs.iter().map(|r| (r.name, &r.report)).collect();
        let output = JsonOutput {
            seed: config.seed,
            nr_cpus: config.nr_cpus,
            duration_ns: config.duration_ns,
            comparison: (runs.len() > 1).then(|| comparison_text(&config, &side_by_side)),
            runs: runs
                .iter()
                .map(|r| JsonRun {
                    policy: r.name,
                    report: &r.report,
                    metrics: r.metrics.iter().copied().collect(),
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(stalled);
    }
    let mut reports = Vec::new();
    for run in runs {
        print!("{}", run.report.render(run.name));
        if !run.metrics.is_empty() {
            let pairs: String = run
                .metrics
                .iter()
                .map(|(key, value)| format!(" {key}={value}"))
                .collect();
            println!("policy {}:{pairs}", run.name);
        }
        println!();
        reports.push((run.name, run.report));
    }
    if reports.len() > 1 {
        let runs: Vec<(&str, &SimReport)> = reports.iter().map(|(n, r)| (*n, r)).collect();
        print!("{}", comparison_text(&config, &runs));
    }
    Ok(stalled)
}

/// The side-by-side table of several policies' runs, under its heading.
fn comparison_text(config: &SimConfig, runs: &[(&str, &SimReport)]) -> String {
    format!(
        "== comparison (seed {}, {} CPUs)\n{}",
        config.seed,
        config.nr_cpus,
        render_comparison(runs)
    )
}

/// One policy's run.
struct Run {
    name: &'static str,
    report: SimReport,
    /// The policy's own metrics, in the order it reported them.
    metrics: Vec<(&'static str, u64)>,
}

fn run_one(
    policy: PolicyArg,
    slice: Option<u64>,
    config: &SimConfig,
    workload: &Workload,
) -> Result<Run, Box<dyn std::error::Error>> {
    fn go<P: Policy>(p: P, c: &SimConfig, w: &Workload) -> Result<Run, Box<dyn std::error::Error>> {
        let name = p.name();
        let outcome = simulate(p, c.clone(), w)?;
        let mut metrics = Vec::new();
        outcome
            .policy
            .metrics(&mut |key, value| metrics.push((key, value)));
        Ok(Run {
            name,
            report: outcome.report,
            metrics,
        })
    }
    match policy {
        PolicyArg::Fifo => {
            let mut c = FifoConfig::default();
            if let Some(s) = slice {
                c.slice_ns = s;
                c.min_slice_ns = c.min_slice_ns.min(s);
            }
            c.validate()?;
            go(Fifo::new(c), config, workload)
        }
        PolicyArg::Rr => {
            let mut c = RrConfig::default();
            if let Some(s) = slice {
                c.quantum_ns = s;
            }
            c.validate()?;
            go(RoundRobin::new(c), config, workload)
        }
        PolicyArg::Vruntime => {
            let mut c = VruntimeConfig::default();
            if let Some(s) = slice {
                c.slice_ns = s;
                c.min_slice_ns = c.min_slice_ns.min(s);
                c.max_runtime_bonus_ns = c.max_runtime_bonus_ns.max(s);
            }
            c.validate()?;
            go(Vruntime::new(c), config, workload)
        }
        PolicyArg::All => unreachable!("expanded by the caller"),
    }
}
