//! `cargo xtask bench`: every bundled scheduler against the kernel's default
//! scheduler in one VM boot, with a JSON/markdown report, SVG plots and the
//! simulator's comparison of the same policies on matching workloads.
//!
//! Guest side: xtask/guest/bench.sh (appended to the boot's job script). The
//! method is described in docs/benchmarks.md.

mod data;
mod svg;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::initramfs;
use crate::kernel;
use crate::qemu::{self, VmConfig};
use crate::util;
use crate::vm::VmArgs;
use crate::workspace;

use data::{BenchData, Row, METRICS};

/// The guest script of the benchmark.
pub const BENCH_SCRIPT: &str = include_str!("../guest/bench.sh");

/// Which simulator policy stands for which bundled scheduler.
const SIM_POLICIES: &[(&str, &str)] = &[
    ("fifo", "scx_rlfifo"),
    ("rr", "scx_rlrr"),
    ("vruntime", "scx_rustland"),
];

/// Simulator workloads matching the VM's: (file name, what it stands for, TOML).
const SIM_WORKLOADS: &[(&str, &str, &str)] = &[
    (
        "sim-cyclictest.toml",
        "cyclictest under CPU hogs: 2 hogs and a 1 ms periodic waker on 2 CPUs",
        "[sim]\ncpus = 2\nduration = \"10s\"\nseed = 1\nkernel-tick = \"4ms\"\n\n\
         [[task]]\nname = \"hog\"\nkind = \"hog\"\ncount = 2\n\n\
         [[task]]\nname = \"cyclic\"\nkind = \"periodic\"\nrun = \"20us\"\nsleep = \"1ms\"\n",
    ),
    (
        "sim-hackbench.toml",
        "hackbench-like message passing: 40 ping-pong pairs on 2 CPUs",
        "[sim]\ncpus = 2\nduration = \"5s\"\nseed = 1\nkernel-tick = \"4ms\"\n\n\
         [[task]]\nname = \"msg\"\nkind = \"ping-pong\"\ncount = 40\nrun = \"15us\"\n",
    ),
];

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
    fn name(self) -> &'static str {
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
        host_load()
    };
    let source = source_state();

    let (log_path, release, faults) = match &args.from_log {
        Some(log) => (log.clone(), None, Vec::new()),
        None => {
            let (log, release, faults) = boot(args, &ws)?;
            (log, release, faults)
        }
    };
    let text = fs::read_to_string(&log_path)
        .with_context(|| format!("cannot read {}", log_path.display()))?;
    let release = release.or_else(|| release_from_log(&text));
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
        run_sim(&out_dir)
    };
    let report = Report {
        kernel: release.unwrap_or_else(|| "unknown".into()),
        date: util::timestamp(),
        host_load: load,
        source,
        repeat: args.repeat,
        log: log_path,
        rows: data::summarize(&data),
        data,
        sim,
        kernel_faults: faults,
    };
    write_report(&report, &out_dir)?;
    print!("\n{}", report.summary_text());
    println!("report: {}", out_dir.join("report.md").display());
    Ok(())
}

