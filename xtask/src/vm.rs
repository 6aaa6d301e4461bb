//! `vm-test` and `vm-run`: the schedulers inside qemu.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};

use crate::initramfs;
use crate::kernel::{self, Kernel};
use crate::qemu::{self, Status, VmConfig, VmReport};
use crate::util;
use crate::workspace::{self, Scheduler, Workspace};
use crate::KernelArgs;

/// The scenarios run for each scheduler, in order (see xtask/guest/scenarios.sh and stall.sh).
/// Each needs a `sc_<name>` function in the guest library.
pub const SCENARIOS: &[&str] = &[
    "attach", "survival", "dispatch", "exits", "direct", "batched", "sigstop", "hotplug",
    "sigterm", "detach",
];

/// The fault scenarios, run after [`SCENARIOS`] with `--faults`
/// (CI always runs them). See docs/reliability.md.
pub const FAULT_SCENARIOS: &[&str] = &[
    "churn", "cimix", "pinned", "second", "unpriv", "memory", "sigkill", "partial", "panic",
    "spin", "threads", "custody", "starve", "badcli",
];

/// Scenarios run only when named with `--scenario` (measurements rather than checks of ours).
pub const PROBE_SCENARIOS: &[&str] = &["cycles"];

/// Seconds the fault scenarios add per scheduler under TCG (for the timeout).
const FAULT_SECS_PER_SCHED: u64 = 350;

/// The guest helper binary (xtask/src/bin/rl-guest.rs), put in the initramfs.
const GUEST_HELPER: &str = "rl-guest";

/// Checks of the kernel itself, run on every boot before any scheduler.
const KERNEL_CHECKS: &[&str] = &["boot", "sched_ext", "btf", "tools"];

/// stress-ng arguments of the survival load, sized for 2 TCG vCPUs: CPU
/// hogs, fork churn and affinity churn, in the spirit of upstream CI.
const SURVIVAL_STRESS: &str = "-c 2 -f 2 --affinity 2 --affinity-delay 1 --affinity-pin";

/// Options shared by the VM commands.
#[derive(Args, Debug, Clone, Default)]
pub struct VmArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Use KVM (`-accel kvm -cpu host`) instead of TCG. Only where /dev/kvm
    /// runs stock kernels correctly.
    #[arg(long)]
    pub kvm: bool,
    /// Kill a VM still running after this many seconds (default: sized to the job).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// How TCG emulates the two vCPUs: `single` (the default: one host thread, `-accel tcg,thread=single`) or
    /// `multi` (a thread each), where the guest kernel now and then hits a stale int3 after it patches its code
    /// (docs/reliability.md has the figures).
    #[arg(long, value_enum, default_value_t = TcgThreads::Single, value_name = "MODE")]
    pub tcg_threads: TcgThreads,
    /// CPU model qemu emulates under TCG (`-cpu MODEL`, e.g. `qemu64`, `Skylake-Client`; default `max`).
    #[arg(long, value_name = "MODEL")]
    pub cpu: Option<String>,
}

/// How TCG runs the guest's vCPUs (`--tcg-threads`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcgThreads {
    /// All vCPUs on one host thread.
    #[default]
    Single,
    /// One host thread per vCPU.
    Multi,
}

impl VmArgs {
    /// Whether TCG runs all vCPUs on one host thread.
    pub fn single_thread(&self) -> bool {
        self.tcg_threads == TcgThreads::Single
    }
}

/// Options of `cargo xtask vm-test`.
#[derive(Args, Debug, Clone, Default)]
pub struct VmTestArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Test only this scheduler (repeatable). Default: every package under bins/.
    #[arg(long = "sched", value_name = "NAME")]
    pub scheds: Vec<String>,
    /// Run only this scenario (repeatable). Default: all of them.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Also run the fault scenarios (SIGKILL, churn, --partial, a second
    /// scheduler, unprivileged start, page faults and memory, a panicking
    /// policy, bad options) after the default ones. `cargo xtask ci` does.
    #[arg(long)]
    pub faults: bool,
    /// Length of the survival load in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub survival_secs: u64,
    /// With `--tcg-threads multi`, a boot with a kernel fault fails at once instead of being booted again
    /// single-threaded.
    #[arg(long)]
    pub no_retry: bool,
}

