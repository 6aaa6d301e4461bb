//! The [`Policy`] trait: what a scheduling policy implements.

use crate::{Connector, Dispatch, Pid, QueuedTask, TaskRef};

/// What a policy may ask of the system while it runs: the time, the number of CPUs, and idle CPUs.
///
/// A `Context` is handed to every [`Policy`] method; it borrows the connector for the duration of the call.
pub struct Context<'a> {
    connector: &'a mut dyn Connector,
}

impl<'a> Context<'a> {
    /// A context over a connector. The run loop builds these; tests of a policy can too.
    pub fn new(connector: &'a mut dyn Connector) -> Self {
        Context { connector }
    }

    /// "Now" in ns, on the same monotonic clock as [`QueuedTask::start_ns`] and [`QueuedTask::stop_ns`]
    /// (`CLOCK_MONOTONIC` on a real machine, virtual time in the simulator). It does not stand still during a call.
    pub fn now_ns(&self) -> u64 {
        self.connector.now_ns()
    }

    /// How many CPUs the machine has; CPU ids are `0..nr_cpus()`.
    pub fn nr_cpus(&self) -> u32 {
        self.connector.nr_cpus()
    }

    /// Finds and claims an idle CPU on which `task` (a [`QueuedTask`](crate::QueuedTask) or a stored
    /// [`TaskRef`]) may run, preferring its previous CPU, or `None` if all its allowed CPUs are busy. A claimed CPU
    /// waits for a dispatch: target it with [`CpuTarget::Cpu`](crate::CpuTarget::Cpu) in the dispatch for this
    /// task.
    pub fn pick_idle_cpu(&mut self, task: impl Into<TaskRef>) -> Option<u32> {
        let task = task.into();
        self.connector.pick_idle_cpu(task.pid(), task.prev_cpu())
    }
}

