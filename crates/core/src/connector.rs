//! The seam between the run loop and the kernel side (the BPF dispatcher, or the simulator).

use crate::{ConnectorError, Dispatch, Event, Pid};

/// What happened to a dispatch handed to [`Connector::try_dispatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Delivery {
    /// The dispatch is on its way to the kernel side.
    Sent,
    /// The channel to the kernel side is full; try again after [`Connector::yield_cpu`].
    Full,
}

/// How the kernel side stopped, as reported by [`Connector::exit_info`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// The kind of exit. See [`ExitKind`].
    pub kind: ExitKind,
    /// The exit code the kernel side recorded (for sched_ext, `scx_exit_info::exit_code`).
    pub code: i64,
    /// A short reason, e.g. "runnable task stall".
    pub reason: String,
    /// A longer message, e.g. which task stalled.
    pub message: String,
}

impl ExitInfo {
    /// Whether the exit is an error (the scheduler was ejected).
    pub fn is_error(&self) -> bool {
        matches!(self.kind, ExitKind::Error | ExitKind::Stall)
    }

    /// Whether the kernel side asked user space to open and attach the scheduler again (CPU hotplug).
    pub fn should_restart(&self) -> bool {
        matches!(self.kind, ExitKind::Restart)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// The broad class of a kernel-side exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// Normal end: user space detached, or the simulation reached its end.
    Done,
    /// The scheduler was unregistered from outside (e.g. SysRq-S) without an error.
    Unregistered,
    /// The kernel side wants user space to restart the scheduler (e.g. after CPU hotplug).
    Restart,
    /// A runnable task waited longer than the watchdog allows.
    Stall,
    /// Any other error (BPF error, invalid dispatch, ...).
    Error,
}

/// Shortest burst limit of direct wakeups a connector accepts (ns); 0 turns them off. See
/// [`Counters::direct_wakeups`].
pub const DIRECT_WAKEUP_MIN_NS: u64 = 10_000;
/// Longest burst limit of direct wakeups (ns): a directly woken task never runs longer than this before user space
/// decides.
pub const DIRECT_WAKEUP_MAX_NS: u64 = 10_000_000;

/// Counters and gauges kept by the kernel side. All counters are totals since the connector was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tasks dispatched on the policy's decision.
    pub user_dispatches: u64,
    /// Tasks dispatched by the kernel side itself without going through user space (idle-CPU fast path, per-CPU
    /// kthreads).
    pub kernel_dispatches: u64,
    /// Dispatches dropped because they were stale (the task was re-enqueued or exited meanwhile).
    pub cancelled_dispatches: u64,
    /// Dispatches whose target CPU was not allowed for the task, and were redirected.
    pub bounced_dispatches: u64,
    /// Tasks that could not be handed to user space because the channel was full.
    pub congested_dispatches: u64,
    /// Tasks the kernel side dispatched itself because user space was not responding.
    pub fallback_dispatches: u64,
    /// Short-burst tasks woken by an interrupt of their own CPU (a timer, a device) that the kernel side put on
    /// that CPU itself, ahead of the task running there, without asking user space (off unless the connector was
    /// built with direct wakeups).
    pub direct_wakeups: u64,
    /// Records of tasks whose slice ended that the kernel side handed to a sleeping user space without waking it,
    /// to be read in its next round along with later ones: while every CPU runs a task, a round for each slice end
    /// would cost a preemption and a round apiece.
    pub batched_records: u64,
    /// Tasks running right now (gauge).
    pub nr_running: u64,
    /// Tasks waiting in the channel to user space right now (gauge).
    pub nr_queued: u64,
    /// Tasks user space reported it still holds (gauge, as last published with [`Connector::set_held`]).
    pub nr_scheduled: u64,
    /// Records of queued tasks the connector dropped unread by the policy because the task had left user space's
    /// custody meanwhile (dequeued, queued again, or scheduled by the fallback): their dispatches would have been
    /// cancelled.
    pub stale_records: u64,
    /// Tasks in user space's custody right now: handed to it and not yet dispatched, wherever they are (in the
    /// channel, held by the policy, or in a dispatch on its way back) (gauge).
    pub nr_custody: u64,
    /// Episodes in which the kernel side found user space unresponsive and scheduled every task itself until user
    /// space showed progress again.
    pub fallback_episodes: u64,
    /// Tasks the kernel side took back from user space's custody in those episodes (the rest of the fallback's
    /// dispatches are tasks that became runnable during an episode).
    pub fallback_reclaimed: u64,
    /// Time spent in those episodes, the one going on included (ns).
    pub fallback_ns: u64,
    /// How long the last finished episode lasted (ns; 0 before the first one ends).
    pub fallback_last_ns: u64,
}

/// Everything the run loop needs from the kernel side.
///
/// Two implementations exist: the live BPF connector (`rustland-bpf`) and the simulator (`rustland-sim`).
/// Every method is non-blocking except [`Connector::yield_cpu`].
///
/// Time: [`Connector::now_ns`] and the timestamps in [`QueuedTask`](crate::QueuedTask) use the same monotonic
/// nanosecond clock (the kernel's `CLOCK_MONOTONIC` for the live connector, virtual time in the simulator).
pub trait Connector {
    /// Takes the next event from the kernel side, or `None` when there is none right now. Never blocks.
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError>;

    /// Hands a dispatch to the kernel side. [`Delivery::Full`] means it was not taken and the caller keeps it.
    fn try_dispatch(&mut self, dispatch: &Dispatch) -> Result<Delivery, ConnectorError>;

    /// Publishes how many tasks user space still holds (queued in the policy or undelivered), so the kernel side
    /// knows whether to run the scheduler again soon.
    fn set_held(&mut self, nr_held: u64);

    /// Gives the CPU back until there is work for user space. The live connector yields the CPU to the kernel
    /// (it returns when the kernel side schedules the scheduler again); the simulator advances virtual time.
    fn yield_cpu(&mut self) -> Result<(), ConnectorError>;

    /// Finds and claims an idle CPU where task `pid` (last on `prev_cpu`) may run, or `None` if every allowed CPU
    /// is busy. A claimed CPU stays idle until a dispatch targets it.
    fn pick_idle_cpu(&mut self, pid: Pid, prev_cpu: u32) -> Option<u32>;

    /// The current time in ns (see the trait docs for which clock).
    fn now_ns(&self) -> u64;

    /// How many CPUs the machine has (possible CPUs, so ids are `0..nr_cpus`).
    fn nr_cpus(&self) -> u32;

    /// `Some` once the kernel side has stopped, with why.
    fn exit_info(&self) -> Option<ExitInfo>;

    /// The kernel side's counters.
    fn counters(&self) -> Counters;
}

impl<C: Connector + ?Sized> Connector for &mut C {
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        (**self).try_recv()
    }
    fn try_dispatch(&mut self, dispatch: &Dispatch) -> Result<Delivery, ConnectorError> {
        (**self).try_dispatch(dispatch)
    }
    fn set_held(&mut self, nr_held: u64) {
        (**self).set_held(nr_held)
    }
    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        (**self).yield_cpu()
    }
    fn pick_idle_cpu(&mut self, pid: Pid, prev_cpu: u32) -> Option<u32> {
        (**self).pick_idle_cpu(pid, prev_cpu)
    }
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
    fn nr_cpus(&self) -> u32 {
        (**self).nr_cpus()
    }
    fn exit_info(&self) -> Option<ExitInfo> {
        (**self).exit_info()
    }
    fn counters(&self) -> Counters {
        (**self).counters()
    }
}