/// Demo workloads for `vm-run`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// stress-ng CPU hogs and fork churn.
    Stress,
    /// hackbench in a loop (message passing between many tasks).
    Hackbench,
    /// No load: the scheduler only serves the guest's own tasks.
    None,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Stress => "stress",
            Workload::Hackbench => "hackbench",
            Workload::None => "none",
        }
    }
}

/// Options of `cargo xtask vm-run`.
#[derive(Args, Debug, Clone)]
pub struct VmRunArgs {
    /// Scheduler to run (a binary under bins/).
    pub scheduler: String,
    #[command(flatten)]
    pub vm: VmArgs,
    /// How long to run the workload, in seconds.
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    pub secs: u64,
    /// Demo workload run while the scheduler is attached.
    #[arg(long, value_enum, default_value_t = Workload::Stress)]
    pub workload: Workload,
    /// Extra arguments for the scheduler (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// Entry point of `cargo xtask vm-test`.
pub fn vm_test(args: &VmTestArgs) -> Result<()> {
    let ws = workspace::load()?;
    let scheds = ws.select(&args.scheds)?;
    let scenarios = select_scenarios(&args.scenarios, args.faults)?;
    let kernels = kernel::resolve(&args.vm.kernel)?;
    if scheds.is_empty() {
        println!("vm-test: no schedulers under bins/ yet: checking the kernels only");
    }
    let base = build_image(&ws, &scheds)?;

    let faults = scenarios.iter().any(|s| FAULT_SCENARIOS.contains(s));
    let per_sched = args.survival_secs + 150 + if faults { FAULT_SECS_PER_SCHED } else { 0 };
    let timeout = args
        .vm
        .timeout
        .unwrap_or(180 + per_sched * scheds.len() as u64);
    let mut rows = Vec::new();
    let mut logs = Vec::new();
    for kernel in &kernels {
        println!(
            "vm-test: booting {} ({})",
            kernel.label,
            kernel.vmlinuz.display()
        );
        let job = test_job(&scheds, &scenarios, args.survival_secs);
        let (mut report, mut log) = boot_job(&ws, kernel, &base, &job, &args.vm, timeout, false)?;
        // Multi-threaded TCG (opt-in) now and then leaves the guest kernel hitting a stale int3 while it patches
        // code (seen with upstream's schedulers too): such a boot is retried once with single-threaded TCG, which
        // has not shown it, and a kernel fault on the retry fails the run. The first log is kept and named.
        if !report.kernel_faults.is_empty()
            && !args.no_retry
            && !args.vm.kvm
            && !args.vm.single_thread()
        {
            println!(
                "vm-test: kernel fault on {} ({}); booting it once more with single-threaded TCG. Log of the faulted boot: {}",
                kernel.label,
                report.kernel_faults[0],
                log.display()
            );
            logs.push(log);
            let single = VmArgs {
                tcg_threads: TcgThreads::Single,
                ..args.vm.clone()
            };
            (report, log) = boot_job(&ws, kernel, &base, &job, &single, timeout * 2, false)?;
        }
        rows.extend(summary_rows(
            kernel,
            &report,
            KERNEL_CHECKS,
            &scheds,
            &scenarios,
        ));
        logs.push(log);
    }
    print_summary(&rows);
    for log in &logs {
        println!("full VM log: {}", log.display());
    }
    // Repeated last, whole, so that the tail of a long CI log still names what failed and why.
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.ok()).collect();
    for r in &failed {
        println!(
            "FAILED: {} {} {}: {} {}",
            r.kernel, r.subject, r.scenario, r.status, r.detail
        );
    }
    if !failed.is_empty() {
        bail!("vm-test: {} check(s) failed", failed.len());
    }
    println!("vm-test: all {} checks passed", rows.len());
    Ok(())
}

