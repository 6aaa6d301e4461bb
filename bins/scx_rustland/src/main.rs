//! `scx_rustland`: a deadline/vruntime sched_ext scheduler whose policy runs in user space, favouring tasks that
//! sleep often (interactive ones) over CPU hogs.
//!
//! Thin by design: options, the vruntime policy, and the shared runner (memory discipline, statistics, signals,
//! restarts) over the live BPF connector.

use std::process::ExitCode;

use clap::Parser;
use rustland_bpf::memory::LockedArenaAllocator;
use rustland_policy_vruntime::{Vruntime, VruntimeConfig};
use rustland_runner::cli::{self, CommonArgs};
use rustland_runner::scheduler::{self, SchedulerSpec};

#[global_allocator]
static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

const NAME: &str = "scx_rustland";
const MAX_BONUS_US: u64 = VruntimeConfig::MAX_RUNTIME_BONUS_NS / 1000;
/// Direct wakeups for tasks that ran at most 500 us before sleeping: a timer or device wakeup of such a task
/// (interactive, latency-sensitive) preempts a CPU hog at once instead of waiting for a round of the policy, which the
/// policy would have put first anyway (its deadline is the earliest). `--direct-wakeup-us` changes or disables it.
const DIRECT_WAKEUP_NS: u64 = 500_000;

/// Deadline/vruntime scheduler: weighted fair sharing in which tasks that ran briefly before sleeping
/// (interactive ones) go first. The policy runs in user space on top of sched_ext (rustland framework). Needs root
/// and a kernel with sched_ext (CONFIG_SCHED_CLASS_EXT).
#[derive(Debug, Parser)]
#[command(name = NAME)]
struct Cli {
    /// Slice of a nice-0 task, in microseconds (scaled by weight for other tasks).
    #[arg(short = 's', long, allow_negative_numbers = true, value_name = "US", default_value_t = VruntimeConfig::default().slice_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    slice_us: u64,

    /// Shortest slice, given to the lowest-weight tasks, in microseconds (at most --slice-us).
    #[arg(short = 'S', long, allow_negative_numbers = true, value_name = "US", default_value_t = VruntimeConfig::default().min_slice_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    slice_us_min: u64,

    /// Cap on the CPU time since its last sleep that counts against a task's deadline, in microseconds (at least
    /// --slice-us).
    #[arg(long, allow_negative_numbers = true, value_name = "US", default_value_t = VruntimeConfig::default().max_runtime_bonus_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=MAX_BONUS_US))]
    runtime_bonus_us_max: u64,

    /// Let a task that wakes up on a busy machine, and is owed CPU time, preempt a running task instead of
    /// waiting for the first free CPU.
    #[arg(long)]
    preempt_wakeups: bool,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse(env!("CARGO_PKG_VERSION"));
    if args.slice_us_min > args.slice_us {
        cli::usage_error::<Cli>(format!(
            "--slice-us-min ({} us) must not exceed --slice-us ({} us)",
            args.slice_us_min, args.slice_us
        ));
    }
    if args.runtime_bonus_us_max < args.slice_us {
        cli::usage_error::<Cli>(format!(
            "--runtime-bonus-us-max ({} us) must be at least --slice-us ({} us)",
            args.runtime_bonus_us_max, args.slice_us
        ));
    }
    let config = VruntimeConfig {
        slice_ns: args.slice_us * 1000,
        min_slice_ns: args.slice_us_min * 1000,
        max_runtime_bonus_ns: args.runtime_bonus_us_max * 1000,
        preempt_wakeups: args.preempt_wakeups,
    };
    if let Err(e) = config.validate() {
        cli::usage_error::<Cli>(e);
    }
    let spec = SchedulerSpec {
        name: NAME,
        common: &args.common,
        default_slice_ns: config.slice_ns,
        direct_wakeup_ns: DIRECT_WAKEUP_NS,
    };
    scheduler::main(spec, || Vruntime::new(config))
}
