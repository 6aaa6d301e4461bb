//! `scx_edf`: the tutorial's earliest-deadline-first policy as a real sched_ext scheduler.

use std::process::ExitCode;

use clap::Parser;
use rustland_bpf::memory::LockedArenaAllocator;
use rustland_example_edf::{Edf, EdfConfig};
use rustland_runner::cli::{self, CommonArgs};
use rustland_runner::scheduler::{self, SchedulerSpec};

#[global_allocator]
static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

/// Earliest-deadline-first scheduler from the rustland tutorial (docs/writing-a-policy.md).
#[derive(Debug, Parser)]
#[command(name = "scx_edf")]
struct Cli {
    /// Relative deadline of a nice-0 task, in microseconds (heavier tasks get shorter ones).
    #[arg(short = 'd', long, value_name = "US", default_value_t = EdfConfig::default().relative_deadline_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    deadline_us: u64,

    /// Slice of every task, in microseconds.
    #[arg(short = 's', long, value_name = "US", default_value_t = EdfConfig::default().slice_ns / 1000,
          value_parser = clap::value_parser!(u64).range(cli::MIN_SLICE_US..=cli::MAX_SLICE_US))]
    slice_us: u64,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse(env!("CARGO_PKG_VERSION"));
    let config = EdfConfig {
        relative_deadline_ns: args.deadline_us.saturating_mul(1000),
        slice_ns: args.slice_us.saturating_mul(1000),
    };
    if let Err(e) = config.validate() {
        cli::usage_error::<Cli>(e);
    }
    let spec = SchedulerSpec {
        name: "scx_edf",
        common: &args.common,
        default_slice_ns: config.slice_ns,
        // Off: every wakeup goes through the policy.
        direct_wakeup_ns: 0,
    };
    scheduler::main(spec, || Edf::new(config))
}
