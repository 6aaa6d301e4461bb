//! The VM side of the benchmark: builds the job, boots the guest (once more after a kernel fault), and finds
//! what the log and the source tree say about the run. The guest's `@@RL bench` lines are parsed in
//! [`super::data`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::{BenchArgs, BenchWorkload};
use crate::initramfs;
use crate::kernel;
use crate::qemu::{self, VmConfig};
use crate::util;
use crate::workspace;

/// The guest script of the benchmark.
pub const BENCH_SCRIPT: &str = include_str!("../../guest/bench.sh");

/// Boots the VM with the bench job; returns the log, the guest's kernel
/// release and any kernel fault lines.
pub fn boot(
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
pub fn workload_list(chosen: &[BenchWorkload]) -> String {
    use BenchWorkload::*;
    [Hackbench, Cyclictest, Hogs, Switch]
        .into_iter()
        .filter(|w| chosen.is_empty() || chosen.contains(w))
        .map(BenchWorkload::name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// FNV-1a hash of `text`, to name the cached initramfs after the schedulers in it.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The guest's kernel release, from its hello line.
pub fn release_from_log(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("guest| @@RL hello "))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .map(String::from)
}

/// The commit the schedulers were built from, and whether the scheduler
/// sources had uncommitted changes.
pub fn source_state() -> String {
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

/// The host's load averages (1, 5, 15 min).
pub fn host_load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::super::data;
    use super::*;

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
