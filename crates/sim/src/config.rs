//! Settings of a simulation run.

use rustland_core::{DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS};

use crate::{fmt_ns, SimError};

/// The most CPUs a simulated machine may have (affinity masks are 64-bit).
pub const MAX_CPUS: u32 = 64;

/// Settings of a simulation run. Start from [`SimConfig::default`] and change what you need:
///
/// ```
/// use rustland_sim::SimConfig;
/// let config = SimConfig { nr_cpus: 4, duration_ns: 2_000_000_000, seed: 7, ..SimConfig::default() };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Number of simulated CPUs, `1..=64`.
    pub nr_cpus: u32,
    /// Simulated time after which the run ends with [`ExitKind::Done`](rustland_core::ExitKind::Done) (ns).
    pub duration_ns: u64,
    /// Seed of the pseudo-random generator (interactive think times, burst jitter).
    pub seed: u64,
    /// The kernel side dispatches a waking task directly to an idle allowed CPU, without asking user space
    /// (counted as a "kernel" dispatch). Turn off to make the policy see every wakeup.
    pub idle_fast_path: bool,
    /// Slice given to kernel-side dispatches (ns); user dispatches carry their own. sched_ext's default is 20 ms.
    pub default_slice_ns: u64,
    /// A runnable task that has not run for this long ends the run with
    /// [`ExitKind::Stall`](rustland_core::ExitKind::Stall) (ns).
    pub watchdog_timeout_ns: u64,
    /// Capacity of the ring of queued tasks to user space. When full, a task goes straight to the shared queue and
    /// counts as "congested".
    pub ring_capacity: usize,
    /// How many dispatches user space can hand over in one round before `try_dispatch` answers `Full`.
    pub dispatch_capacity: usize,
    /// Delay between the kernel side waking the sleeping user-space scheduler and the scheduler running (ns).
    pub sched_wakeup_delay_ns: u64,
    /// CPU time the user-space scheduler spends per event it receives (ns), on the CPU it runs on.
    pub sched_cost_per_event_ns: u64,
    /// CPU time the user-space scheduler spends per dispatch it sends (ns), on the CPU it runs on.
    pub sched_cost_per_dispatch_ns: u64,
    /// While user space holds tasks, it is woken at least this often, even if no CPU becomes free (ns).
    pub sched_tick_ns: u64,
    /// A task waking up while no CPU is idle preempts the CPU whose task has run longest, so the scheduler runs
    /// at once, but only if that task has run at least this long (ns).
    pub preempt_min_ns: u64,
    /// A task woken by another task (a ping-pong partner), not by its own timer, preempts for the scheduler only a
    /// task that ran at least this long (ns), a hog: message-passing tasks wake each other often and run briefly,
    /// and the scheduler's round comes soon anyway, when one of them blocks.
    pub task_wakeup_preempt_min_ns: u64,
    /// Direct wakeups (0: off), like the BPF side's `Builder::direct_wakeups`: a task woken by a timer (a periodic
    /// or interactive task's sleep ending; not a ping-pong partner's wakeup) whose last burst lasted at most this
    /// long (ns), and which slept at least four times as long, goes to the head of its previous CPU's local queue
    /// without asking user space, preempting the task running there if that task ran at least `preempt_min_ns`
    /// (not the scheduler); the preempted task resumes right after it with the rest of its slice. The woken task's
    /// slice is this long; direct wakeups use at most a quarter of each CPU's time per 100 ms window.
    pub direct_wakeup_max_ns: u64,
    /// The kernel's scheduler tick (ns): an expired slice is noticed only at the next multiple of it, as sched_ext
    /// checks slices in the tick (4 ms with `HZ=250`). 0 ends slices exactly when they run out.
    pub kernel_tick_ns: u64,
    /// User space is unresponsive when tasks are in its custody (handed to it and not yet dispatched) and none of
    /// its dispatches has been applied for this long (ns); the kernel side then schedules every task itself until
    /// user space shows progress, like the BPF side's fallback (250 ms there too).
    pub fallback_ns: u64,
    /// Stretches of time in which the user-space scheduler runs no round, as if stopped with `SIGSTOP`: it takes
    /// no records and sends no dispatches. In increasing order of time, not overlapping.
    pub user_stalls: Vec<UserStall>,
}

