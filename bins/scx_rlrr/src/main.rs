//! `scx_rlrr`: a weighted round-robin sched_ext scheduler whose policy runs in user space.
//!
//! Thin by design: options, the round-robin policy, and the shared runner (memory discipline, statistics,
//! signals, restarts) over the live BPF connector.

use std::process::ExitCode;

use clap::Parser;
use rustland_bpf::memory::LockedArenaAllocator;
use rustland_policy_rr::{RoundRobin, RrConfig};
use rustland_runner::cli::{self, CommonArgs};
use rustland_runner::scheduler::{self, SchedulerSpec};

#[global_allocator]
static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

const NAME: &str = "scx_rlrr";

/// Weighted round-robin scheduler: runnable tasks take strict turns, each for a quantum scaled by its weight
/// (nice level). The policy runs in user space on top of sched_ext (rustland framework). Needs root and a kernel
/// with sched_ext (CONFIG_SCHED_CLASS_EXT).
#[derive(Debug, Parser)]
#[command(name = NAME)]
struct Cli {
    /// Quantum of a nice-0 task, in microseconds (scaled by the task's weight).
    #[arg(short = 'q', long, allow_negative_numbers = true, visible_alias = "slice-us", value_name = "US",
          default_value_t = RrConfig::default().quantum_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    quantum_us: u64,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse(env!("CARGO_PKG_VERSION"));
    let config = RrConfig {
        quantum_ns: args.quantum_us * 1000,
    };
    if let Err(e) = config.validate() {
        cli::usage_error::<Cli>(e);
    }
    let spec = SchedulerSpec {
        name: NAME,
        common: &args.common,
        default_slice_ns: config.quantum_ns,
        // Off: round robin: every wakeup goes through the policy.
        direct_wakeup_ns: 0,
    };
    scheduler::main(spec, || RoundRobin::new(config))
}