/// Boots the VM with the bench job; returns the log, the guest's kernel
/// release and any kernel fault lines.
fn boot(
    args: &BenchArgs,
    ws: &workspace::Workspace,
) -> Result<(PathBuf, Option<String>, Vec<String>)> {
    let scheds = ws.select(&args.scheds)?;
    let mut extra_names = Vec::new();
    for path in &args.compare_bins {
        if !path.is_file() {
            bail!("--compare-bin {}: no such file", path.display());
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            })
            .with_context(|| {
                format!(
                    "--compare-bin {}: the file name must be plain ASCII (letters, digits, _ - .)",
                    path.display()
                )
            })?
            .to_string();
        if scheds.iter().any(|s| s.binary == name)
            || extra_names.contains(&name)
            || name == "default"
        {
            bail!(
                "--compare-bin {}: the name `{name}` is taken; copy the binary under another name",
                path.display()
            );
        }
        extra_names.push(name);
    }
    let kernels = kernel::resolve(&args.vm.kernel)?;
    let kernel = kernels.first().context("no kernel to boot")?;
    let mut binaries = ws.build(&scheds)?;
    binaries.extend(args.compare_bins.iter().cloned());
    let names: Vec<&str> = scheds.iter().map(|s| s.binary.as_str()).collect();
    let key = format!("bench-{:016x}", fnv1a(&format!("{names:?}{extra_names:?}")));
    let base = initramfs::base_image(&ws.target_dir.join("xtask/initramfs").join(key), &binaries)?;

    let job = format!(
        "RL_BENCH_SCHEDS='{}'\nRL_BENCH_EXTRA='{}'\nRL_BENCH_REPEAT={}\nRL_BENCH_CYC_SECS={}\n\
         RL_BENCH_HB_GROUPS={}\nRL_BENCH_HB_LOOPS={}\nRL_BENCH_WORKLOADS='{}'\n{BENCH_SCRIPT}",
        names.join(" "),
        extra_names.join(" "),
        args.repeat,
        args.cyclictest_secs,
        args.hackbench_groups,
        args.hackbench_loops,
        workload_list(&args.workloads),
    );
    // warm-up under the default scheduler and under the first sched_ext one, default, ..., default again
    let phases = 4 + scheds.len() + extra_names.len();
    let per_rep =
        15 + args.cyclictest_secs + u64::from(args.hackbench_groups * args.hackbench_loops) / 40;
    let estimate = phases as u64 * (20 + u64::from(args.repeat) * per_rep);
    let timeout = args.vm.timeout.unwrap_or(300 + 2 * estimate);
    println!(
        "bench: booting {} with {} phase(s) (warm-ups, default, {}{}default again), {} repetition(s); \
         about {} min",
        kernel.label,
        phases,
        names.join(", "),
        if extra_names.is_empty() { ", ".to_string() } else { format!(", {}, ", extra_names.join(", ")) },
        args.repeat,
        estimate.div_ceil(60)
    );

    let logs = ws.target_dir.join("xtask/logs");
    fs::create_dir_all(&logs)?;
    // Multi-threaded TCG now and then leaves the guest kernel hitting a stale int3 while it patches code (see
    // vm-test). A faulted boot's figures are suspect: boot once more, in the same TCG mode so that the figures stay
    // comparable with other runs, and report the second boot (its faults, if any, are in the report).
    let mut attempt = 1;
    loop {
        let (log_path, report) = boot_once(args, kernel, &base, &job, timeout, &logs)?;
        if report.kernel_faults.is_empty() || attempt == 2 {
            return Ok((log_path, report.release, report.kernel_faults));
        }
        println!(
            "bench: kernel fault in the guest ({}); booting once more. Log of the faulted boot: {}",
            report.kernel_faults[0].trim(),
            log_path.display()
        );
        attempt += 1;
    }
}

/// One boot of the benchmark VM: its log and what qemu's watcher saw.
fn boot_once(
    args: &BenchArgs,
    kernel: &kernel::Kernel,
    base: &Path,
    job: &str,
    timeout: u64,
    logs: &Path,
) -> Result<(PathBuf, qemu::VmReport)> {
    let nonce = format!(
        "{:x}{:x}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() & 0xffff_ffff)
            .unwrap_or(0)
    );
    let log_path = logs.join(format!("bench-{}-{}.log", kernel.label, util::timestamp()));
    let initrd = logs.join(format!(".initrd-{nonce}.cpio"));
    initramfs::with_job(base, &format!("RL_NONCE={nonce}\n{job}"), &initrd)?;
    let config = VmConfig {
        kernel,
        initrd: initrd.clone(),
        kvm: args.vm.kvm,
        tcg_single_thread: args.vm.single_thread(),
        cpu: args.vm.cpu.as_deref().unwrap_or(qemu::DEFAULT_CPU),
        timeout: Duration::from_secs(timeout),
        first_line_timeout: Duration::from_secs(if args.vm.kvm { 60 } else { 180 }),
        log_path: log_path.clone(),
        nonce,
        stream: false,
    };
    let report = qemu::boot(&config);
    let _ = fs::remove_file(&initrd);
    let report = report?;
    println!("full VM log: {}", log_path.display());
    for err in &report.errors {
        eprintln!("bench: VM problem: {err}");
    }
    if !report.nonce_ok && report.release.is_some() {
        bail!("the guest echoed a wrong nonce; see {}", log_path.display());
    }
    Ok((log_path, report))
}

