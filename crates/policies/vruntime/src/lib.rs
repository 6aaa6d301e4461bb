//! Deadline/vruntime: weighted fair sharing with a head start for tasks that sleep often (the policy of
//! `scx_rustland`).
//!
//! Every task has a *vruntime*: the CPU time it used, divided by its weight. Tasks run in order of their
//! *deadline*: the time they were queued, plus how far their vruntime is ahead of `min_vruntime` (the vruntime of
//! the last task picked), plus their runtime since they last slept divided by their weight (capped). So a task
//! that ran briefly before sleeping — an interactive one — is picked before a CPU hog, and a task that got more than
//! its share waits longer. A task that slept long is credited at most one slice: its vruntime is raised to
//! `min_vruntime - slice` if it fell further behind, so sleeping does not buy a burst that would starve everyone
//! else. Anchoring deadlines to the time a task was queued makes them comparable in the kernel side's shared
//! queue, which is ordered by them, and bounds every wait: a deadline is at most [`MAX_DEADLINE_OFFSET_NS`] after
//! the task was queued, so tasks queued later than that come after it, whatever they are (no starvation under a
//! fork storm).
//!
//! The slice is scaled by weight (a weight-200 task gets twice the configured slice), never below a floor. Tasks
//! go to an idle CPU if one is free, else to the shared queue.
//!
//! Per-task state (vruntime and the last run already charged) lives in a map keyed by pid that
//! [`Policy::on_exit`] prunes, so it stays as large as the set of live tasks. The run queue is a binary heap of
//! small (deadline, slot) keys over a slab of queued tasks: O(log n) enqueue and pick, no allocation in
//! steady state.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use rustland_core::{
    ConfigError, Context, CpuTarget, Dispatch, DispatchFlags, EnqueueFlags, Pid, Policy, QueuedTask,
};

/// The largest distance between a task's deadline and the time it was queued (ns).
pub const MAX_DEADLINE_OFFSET_NS: u64 = 1_000_000_000;

/// Settings of the [`Vruntime`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VruntimeConfig {
    /// The slice of a nice-0 task (ns), scaled by weight for others; also the sleep credit.
    pub slice_ns: u64,
    /// The shortest slice, given to the lowest weights (ns).
    pub min_slice_ns: u64,
    /// The cap on "runtime since last sleep" counted into the deadline (ns).
    pub max_runtime_bonus_ns: u64,
    /// Whether a task that just woke up, is owed CPU time and finds no idle CPU preempts a running task. Off by
    /// default: the kernel side already preempts a CPU to run the scheduler when a task wakes on a busy machine,
    /// and that CPU then takes the woken task (its deadline is the earliest); in the simulator's desktop workload
    /// the extra preemption made p99 wakeup latency worse, not better.
    pub preempt_wakeups: bool,
}

impl VruntimeConfig {
    /// The largest accepted [`max_runtime_bonus_ns`](VruntimeConfig::max_runtime_bonus_ns): 10 s.
    pub const MAX_RUNTIME_BONUS_NS: u64 = 10_000_000_000;

    /// Checks the slices lie in the bounds of a [`Dispatch`] with `min_slice_ns <= slice_ns`, and the runtime
    /// cap is at least one slice and at most 10 s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_slice("slice", self.slice_ns)?;
        ConfigError::check_range(
            "min-slice",
            self.min_slice_ns,
            Dispatch::MIN_SLICE_NS,
            self.slice_ns,
            "ns",
        )?;
        ConfigError::check_range(
            "max-runtime-bonus",
            self.max_runtime_bonus_ns,
            self.slice_ns,
            Self::MAX_RUNTIME_BONUS_NS,
            "ns",
        )
    }
}

impl Default for VruntimeConfig {
    fn default() -> Self {
        VruntimeConfig {
            slice_ns: 5_000_000,
            min_slice_ns: 500_000,
            max_runtime_bonus_ns: 50_000_000,
            preempt_wakeups: false,
        }
    }
}

/// What the policy remembers of a live task.
#[derive(Clone, Copy, Debug)]
struct TaskState {
    vruntime: u64,
    /// `stop_ns` of the last run already charged, so a task re-queued without running is not charged twice.
    charged_stop_ns: u64,
}

/// A 16-byte heap key: ordered by deadline (ties, rare, by slot); `slot` indexes the task in the slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    deadline: u64,
    slot: u32,
}