/// A scheduling policy: decides which queued task runs next, where, and for how long.
///
/// # Call order
///
/// The [`RunLoop`](crate::RunLoop) drives a policy in rounds, on one thread:
///
/// 1. For every event from the kernel side (at most [`LoopConfig::max_events`](crate::LoopConfig) per round):
///    [`on_enqueue`](Policy::on_enqueue) when a task became runnable and is now in the policy's custody,
///    [`on_exit`](Policy::on_exit) when a task exited.
/// 2. Then [`pick_next`](Policy::pick_next) repeatedly, until it returns `None`, the channel to the kernel is
///    full, or [`LoopConfig::max_dispatches`](crate::LoopConfig) dispatches went out this round.
/// 3. The loop publishes [`nr_held`](Policy::nr_held) to the kernel side and gives the CPU back until there
///    is more work.
///
/// # Contract
///
/// - **Every task handed to `on_enqueue` must eventually come back from `pick_next`** (or be dropped by
///   `on_exit`). A task that is held forever is a runnable task that never runs: the kernel's watchdog ejects the
///   scheduler after a few seconds (the simulator reports the same stall).
/// - **A dispatch that cannot be delivered is not lost.** When the channel to the kernel is full, the run loop keeps
///   the dispatch returned by `pick_next` and retries it in the next round before asking the policy again. A
///   policy therefore forgets a task once it has returned its dispatch.
/// - **Stale dispatches are harmless.** A task may be re-queued (a new `on_enqueue` with a larger
///   [`QueuedTask::enq_seq`]) while an older copy is still held. Dispatching the old copy is dropped by the kernel
///   side and counted as "cancelled"; the policy should simply dispatch each copy it holds. (A copy whose task left
///   user space's custody before the loop read it, for example while the kernel side scheduled alone because user
///   space was stopped, is dropped by the connector and never reaches the policy.)
/// - **`on_exit` may come for a pid the policy does not hold** (the task exited while running). It must not panic.
///   It drops the per-task state the policy keeps for that pid (a vruntime, a deadline), so state stays as large
///   as the set of live tasks. Queued copies of the task may stay: their dispatches are cancelled by the kernel
///   side, which is cheaper than searching a queue on every exit.
/// - **Never block, never sleep, never do I/O** in these methods: the policy runs inside the process that schedules
///   every task of the machine. Avoid allocating per task in steady state: pre-size collections in the constructor.
/// - **"Now"** is [`Context::now_ns`]; never read the wall clock, so the same policy runs unchanged, and
///   deterministically, in the simulator.
///
/// # Example: first come, first served
///
/// The kernel side's shared queue runs [`CpuTarget::Any`](crate::CpuTarget::Any) dispatches in `vtime` order, so
/// a policy that wants arrival order says so: it numbers its dispatches.
///
/// ```
/// use std::collections::VecDeque;
/// use rustland_core::{Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask};
///
/// /// Runs tasks in arrival order, 5 ms each, on an idle CPU when there is one.
/// struct Fcfs {
///     queue: VecDeque<QueuedTask>,
///     dispatched: u64,
/// }
///
/// impl Policy for Fcfs {
///     fn name(&self) -> &'static str {
///         "fcfs"
///     }
///
///     fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
///         self.queue.push_back(task);
///     }
///
///     fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
///         let task = self.queue.pop_front()?;
///         let target = ctx.pick_idle_cpu(&task).map_or(CpuTarget::Any, CpuTarget::Cpu);
///         self.dispatched += 1;
///         Some(task.dispatch(target, 5_000_000, self.dispatched))
///     }
///
///     // Nothing per task to forget; a queued copy of an exited task is cancelled by the kernel side.
///     fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
///
///     fn nr_held(&self) -> usize {
///         self.queue.len()
///     }
/// }
///
/// # let _ = Fcfs { queue: VecDeque::with_capacity(1024), dispatched: 0 };
/// ```
///
/// # Misuse: holding a task back
///
/// A policy that "parks" a task until some condition is met breaks the first rule of the contract unless the
/// condition is guaranteed to come true within a few milliseconds:
///
/// ```
/// # use rustland_core::{Context, Dispatch, Pid, Policy, QueuedTask};
/// struct OnlyNiceTasks {
///     nice: Vec<QueuedTask>,
///     parked: Vec<QueuedTask>, // WRONG: nothing ever takes tasks out of here
/// }
///
/// impl Policy for OnlyNiceTasks {
///     fn name(&self) -> &'static str { "only-nice" }
///     fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
///         if task.weight.get() >= 100 { self.nice.push(task) } else { self.parked.push(task) }
///     }
///     fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
///         let t = self.nice.pop()?;
///         Some(t.dispatch(rustland_core::CpuTarget::Any, 5_000_000, 0))
///     }
///     fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
///     // Reporting only `nice` also hides the parked tasks from the kernel side.
///     fn nr_held(&self) -> usize { self.nice.len() }
/// }
/// ```
///
/// Low-weight tasks wait forever; the watchdog ejects the scheduler. Give such tasks a lower priority (a later
/// deadline, a smaller slice), never no turn at all.
pub trait Policy {
    /// A short name for logs and reports, e.g. `"fifo"`.
    fn name(&self) -> &'static str;

    /// A task became runnable and is now held by the policy until [`pick_next`](Policy::pick_next) returns a
    /// dispatch for it.
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>);

    /// The next dispatch, or `None` when the policy holds no task it wants to run now.
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch>;

    /// Task `pid` exited: drop the per-task state kept for it (queued copies may stay, see the contract).
    fn on_exit(&mut self, pid: Pid, ctx: &mut Context<'_>);

    /// How many tasks the policy holds: queued with it and not yet returned by `pick_next`, stale copies
    /// included. The run loop publishes it to the kernel side, which counts it as user space's custody
    /// ([`Counters::nr_scheduled`](crate::Counters::nr_scheduled)); [`Counters::nr_queued`](crate::Counters::nr_queued)
    /// is another thing, the tasks still in the channel on their way to user space.
    fn nr_held(&self) -> usize;

    /// Reports the policy's own figures for statistics, as `(name, value)` pairs. The default reports none.
    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        let _ = report;
    }
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        (**self).on_enqueue(task, ctx)
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        (**self).pick_next(ctx)
    }
    fn on_exit(&mut self, pid: Pid, ctx: &mut Context<'_>) {
        (**self).on_exit(pid, ctx)
    }
    fn nr_held(&self) -> usize {
        (**self).nr_held()
    }
    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        (**self).metrics(report)
    }
}