/// The guest's workload list: the chosen ones in the standard order, or all.
fn workload_list(chosen: &[BenchWorkload]) -> String {
    use BenchWorkload::*;
    [Hackbench, Cyclictest, Hogs, Switch]
        .into_iter()
        .filter(|w| chosen.is_empty() || chosen.contains(w))
        .map(BenchWorkload::name)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn release_from_log(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("guest| @@RL hello "))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .map(String::from)
}

/// The commit the schedulers were built from, and whether the scheduler
/// sources had uncommitted changes.
fn source_state() -> String {
    let root = util::workspace_root();
    let git = |args: &[&str]| util::output(Command::new("git").args(args).current_dir(&root));
    match git(&["rev-parse", "--short", "HEAD"]) {
        Ok(rev) => {
            let dirty = git(&["status", "--porcelain", "--", "crates", "bins", "examples"])
                .map(|s| !s.trim().is_empty())
                .unwrap_or(false);
            format!(
                "{}{}",
                rev.trim(),
                if dirty {
                    " with uncommitted changes"
                } else {
                    ""
                }
            )
        }
        Err(_) => "unknown".into(),
    }
}

fn host_load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The simulator's run of one workload.
#[derive(Debug, Clone, PartialEq)]
struct SimRun {
    file: String,
    what: String,
    /// The comparison table rl-sim printed (or the error).
    table: String,
    /// metric -> (policy -> value text)
    metrics: Vec<(String, Vec<String>)>,
}

/// Runs rl-sim on the matching workloads; problems end up in the table text.
fn run_sim(out_dir: &Path) -> Vec<SimRun> {
    println!("bench: running the simulator on the matching workloads");
    SIM_WORKLOADS
        .iter()
        .map(|(file, what, toml)| {
            let path = out_dir.join(file);
            let table = fs::write(&path, toml)
                .map_err(anyhow::Error::from)
                .and_then(|()| {
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
                            .args(["--policy", "all"])
                            .arg(&path)
                            .current_dir(util::workspace_root()),
                    )
                })
                .map(|out| comparison_section(&out))
                .unwrap_or_else(|e| format!("rl-sim failed: {e:#}"));
            SimRun {
                file: file.to_string(),
                what: what.to_string(),
                metrics: parse_comparison(&table),
                table,
            }
        })
        .collect()
}

/// The `== comparison` part of rl-sim's output (all of it when absent).
fn comparison_section(output: &str) -> String {
    match output.find("== comparison") {
        Some(i) => output[i..].trim_end().to_string(),
        None => output.trim_end().to_string(),
    }
}

/// Rows of rl-sim's comparison table: the metric name and one value per
/// policy (the last `SIM_POLICIES.len()` words of a line).
fn parse_comparison(table: &str) -> Vec<(String, Vec<String>)> {
    let n = SIM_POLICIES.len();
    table
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("metric"))
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() <= n {
                return None;
            }
            let (name, vals) = words.split_at(words.len() - n);
            Some((name.join(" "), vals.iter().map(|v| v.to_string()).collect()))
        })
        .collect()
}

