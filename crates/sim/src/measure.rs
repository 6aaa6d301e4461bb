//! The raw measurements the simulator records while it runs, and the snapshot of them that
//! [`report`](crate::report) turns into a [`SimReport`](crate::SimReport).
//!
//! The engine writes these figures and never reads them back to decide anything, so keeping them here leaves the
//! model's state apart from what is measured about it.

use rustland_core::{Comm, Counters, ExitInfo, Pid, Weight};

/// What is measured about one task (kept inside the engine's task, updated as it runs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TaskStats {
    /// When it was created (ns).
    pub(crate) born_ns: u64,
    /// When it exited (`u64::MAX` while it has not).
    pub(crate) exited_ns: u64,
    /// CPU time it received (ns).
    pub(crate) runtime_ns: u64,
    /// Bursts it finished.
    pub(crate) completed: u64,
    /// Times the policy dispatched it.
    pub(crate) user_dispatches: u64,
    /// Times the kernel side dispatched it itself.
    pub(crate) kernel_dispatches: u64,
    /// Times the fallback scheduled it (user space unresponsive).
    pub(crate) fallback_dispatches: u64,
    /// Times it was taken off its CPU before its slice ended.
    pub(crate) preemptions: u64,
    /// Longest stretch runnable without running (ns).
    pub(crate) max_wait_ns: u64,
}

/// A workload group as the report sees it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// The workload entry's name.
    pub(crate) name: String,
    /// Whether the entry is a fork stream.
    pub(crate) forked: bool,
}

/// Totals the engine keeps besides the per-task figures.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EngineStats {
    /// Kernel-side events simulated.
    pub(crate) events: u64,
    /// Rounds of the user-space scheduler.
    pub(crate) sched_rounds: u64,
    /// CPU time the user-space scheduler used (ns).
    pub(crate) sched_cpu_ns: u64,
    /// Tasks that exited.
    pub(crate) tasks_exited: u64,
}

/// The run-wide measurements.
#[derive(Clone, Debug, Default)]
pub(crate) struct Measurements {
    /// One per workload entry, in file order.
    pub(crate) groups: Vec<Group>,
    /// Wakeup latency samples: (task index, ns, whether the task woke during a fallback episode), in the order
    /// they were taken.
    pub(crate) latencies: Vec<(u32, u64, bool)>,
    /// Fallback episodes: when each began and, once over, ended (ns).
    pub(crate) episodes: Vec<(u64, Option<u64>)>,
    /// Engine totals.
    pub(crate) engine: EngineStats,
    /// The simulated time the run ended at (`None` while it goes on).
    pub(crate) ended_ns: Option<u64>,
}

/// What the report needs to know of one task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskFacts<'a> {
    /// Its pid.
    pub(crate) pid: Pid,
    /// Its comm.
    pub(crate) comm: Comm,
    /// Index of its workload entry.
    pub(crate) group: u32,
    /// Its weight.
    pub(crate) weight: Weight,
    /// Whether it never sleeps (counts for fairness).
    pub(crate) hog: bool,
    /// Whether it exited.
    pub(crate) exited: bool,
    /// Its measured figures.
    pub(crate) stats: &'a TaskStats,
}

/// A snapshot of a run's measurements, to build a report from.
#[derive(Clone, Debug)]
pub(crate) struct RunFigures<'a> {
    /// Simulated time covered (ns).
    pub(crate) elapsed_ns: u64,
    /// CPUs simulated.
    pub(crate) nr_cpus: u32,
    /// Every task, in pid order.
    pub(crate) tasks: Vec<TaskFacts<'a>>,
    /// The run-wide measurements.
    pub(crate) meas: &'a Measurements,
    /// How the run ended (`None` while it goes on).
    pub(crate) exit: Option<ExitInfo>,
    /// The kernel side's counters and gauges now.
    pub(crate) counters: Counters,
}
