//! Settings of a simulation run.

use rustland_core::{DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS};

use crate::SimError;

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
            direct_wakeup_max_ns: 0,
            kernel_tick_ns: 0,
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
        Ok(())
    }
}