/// Parses a duration or percentage as rl-sim prints it (`8.0us`, `20.01ms`,
/// `1.2s`, `0ns`, `97.3%`, `123`) into a plain number (ns for durations).
fn sim_number(text: &str) -> Option<f64> {
    for (suffix, scale) in [
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("%", 1.0),
    ] {
        if let Some(num) = text.strip_suffix(suffix) {
            return num.parse::<f64>().ok().map(|v| v * scale);
        }
    }
    text.parse().ok()
}

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

struct Report {
    kernel: String,
    date: String,
    host_load: String,
    source: String,
    repeat: u32,
    log: PathBuf,
    data: BenchData,
    rows: Vec<Row>,
    sim: Vec<SimRun>,
    kernel_faults: Vec<String>,
}

/// (description, VM metric id, sim workload file, sim metric row, lower is better)
const RANK_PAIRS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "wakeup latency under hogs (p99)",
        "cyc_p99",
        "sim-cyclictest.toml",
        "cyclic lat-p99",
        true,
    ),
    (
        "wakeup latency under hogs (max)",
        "cyc_max",
        "sim-cyclictest.toml",
        "cyclic wait-max",
        true,
    ),
    (
        "message passing throughput",
        "hackbench",
        "sim-hackbench.toml",
        "completed",
        false,
    ),
];

impl Report {
    fn ratios_for(&self, row: &Row) -> Vec<Option<f64>> {
        row.cells.iter().map(|c| c.and_then(|c| c.ratio)).collect()
    }

    /// Ranking of the bundled schedulers in the VM and in the simulator.
    fn rankings(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (what, metric, file, sim_metric, lower) in RANK_PAIRS {
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
                .and_then(|s| s.metrics.iter().find(|(m, _)| m == sim_metric))
                .map(|(_, vals)| {
                    SIM_POLICIES
                        .iter()
                        .zip(vals)
                        .filter_map(|((_, sched), v)| Some((sched.to_string(), sim_number(v)?)))
                        .collect()
                })
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

    fn summary_text(&self) -> String {
        let mut s = format!(
            "Kernel {}, {} repetition(s); cells are mean ± σ (ratio to the default scheduler's mean)\n\n",
            self.kernel, self.repeat
        );
        s.push_str(&data::render_table(&self.rows));
        s.push_str("\nTargets for scx_rustland (docs/benchmarks.md):\n\n| target | measured | met |\n| --- | --- | --- |\n");
        for t in data::targets(&self.rows, "scx_rustland") {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "–",
            };
            let _ = writeln!(s, "| {} | {} | {met} |", t.what, t.got);
        }
        s
    }

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
                    "dispatches_per_s": r.cost.map(|c| c.dispatches_per_s),
                    "pgfaults_after_start": r.pgfaults_after_start,
                    "watchdog_exits": r.ejections,
                    "detached_samples": r.detached_samples,
                    "failed_to_attach": r.failed_to_attach,
                })
            }).collect::<Vec<_>>(),
            "targets": data::targets(&self.rows, "scx_rustland").iter()
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