/// Entry point of `cargo xtask vm-run`.
pub fn vm_run(args: &VmRunArgs) -> Result<()> {
    let ws = workspace::load()?;
    let sched = ws.select(std::slice::from_ref(&args.scheduler))?;
    let kernels = kernel::resolve(&args.vm.kernel)?;
    let Some(kernel) = kernels.first() else {
        bail!("no kernel to boot");
    };
    if kernels.len() > 1 {
        println!(
            "vm-run: several kernels given; booting the first, {}",
            kernel.label
        );
    }
    let base = build_image(&ws, &sched)?;
    let timeout = args.vm.timeout.unwrap_or(args.secs + 240);
    let job = run_job(&sched[0], args);
    println!(
        "vm-run: booting {} with {} (--stats 1 {}) under a {} workload for {} s",
        kernel.label,
        sched[0].binary,
        args.args.join(" "),
        args.workload.name(),
        args.secs
    );
    let (report, log) = boot_job(&ws, kernel, &base, &job, &args.vm, timeout, true)?;
    let rows = summary_rows(kernel, &report, &[], &[], &[]);
    let problems: Vec<&Row> = rows.iter().filter(|r| !r.ok()).collect();
    println!("full VM log: {}", log.display());
    if !problems.is_empty() {
        print_summary(&rows);
        bail!("vm-run: {} problem(s)", problems.len());
    }
    Ok(())
}

fn select_scenarios(names: &[String], faults: bool) -> Result<Vec<&'static str>> {
    let all = SCENARIOS
        .iter()
        .chain(FAULT_SCENARIOS)
        .chain(PROBE_SCENARIOS);
    if names.is_empty() {
        let extra: &[&str] = if faults { FAULT_SCENARIOS } else { &[] };
        return Ok(SCENARIOS.iter().chain(extra).copied().collect());
    }
    names
        .iter()
        .map(|n| {
            all.clone().copied().find(|s| s == n).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown scenario `{n}`; scenarios: {}, with --faults {}, only when named {}",
                    SCENARIOS.join(", "),
                    FAULT_SCENARIOS.join(", "),
                    PROBE_SCENARIOS.join(", ")
                )
            })
        })
        .collect()
}

fn build_image(ws: &Workspace, scheds: &[Scheduler]) -> Result<PathBuf> {
    let mut binaries = ws.build(scheds)?;
    if !scheds.is_empty() {
        binaries.push(build_guest_helper(ws)?);
    }
    let key = if scheds.is_empty() {
        "kernel-only".to_string()
    } else {
        scheds
            .iter()
            .map(|s| s.binary.as_str())
            .collect::<Vec<_>>()
            .join("+")
    };
    initramfs::base_image(&ws.target_dir.join("xtask/initramfs").join(key), &binaries)
}

/// Builds the guest helper (a debug build: xtask's dependencies are built
/// already) and returns its path.
fn build_guest_helper(ws: &Workspace) -> Result<PathBuf> {
    let mut cmd = std::process::Command::new(workspace::cargo());
    cmd.args(["build", "--quiet", "-p", "xtask", "--bin", GUEST_HELPER])
        .current_dir(util::workspace_root());
    util::run(&mut cmd).context("building the guest helper failed")?;
    let path = ws.target_dir.join("debug").join(GUEST_HELPER);
    if !path.is_file() {
        bail!(
            "cargo built {GUEST_HELPER} but {} is missing",
            path.display()
        );
    }
    Ok(path)
}

/// Boots one kernel with a job; returns the report and the log path.
fn boot_job(
    ws: &Workspace,
    kernel: &Kernel,
    base: &std::path::Path,
    job: &str,
    vm: &VmArgs,
    timeout: u64,
    stream: bool,
) -> Result<(VmReport, PathBuf)> {
    let nonce = nonce();
    let job = format!("RL_NONCE={nonce}\n{job}");
    let stamp = util::timestamp();
    let logs = ws.target_dir.join("xtask/logs");
    std::fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("vm-{}-{stamp}.log", kernel.label));
    let initrd = logs.join(format!(".initrd-{nonce}.cpio"));
    initramfs::with_job(base, &job, &initrd)?;
    let config = VmConfig {
        kernel,
        initrd: initrd.clone(),
        kvm: vm.kvm,
        tcg_single_thread: vm.single_thread(),
        cpu: vm.cpu.as_deref().unwrap_or(qemu::DEFAULT_CPU),
        timeout: Duration::from_secs(timeout),
        first_line_timeout: Duration::from_secs(if vm.kvm { 60 } else { 180 }),
        log_path: log_path.clone(),
        nonce,
        stream,
    };
    let report = qemu::boot(&config);
    let _ = std::fs::remove_file(&initrd);
    let report = report?;
    if !report.errors.is_empty() || !report.kernel_faults.is_empty() {
        if report.console_tail.is_empty() {
            eprintln!("vm: the kernel printed nothing on its console");
        } else {
            eprintln!("vm: last lines of the kernel console:");
        }
        for line in &report.console_tail {
            eprintln!("    {line}");
        }
    }
    Ok((report, log_path))
}

