//! `scx_rlfifo`: a first-in first-out sched_ext scheduler whose policy runs in user space.
//!
//! Thin by design: options, the FIFO policy, and the shared runner (memory discipline, statistics, signals,
//! restarts) over the live BPF connector.

use std::process::ExitCode;

use clap::Parser;
use rustland_bpf::memory::LockedArenaAllocator;
use rustland_policy_fifo::{Fifo, FifoConfig};
use rustland_runner::cli::{self, CommonArgs};
use rustland_runner::scheduler::{self, SchedulerSpec};

#[global_allocator]
static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

const NAME: &str = "scx_rlfifo";

/// First-in first-out scheduler: tasks run in the order they became runnable. The policy runs in user space on
/// top of sched_ext (rustland framework). Needs root and a kernel with sched_ext (CONFIG_SCHED_CLASS_EXT).
#[derive(Debug, Parser)]
#[command(name = NAME)]
struct Cli {
    /// Slice of a task when nothing else waits, in microseconds (it shrinks as more tasks wait).
    #[arg(short = 's', long, allow_negative_numbers = true, value_name = "US", default_value_t = FifoConfig::default().slice_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    slice_us: u64,

    /// Shortest slice however many tasks wait, in microseconds (at most --slice-us).
    #[arg(short = 'S', long, allow_negative_numbers = true, value_name = "US", default_value_t = FifoConfig::default().min_slice_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    slice_us_min: u64,

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
    let config = FifoConfig {
        slice_ns: args.slice_us * 1000,
        min_slice_ns: args.slice_us_min * 1000,
    };
    if let Err(e) = config.validate() {
        cli::usage_error::<Cli>(e);
    }
    let spec = SchedulerSpec {
        name: NAME,
        common: &args.common,
        default_slice_ns: config.slice_ns,
        // Off: FIFO order: every wakeup goes through the policy.
        direct_wakeup_ns: 0,
    };
    scheduler::main(spec, || Fifo::new(config))
}
