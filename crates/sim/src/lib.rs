//! A deterministic discrete-event simulator of rustland's kernel side, so a policy can be run, tested and compared
//! in seconds without sched_ext.
//!
//! - [`Simulator`] implements [`rustland_core::Connector`]: N CPUs, a virtual nanosecond clock, seeded randomness.
//!   The same seed, settings and workload give bit-identical results.
//! - It models the mechanics of the BPF side: the idle-CPU fast path, slices and their expiry, re-enqueue on
//!   preemption, exit events, the vtime round trip, sequence numbers and stale dispatches, a bounded ring with
//!   congestion, the user-space scheduler as a task that needs a CPU (with its own CPU cost), the watchdog, and the
//!   fallback that schedules every task on the kernel side while user space is unresponsive (see
//!   [`SimConfig::user_stalls`]).
//! - [`Workload`]s come from a TOML or JSON file or from [`TaskSpec`] builders; [`SimReport`] holds the metrics.
//!
//! The quickest way to run a policy is [`simulate`]:
//!
//! ```
//! use rustland_policy_fifo::Fifo;
//! use rustland_sim::{simulate, SimConfig, TaskSpec, Workload};
//!
//! let workload = Workload::new()
//!     .with(TaskSpec::hog("hog").count(2))
//!     .with(TaskSpec::periodic("ticker", 100_000, 2_000_000));
//! let config = SimConfig { nr_cpus: 1, duration_ns: 200_000_000, ..SimConfig::default() };
//! let outcome = simulate(Fifo::default(), config, &workload)?;
//! println!("{}", outcome.report.render("fifo"));
//! # Ok::<(), rustland_sim::RunSimError>(())
//! ```
//!
//! The model, the file format and every metric are described in `docs/simulator.md`.

#![forbid(unsafe_code)]

mod config;
mod error;
mod file;
mod measure;
mod render;
mod report;
mod rng;
mod sim;
mod workload;

pub use config::{SimConfig, UserStall, MAX_CPUS};
pub use error::{RunSimError, SimError};
pub use file::parse_duration;
pub use render::{fmt_ns, render_comparison};
pub use report::{
    FallbackEpisode, FallbackReport, GroupReport, Latency, SimReport, TaskReport, Totals,
};
pub use sim::{Simulator, FIRST_PID, MAX_TASKS};
pub use workload::{nice_to_weight, Behaviour, SimOverrides, TaskKind, TaskSpec, Workload};

use rustland_core::{Policy, RunLoop, RunReport};

/// What [`simulate`] returns.
#[derive(Debug)]
pub struct Outcome<P> {
    /// The simulator's measurements.
    pub report: SimReport,
    /// The run loop's report (stop reason, loop counters).
    pub run: RunReport,
    /// The policy, as the run left it (to inspect its state).
    pub policy: P,
}

/// Runs `policy` on `workload` until the run ends (its duration, or a watchdog stall) and returns the reports.
/// A stall is not an error here: it is in [`SimReport::exit`].
pub fn simulate<P: Policy>(
    policy: P,
    config: SimConfig,
    workload: &Workload,
) -> Result<Outcome<P>, RunSimError> {
    let sim = Simulator::new(config, workload)?;
    let mut run_loop = RunLoop::new(policy, sim);
    let run = run_loop.run()?;
    let (policy, sim) = run_loop.into_parts();
    Ok(Outcome {
        report: sim.report(),
        run,
        policy,
    })
}