fn nonce() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), t & 0xffff_ffff)
}

/// Single-quotes a word for the guest's shell.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn test_job(scheds: &[Scheduler], scenarios: &[&str], survival_secs: u64) -> String {
    let names: Vec<&str> = scheds.iter().map(|s| s.binary.as_str()).collect();
    format!(
        "RL_MODE=test\nRL_SCHEDS={}\nRL_SCENARIOS={}\nRL_SURVIVAL_SECS={survival_secs}\nRL_STRESS={}\n",
        sh_quote(&names.join(" ")),
        sh_quote(&scenarios.join(" ")),
        sh_quote(SURVIVAL_STRESS),
    )
}

fn run_job(sched: &Scheduler, args: &VmRunArgs) -> String {
    let words: Vec<String> = args.args.iter().map(|a| sh_quote(a)).collect();
    format!(
        "RL_MODE=run\nRL_RUN_SCHED={}\nRL_RUN_SECS={}\nRL_WORKLOAD={}\nRL_RUN_ARGS={}\n",
        sh_quote(&sched.binary),
        args.secs,
        args.workload.name(),
        sh_quote(&words.join(" ")),
    )
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    kernel: String,
    subject: String,
    scenario: String,
    status: &'static str,
    detail: String,
}

impl Row {
    fn ok(&self) -> bool {
        matches!(self.status, "pass" | "skip")
    }
}

/// Rows for one boot: every reported outcome, the expected ones that never
/// came ("missing"), kernel faults and harness errors.
fn summary_rows(
    kernel: &Kernel,
    report: &VmReport,
    kernel_checks: &[&str],
    scheds: &[Scheduler],
    scenarios: &[&str],
) -> Vec<Row> {
    let label = report
        .release
        .clone()
        .unwrap_or_else(|| kernel.label.clone());
    let row = |subject: &str, scenario: &str, status: &'static str, detail: String| Row {
        kernel: label.clone(),
        subject: subject.to_string(),
        scenario: scenario.to_string(),
        status,
        detail,
    };
    let mut rows = Vec::new();
    if report.release.is_some() {
        rows.push(if report.nonce_ok {
            row(
                "kernel",
                "channel",
                "pass",
                "tagged lines round-trip (nonce echoed)".into(),
            )
        } else {
            row(
                "kernel",
                "channel",
                "FAIL",
                "the guest echoed a wrong nonce".into(),
            )
        });
    }
    for o in &report.outcomes {
        let status = match o.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        rows.push(row(&o.subject, &o.scenario, status, o.detail.clone()));
    }
    let expected = kernel_checks.iter().map(|c| ("kernel", *c)).chain(
        scheds
            .iter()
            .flat_map(|s| scenarios.iter().map(move |c| (s.binary.as_str(), *c))),
    );
    if report.release.is_some() {
        for (subject, scenario) in expected {
            let seen = report
                .outcomes
                .iter()
                .any(|o| o.subject == subject && o.scenario == scenario);
            if !seen {
                rows.push(row(
                    subject,
                    scenario,
                    "MISSING",
                    "the guest never reported it".into(),
                ));
            }
        }
    }
    if let Some(first) = report.kernel_faults.first() {
        rows.push(row(
            "kernel",
            "fault",
            "FAULT",
            format!(
                "kernel fault in the console log ({} line(s)): {}",
                report.kernel_faults.len(),
                first.trim()
            ),
        ));
    }
    for err in &report.errors {
        rows.push(row("harness", "vm", "ERROR", err.clone()));
    }
    rows
}