fn write_report(report: &Report, out_dir: &Path) -> Result<()> {
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

    const COMPARISON: &str = "\
noise before
== comparison (seed 1, 2 CPUs)
metric                                 fifo             rr       vruntime
exit                                   Done           Done           Done
cyclic lat-p99                        8.0us        20.01ms          1.5ms
completed                              9709           9000          12000
";

    #[test]
    fn sim_comparison_is_parsed() {
        let section = comparison_section(COMPARISON);
        assert!(section.starts_with("== comparison"));
        let rows = parse_comparison(&section);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].0, "cyclic lat-p99");
        assert_eq!(rows[1].1, ["8.0us", "20.01ms", "1.5ms"]);
        assert_eq!(sim_number("8.0us"), Some(8000.0));
        assert_eq!(sim_number("20.01ms"), Some(20_010_000.0));
        assert_eq!(sim_number("97.5%"), Some(97.5));
        assert_eq!(sim_number("Done"), None);
    }

    #[test]
    fn rankings_compare_vm_and_sim_orders() {
        let log = "\
@@RL bench sample default default cyclictest 1 p99_us=100 max_us=1000
@@RL bench sample scx_rlfifo scx_rlfifo cyclictest 1 p99_us=300 max_us=900
@@RL bench sample scx_rlrr scx_rlrr cyclictest 1 p99_us=200 max_us=800
@@RL bench sample scx_rustland scx_rustland cyclictest 1 p99_us=150 max_us=700
";
        let data = data::parse_log(log);
        let sim = vec![SimRun {
            file: "sim-cyclictest.toml".into(),
            what: String::new(),
            metrics: parse_comparison(COMPARISON),
            table: String::new(),
        }];
        let report = Report {
            kernel: "k".into(),
            date: "d".into(),
            host_load: "0".into(),
            source: "abc".into(),
            repeat: 1,
            log: PathBuf::from("x.log"),
            rows: data::summarize(&data),
            data,
            sim,
            kernel_faults: Vec::new(),
        };
        let r = report.rankings();
        assert_eq!(r[0].1, "scx_rustland > scx_rlrr > scx_rlfifo");
        assert_eq!(r[0].2, "scx_rlfifo > scx_rustland > scx_rlrr");
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

    /// Runs a guest workload function on the host with stub tools (name,
    /// shell script body) first on PATH; returns the tagged lines it printed.
    fn run_guest(tools: &[(&str, &str)], setup: &str, call: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "xtask-bench-{}-{}",
            std::process::id(),
            call.replace(' ', "-")
        ));
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        for (name, body) in tools {
            let path = bin.join(name);
            fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let script = format!(
            "{}\n{BENCH_SCRIPT}\nRL_BENCH_TMP={}\nPATH={}:$PATH\nrl() {{ echo \"@@RL $*\"; }}\nsleep() {{ :; }}\n{awk}\n\
             {setup}\nRL_PHASE=p\nRL_BENCH_NAME=s\n{call}\n",
            initramfs::LIB_SCRIPT,
            dir.display(),
            bin.display(),
            // The guest's awk is busybox's: use it when the host has it.
            awk = if util::which("busybox").is_some() {
                "awk() { busybox awk \"$@\"; }"
            } else {
                ""
            },
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    const STRESS_NG: &str = "echo 'stress-ng: metrc: [1] cpu  100  1.00  1.0  0.0  250.50  100.00'";

    #[test]
    fn guest_percentiles_and_buckets_come_from_the_histogram() {
        // 1 us: 2, 2 us: 3, 3 us: 1, 7 us: 3, 10 us: 1, one overflow (11 samples).
        let cyclictest = r#"
for a in "$@"; do case "$a" in --histfile=*) f=${a#--histfile=} ;; esac; done
i=0
while [ $i -lt 16 ]; do
    case $i in 1) c=2 ;; 2) c=3 ;; 3) c=1 ;; 7) c=3 ;; 10) c=1 ;; *) c=0 ;; esac
    printf '%06d %06d\n' $i $c
    i=$((i + 1))