/// A queued task and the vruntime it had when queued.
#[derive(Clone, Copy, Debug)]
struct Queued {
    task: QueuedTask,
    vruntime: u64,
    /// It just woke up and is not ahead of its fair share: worth preempting a running task for.
    urgent: bool,
}

/// The deadline/vruntime policy. See the [crate docs](crate).
#[derive(Debug)]
pub struct Vruntime {
    config: VruntimeConfig,
    tasks: FxHashMap<Pid, TaskState>,
    queue: BinaryHeap<Reverse<Key>>,
    /// Queued tasks, indexed by `Key::slot`; `free` lists the unused slots.
    slab: Vec<Queued>,
    free: Vec<u32>,
    /// The vruntime of the most recently picked task; only grows.
    min_vruntime: u64,
    to_idle: u64,
    to_any: u64,
    preempting: u64,
}

impl Vruntime {
    /// A vruntime policy with these settings. Validate them first with [`VruntimeConfig::validate`].
    pub fn new(config: VruntimeConfig) -> Self {
        Vruntime {
            config,
            tasks: FxHashMap::with_capacity_and_hasher(8192, Default::default()),
            queue: BinaryHeap::with_capacity(8192),
            slab: Vec::with_capacity(8192),
            free: Vec::with_capacity(8192),
            min_vruntime: 0,
            to_idle: 0,
            to_any: 0,
            preempting: 0,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &VruntimeConfig {
        &self.config
    }

    /// How many tasks the policy keeps state for (live tasks it has seen and not yet seen exit).
    pub fn nr_tracked(&self) -> usize {
        self.tasks.len()
    }

    /// The current minimum vruntime (ns).
    pub fn min_vruntime(&self) -> u64 {
        self.min_vruntime
    }

    /// The slice scaled by weight, at least `min_slice_ns`. It does not depend on the queue length: the run loop
    /// dispatches a whole batch at once, and a slice that shrank with the tasks still queued would hand the first
    /// picks of a batch shorter slices than the last, skewing shares against the tasks picked first.
    fn slice_for(&self, task: &QueuedTask) -> u64 {
        task.weight
            .scale(self.config.slice_ns)
            .max(self.config.min_slice_ns)
    }
}

impl Default for Vruntime {
    fn default() -> Self {
        Vruntime::new(VruntimeConfig::default())
    }
}

impl Policy for Vruntime {
    fn name(&self) -> &'static str {
        "vruntime"
    }

    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        let floor = self.min_vruntime.saturating_sub(self.config.slice_ns);
        let state = self.tasks.entry(task.pid).or_insert(TaskState {
            vruntime: self.min_vruntime,
            charged_stop_ns: task.stop_ns,
        });
        if task.stop_ns > state.charged_stop_ns {
            let ran = task
                .stop_ns
                .saturating_sub(task.start_ns.max(state.charged_stop_ns));
            state.vruntime = state
                .vruntime
                .saturating_add(task.weight.inverse_scale(ran));
            state.charged_stop_ns = task.stop_ns;
        }
        // A sleeper is credited at most one slice. A task that was preempted keeps its lag: it did not sleep.
        let woke = task.flags.contains(EnqueueFlags::WAKEUP) || task.exec_runtime_ns == 0;
        if woke {
            state.vruntime = state.vruntime.max(floor);
        }
        // The deadline is the vruntime plus the weighted runtime since the last sleep, expressed relative to
        // `min_vruntime` and anchored to the current time: deadlines of tasks queued at different times then
        // compare correctly in the kernel side's shared queue, and no task is ever more than
        // `MAX_DEADLINE_OFFSET_NS` behind one queued later, so nothing starves.
        let bonus = task
            .weight
            .inverse_scale(task.exec_runtime_ns.min(self.config.max_runtime_bonus_ns));
        let lag = state.vruntime.saturating_sub(self.min_vruntime);
        let offset = bonus.saturating_add(lag).min(MAX_DEADLINE_OFFSET_NS);
        let deadline = ctx.now_ns().saturating_add(offset);
        let queued = Queued {
            task,
            vruntime: state.vruntime,
            urgent: woke && offset == 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = queued;
                slot
            }
            None => {
                self.slab.push(queued);
                (self.slab.len() - 1) as u32
            }
        };
        self.queue.push(Reverse(Key { deadline, slot }));
    }

    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let Reverse(key) = self.queue.pop()?;
        self.free.push(key.slot);
        let Queued {
            task,
            vruntime,
            urgent,
        } = self.slab[key.slot as usize];
        let slice = self.slice_for(&task);
        self.min_vruntime = self.min_vruntime.max(vruntime);
        let dispatch = match ctx.pick_idle_cpu(&task) {
            Some(cpu) => {
                self.to_idle += 1;
                task.dispatch(CpuTarget::Cpu(cpu), slice, key.deadline)
            }
            // No idle CPU: a task that just woke and is owed CPU time takes one from a running task rather than
            // waiting for a slice to end; this is what keeps wakeup latency low under CPU-bound load.
            None if urgent && self.config.preempt_wakeups => {
                self.preempting += 1;
                task.dispatch(CpuTarget::Any, slice, key.deadline)
                    .with_flags(DispatchFlags::PREEMPT)
            }
            None => {
                self.to_any += 1;
                task.dispatch(CpuTarget::Any, slice, key.deadline)
            }
        };
        Some(dispatch)
    }

    /// Forgets the task's vruntime. Queued copies stay in the heap (removing them would cost O(n)); their
    /// dispatches are cancelled by the kernel side.
    fn on_exit(&mut self, pid: Pid, _ctx: &mut Context<'_>) {
        self.tasks.remove(&pid);
    }

    fn nr_held(&self) -> usize {
        self.queue.len()
    }

    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("tracked", self.tasks.len() as u64);
        report("to_idle", self.to_idle);
        report("to_any", self.to_any);
        report("preempting", self.preempting);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustland_core::testing::{queued_task, ManualConnector};
    use rustland_core::Weight;

    fn ran(pid: Pid, seq: u64, start: u64, stop: u64, since_sleep: u64) -> QueuedTask {
        QueuedTask {
            start_ns: start,
            stop_ns: stop,
            exec_runtime_ns: since_sleep,
            ..queued_task(pid, seq)
        }
    }

    #[test]
    fn picks_the_earliest_deadline_first() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        // Same vruntime (new tasks), different runtime since last sleep: the one that ran least goes first.
        p.on_enqueue(ran(1, 1, 0, 0, 30_000_000), &mut ctx);
        p.on_enqueue(ran(2, 1, 0, 0, 100_000), &mut ctx);
        p.on_enqueue(ran(3, 1, 0, 0, 5_000_000), &mut ctx);
        let order: Vec<Pid> = std::iter::from_fn(|| p.pick_next(&mut ctx))
            .map(|d| d.pid())
            .collect();
        assert_eq!(order, vec![2, 3, 1]);
    }

    #[test]
    fn charges_run_time_once_and_divided_by_weight() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        let heavy = QueuedTask {
            weight: Weight::new(200),
            ..ran(1, 1, 0, 0, 0)
        };
        p.on_enqueue(heavy, &mut ctx);
        p.pick_next(&mut ctx).unwrap();
        // It ran 4 ms: charged 2 ms at weight 200.
        p.on_enqueue(
            QueuedTask {
                enq_seq: 2,
                start_ns: 1_000_000,
                stop_ns: 5_000_000,
                ..heavy
            },
            &mut ctx,
        );
        assert_eq!(p.tasks[&1].vruntime, 2_000_000);
        // Re-queued without running again (stale copy): not charged twice.
        p.on_enqueue(
            QueuedTask {
                enq_seq: 3,
                start_ns: 1_000_000,
                stop_ns: 5_000_000,
                ..heavy
            },
            &mut ctx,
        );
        assert_eq!(p.tasks[&1].vruntime, 2_000_000);
    }

    #[test]
    fn a_long_sleeper_is_credited_at_most_one_slice() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        p.on_enqueue(ran(1, 1, 0, 0, 0), &mut ctx);
        p.pick_next(&mut ctx).unwrap();
        // A hog accumulates 1 s of vruntime.
        p.on_enqueue(ran(2, 1, 0, 0, 0), &mut ctx);
        p.pick_next(&mut ctx).unwrap();
        p.on_enqueue(ran(2, 2, 0, 1_000_000_000, 0), &mut ctx);
        p.pick_next(&mut ctx).unwrap();
        assert_eq!(p.min_vruntime(), 1_000_000_000);
        // Task 1 wakes after a long sleep with vruntime 0: it is raised to min_vruntime - slice.
        p.on_enqueue(ran(1, 2, 0, 0, 0), &mut ctx);
        assert_eq!(
            p.tasks[&1].vruntime,
            1_000_000_000 - VruntimeConfig::default().slice_ns
        );
    }

    #[test]
    fn exit_drops_per_task_state() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        for pid in 0..1000 {
            p.on_enqueue(ran(pid, 1, 0, 0, 0), &mut ctx);
            p.pick_next(&mut ctx).unwrap();
            p.on_exit(pid, &mut ctx);
        }
        assert_eq!(p.nr_tracked(), 0);
        // An exit for a pid never seen is harmless.
        p.on_exit(424242, &mut ctx);
    }

    #[test]
    fn slice_scales_with_weight_and_not_with_queue_length() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        for pid in 10..30 {
            p.on_enqueue(queued_task(pid, 1), &mut ctx);
        }
        // Every nice-0 pick of a batch gets the same slice, first or last.
        assert!(std::iter::from_fn(|| p.pick_next(&mut ctx)).all(|d| d.slice_ns() == 5_000_000));
        p.on_enqueue(
            QueuedTask {
                weight: Weight::new(200),
                ..queued_task(2, 1)
            },
            &mut ctx,
        );
        assert_eq!(p.pick_next(&mut ctx).unwrap().slice_ns(), 10_000_000);
        p.on_enqueue(
            QueuedTask {
                weight: Weight::new(1),
                ..queued_task(3, 1)
            },
            &mut ctx,
        );
        assert_eq!(
            p.pick_next(&mut ctx).unwrap().slice_ns(),
            VruntimeConfig::default().min_slice_ns
        );
    }

    #[test]
    fn deadlines_are_anchored_to_the_enqueue_time_and_bounded() {
        let mut p = Vruntime::default();
        let mut conn = ManualConnector::new(1);
        conn.now_ns = 7_000_000_000;
        let mut ctx = Context::new(&mut conn);
        // A task that just woke: deadline is now.
        p.on_enqueue(ran(1, 1, 0, 0, 0), &mut ctx);
        assert_eq!(p.pick_next(&mut ctx).unwrap().vtime(), 7_000_000_000);
        // A low-weight hog with a large runtime since it last slept: pushed back, but at most the bound.
        let hog = QueuedTask {
            weight: Weight::new(1),
            ..ran(2, 1, 0, 0, 10_000_000_000)
        };
        p.on_enqueue(hog, &mut ctx);
        assert_eq!(
            p.pick_next(&mut ctx).unwrap().vtime(),
            7_000_000_000 + MAX_DEADLINE_OFFSET_NS
        );
    }

    #[test]
    fn a_woken_task_preempts_only_when_asked_and_no_cpu_is_idle() {
        let config = VruntimeConfig {
            preempt_wakeups: true,
            ..VruntimeConfig::default()
        };
        let mut p = Vruntime::new(config);
        let mut conn = ManualConnector::new(2);
        conn.idle_cpus.push_back(1);
        let mut ctx = Context::new(&mut conn);
        p.on_enqueue(ran(1, 1, 0, 0, 0), &mut ctx);
        p.on_enqueue(ran(2, 1, 0, 0, 0), &mut ctx);
        // A preempted hog (runtime since last sleep > 0, not woken) never asks for preemption.
        let hog = QueuedTask {
            flags: EnqueueFlags::PREEMPTED,
            ..ran(3, 1, 0, 0, 20_000_000)
        };
        p.on_enqueue(hog, &mut ctx);
        let picks: Vec<Dispatch> = std::iter::from_fn(|| p.pick_next(&mut ctx)).collect();
        assert_eq!(picks[0].target(), CpuTarget::Cpu(1));
        assert!(!picks[0].flags().contains(DispatchFlags::PREEMPT));
        assert_eq!(picks[1].target(), CpuTarget::Any);
        assert!(picks[1].flags().contains(DispatchFlags::PREEMPT));
        assert_eq!(picks[2].pid(), 3);
        assert!(!picks[2].flags().contains(DispatchFlags::PREEMPT));

        let mut default = Vruntime::default();
        default.on_enqueue(ran(4, 1, 0, 0, 0), &mut ctx);
        assert!(!default
            .pick_next(&mut ctx)
            .unwrap()
            .flags()
            .contains(DispatchFlags::PREEMPT));
    }

    #[test]
    fn config_validation() {
        assert!(VruntimeConfig::default().validate().is_ok());
        let bad = VruntimeConfig {
            min_slice_ns: 10_000_000,
            ..VruntimeConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().setting, "min-slice");
        let no_bonus = VruntimeConfig {
            max_runtime_bonus_ns: 1,
            ..VruntimeConfig::default()
        };
        assert_eq!(
            no_bonus.validate().unwrap_err().setting,
            "max-runtime-bonus"
        );
    }
}