/// A stretch of time in which the user-space scheduler is stopped (see [`SimConfig::user_stalls`]): from `at_ns`
/// on, for `for_ns`, it runs no round and holds no CPU; then it is woken like a stopped process that gets
/// `SIGCONT`.
///
/// ```
/// use rustland_sim::{SimConfig, UserStall};
/// let stall = UserStall { at_ns: 2_000_000_000, for_ns: 3_000_000_000 };
/// let config = SimConfig { user_stalls: vec![stall], ..SimConfig::default() };
/// assert!(config.validate().is_ok());
/// assert_eq!(stall.end_ns(), 5_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserStall {
    /// When the scheduler stops (ns of simulated time).
    pub at_ns: u64,
    /// How long it stays stopped (ns).
    pub for_ns: u64,
}

impl UserStall {
    /// When the scheduler may run again (ns of simulated time).
    pub fn end_ns(&self) -> u64 {
        self.at_ns.saturating_add(self.for_ns)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nr_cpus: 2,
            duration_ns: 10_000_000_000,
            seed: 0,
            idle_fast_path: true,
            default_slice_ns: 20_000_000,
            watchdog_timeout_ns: 5_000_000_000,
            ring_capacity: 4096,
            dispatch_capacity: 4096,
            sched_wakeup_delay_ns: 5_000,
            sched_cost_per_event_ns: 1_000,
            sched_cost_per_dispatch_ns: 500,
            sched_tick_ns: 1_000_000,
            preempt_min_ns: 100_000,
            task_wakeup_preempt_min_ns: 1_000_000,
            direct_wakeup_max_ns: 0,
            kernel_tick_ns: 0,
            fallback_ns: 250_000_000,
            user_stalls: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad =
            |setting: &'static str, message: String| Err(SimError::Config { setting, message });
        if !(1..=MAX_CPUS).contains(&self.nr_cpus) {
            return bad(
                "cpus",
                format!("{} is not between 1 and {MAX_CPUS}", self.nr_cpus),
            );
        }
        if self.duration_ns == 0 {
            return bad("duration", "must be greater than 0".into());
        }
        if self.default_slice_ns < 1_000 {
            return bad(
                "slice",
                format!("{} ns is shorter than 1 us", self.default_slice_ns),
            );
        }
        if self.watchdog_timeout_ns < 1_000_000 {
            return bad(
                "watchdog",
                format!("{} ns is shorter than 1 ms", self.watchdog_timeout_ns),
            );
        }
        if self.ring_capacity == 0 {
            return bad("ring-size", "must be at least 1".into());
        }
        if self.dispatch_capacity == 0 {
            return bad("dispatch-batch", "must be at least 1".into());
        }
        let direct = self.direct_wakeup_max_ns;
        if direct != 0 && !(DIRECT_WAKEUP_MIN_NS..=DIRECT_WAKEUP_MAX_NS).contains(&direct) {
            return bad(
                "direct-wakeup",
                format!("{direct} ns is neither 0 (off) nor between 10 us and 10 ms"),
            );
        }
        if self.sched_tick_ns < 1_000 {
            return bad(
                "tick",
                format!("{} ns is shorter than 1 us", self.sched_tick_ns),
            );
        }
        if self.fallback_ns < 1_000_000 {
            return bad(
                "fallback",
                format!("{} ns is shorter than 1 ms", self.fallback_ns),
            );
        }
        self.validate_stalls()
    }

    /// Checks [`SimConfig::user_stalls`]: each lasts a while, and each begins after the one before has ended.
    fn validate_stalls(&self) -> Result<(), SimError> {
        let mut previous_end = None;
        for (i, stall) in self.user_stalls.iter().enumerate() {
            let problem = if stall.for_ns == 0 {
                Some("lasts no time (`for` must be greater than 0)".to_string())
            } else {
                previous_end.filter(|&end| stall.at_ns < end).map(|end| {
                    format!(
                        "begins before the one before it ends ({}); list them in order, without overlaps",
                        fmt_ns(end)
                    )
                })
            };
            if let Some(problem) = problem {
                return Err(SimError::Config {
                    setting: "user-stalls",
                    message: format!("stall {} (at {}) {problem}", i + 1, fmt_ns(stall.at_ns)),
                });
            }
            previous_end = Some(stall.end_ns());
        }
        Ok(())
    }
}