done >"$f"
printf '# Min Latencies: 00001\n# Avg Latencies: 00004\n# Max Latencies: 00025\n# Histogram Overflows: 00001\n' >>"$f"
"#;
        let out = run_guest(
            &[("cyclictest", cyclictest), ("stress-ng", STRESS_NG)],
            "RL_BENCH_HIST_US=16",
            "w_cyclictest 3",
        );
        let data = data::parse_log(&out);
        let s = &data.samples[0];
        assert_eq!((s.workload.as_str(), s.rep), ("cyclictest", 3), "{out}");
        let v = |k: &str| s.values[k];
        assert_eq!(v("samples"), 11.0);
        assert_eq!(v("p50_us"), 3.0);
        // p99 falls on the overflow: reported as the histogram's end
        assert_eq!(v("p99_us"), 16.0);
        assert_eq!((v("avg_us"), v("max_us"), v("overflows")), (4.0, 25.0, 1.0));
        assert_eq!(v("hog_ops_s"), 250.5);
        assert_eq!(v("attached"), 1.0);
        let h = &data.hists[0];
        assert_eq!(h.buckets, [(1, 0), (2, 2), (4, 4), (8, 3), (16, 1)]);
        assert_eq!(h.over, 1);
    }

    #[test]
    fn guest_idle_time_is_a_percentage_per_cpu() {
        // 500 ticks idle of 10 s on cpu0 (50 %), none on cpu1; a CPU missing at the end is left out.
        let out = run_guest(
            &[],
            "",
            "echo \"@@RL bench sample p s x 1 $(idle_pct 'cpu0:100 cpu1:50 cpu2:7' 'cpu0:600 cpu1:50' 10)\"",
        );
        let v = &data::parse_log(&out).samples[0].values;
        assert_eq!(v["idle_cpu0"], 50.0, "{out}");
        assert_eq!(v["idle_cpu1"], 0.0);
        assert!(!v.contains_key("idle_cpu2"));
        // A workload's sample carries each CPU's idle time over its window: a fake clock (5 s per look) and fake
        // idle counters (100 more ticks on cpu0, 400 on cpu1 per look) give 20 % and 80 % whatever the host.
        let clock = r#"
uptime_s() { n=$(cat "$RL_BENCH_TMP/up" 2>/dev/null || echo 100); echo $((n + 5)) >"$RL_BENCH_TMP/up"; echo "$n.00"; }
idle_ticks() { n=$(cat "$RL_BENCH_TMP/idle" 2>/dev/null || echo 0); echo $((n + 1)) >"$RL_BENCH_TMP/idle"; echo "cpu0:$((n * 100)) cpu1:$((n * 400)) "; }
"#;
        let out = run_guest(&[("stress-ng", STRESS_NG)], clock, "w_hogs 2");
        let v = &data::parse_log(&out).samples[0].values;
        assert_eq!(v["wall_s"], 5.0, "{out}");
        assert_eq!((v["idle_cpu0"], v["idle_cpu1"]), (20.0, 80.0), "{out}");
        // The idle counters are read from /proc/stat, one `cpuN:ticks` per CPU.
        let out = run_guest(&[], "", "echo \"@@RL ticks $(idle_ticks)\"");
        let ticks = out.trim().strip_prefix("@@RL ticks ").unwrap_or_default();
        assert!(ticks.starts_with("cpu0:"), "{out}");
        assert!(
            ticks.split_whitespace().all(|t| t
                .split_once(':')
                .is_some_and(|(cpu, n)| cpu.starts_with("cpu") && n.parse::<u64>().is_ok())),
            "{out}"
        );
    }

    #[test]
    fn guest_hogs_report_total_throughput_and_fairness() {
        let out = run_guest(&[("stress-ng", STRESS_NG)], "", "w_hogs 1");
        let data = data::parse_log(&out);
        let v = &data.samples[0].values;
        assert_eq!(v["ops_s"], 751.5, "{out}");
        assert_eq!(v["jain"], 1.0);
        assert_eq!(v["hog2"], 250.5);
    }

    #[test]
    fn workload_filter_keeps_the_standard_order() {
        use BenchWorkload::*;
        assert_eq!(workload_list(&[]), "hackbench cyclictest hogs switch");
        assert_eq!(workload_list(&[Switch, Cyclictest]), "cyclictest switch");
        for w in [Hackbench, Cyclictest, Hogs, Switch] {
            assert!(BENCH_SCRIPT.contains(&format!("\nw_{}() {{", w.name())));
        }
    }

    #[test]
    fn job_script_selects_the_bench_mode() {
        assert!(BENCH_SCRIPT.contains("\nRL_MODE=bench\n"));
        assert!(initramfs::LIB_SCRIPT.contains("bench) rl_bench ;;"));
        for w in ["hackbench", "cyclictest", "hogs", "switch"] {
            assert!(BENCH_SCRIPT.contains(&format!("\nw_{w}() {{")), "no w_{w}");
        }
    }
}