fn print_summary(rows: &[Row]) {
    let width = |f: fn(&Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let wk = width(|r| r.kernel.len(), 6);
    let ws = width(|r| r.subject.len(), 9);
    let wc = width(|r| r.scenario.len(), 8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:wk$}  {:ws$}  {:wc$}  {:7}  detail",
        "kernel", "scheduler", "scenario", "result"
    );
    let _ = writeln!(out, "{}", "-".repeat(wk + ws + wc + 7 + 14 + 30));
    for r in rows {
        let detail: String = r.detail.chars().take(160).collect();
        let _ = writeln!(
            out,
            "{:wk$}  {:ws$}  {:wc$}  {:7}  {detail}",
            r.kernel, r.subject, r.scenario, r.status
        );
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::Outcome;

    fn kernel() -> Kernel {
        Kernel {
            label: "7.3.4".into(),
            vmlinuz: PathBuf::from("/k/vmlinuz"),
            config: None,
        }
    }

    fn outcome(subject: &str, scenario: &str, status: Status) -> Outcome {
        Outcome {
            subject: subject.into(),
            scenario: scenario.into(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn every_scenario_has_a_guest_function() {
        for s in SCENARIOS
            .iter()
            .chain(FAULT_SCENARIOS)
            .chain(PROBE_SCENARIOS)
        {
            assert!(
                initramfs::LIB_SCRIPT.contains(&format!("\nsc_{s}() {{")),
                "no sc_{s} in the guest library (guest/scenarios.sh, faults.sh)"
            );
        }
    }

    #[test]
    fn unknown_scenarios_are_rejected() {
        assert_eq!(select_scenarios(&[], false).unwrap(), SCENARIOS);
        let with_faults = select_scenarios(&[], true).unwrap();
        assert_eq!(with_faults.len(), SCENARIOS.len() + FAULT_SCENARIOS.len());
        assert_eq!(
            select_scenarios(&["sigkill".into()], false).unwrap(),
            ["sigkill"]
        );
        let err = select_scenarios(&["warp".into()], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scenario `warp`"), "{err}");
    }

    #[test]
    fn missing_results_and_faults_fail_the_summary() {
        let sched = Scheduler {
            package: "scx_a".into(),
            binary: "scx_a".into(),
        };
        let mut report = VmReport {
            release: Some("7.3.4+deb13-amd64".into()),
            nonce_ok: true,
            done: true,
            ..Default::default()
        };
        for c in KERNEL_CHECKS {
            report.outcomes.push(outcome("kernel", c, Status::Pass));
        }
        report
            .outcomes
            .push(outcome("scx_a", "attach", Status::Pass));
        report
            .outcomes
            .push(outcome("scx_a", "survival", Status::Skip));
        let rows = summary_rows(
            &kernel(),
            &report,
            KERNEL_CHECKS,
            std::slice::from_ref(&sched),
            &["attach", "survival"],
        );
        assert!(rows.iter().all(Row::ok), "{rows:?}");

        let rows = summary_rows(
            &kernel(),
            &report,
            KERNEL_CHECKS,
            std::slice::from_ref(&sched),
            &["attach", "sigterm"],
        );
        let missing: Vec<_> = rows.iter().filter(|r| !r.ok()).collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].scenario, "sigterm");
        assert_eq!(missing[0].status, "MISSING");

        report.kernel_faults.push("Oops: int3".into());
        let rows = summary_rows(&kernel(), &report, KERNEL_CHECKS, &[sched], &["attach"]);
        assert!(rows.iter().any(|r| r.status == "FAULT"));
    }

    #[test]
    fn silent_guest_is_an_error_not_a_pass() {
        let report = VmReport {
            errors: vec!["the guest never printed its first tagged line".into()],
            ..Default::default()
        };
        let rows = summary_rows(&kernel(), &report, KERNEL_CHECKS, &[], &[]);
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].ok());
    }

    #[test]
    fn run_arguments_are_quoted_for_the_guest_shell() {
        let args = VmRunArgs {
            scheduler: "scx_a".into(),
            vm: VmArgs::default(),
            secs: 5,
            workload: Workload::None,
            args: vec!["--slice-us".into(), "it's 5".into()],
        };
        let sched = Scheduler {
            package: "scx_a".into(),
            binary: "scx_a".into(),
        };
        let job = run_job(&sched, &args);
        assert!(job.contains("RL_RUN_SCHED='scx_a'\n"), "{job}");
        // The guest runs `eval "set -- $RL_RUN_ARGS"`; check with a real shell.
        let script = format!("{job}eval \"set -- $RL_RUN_ARGS\"\nprintf '<%s>' \"$@\"");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "<--slice-us><it's 5>");
    }
}
