//! Earliest deadline first: the policy built step by step in `docs/writing-a-policy.md`.
//!
//! Every time a task is queued it gets a deadline: the time it was queued plus a *relative deadline* that shrinks
//! as its weight grows (a nice-0 task gets [`EdfConfig::relative_deadline_ns`], a weight-200 task half of it).
//! Tasks are dispatched earliest deadline first, and the deadline becomes the task's `vtime`, so the kernel side's
//! shared queue runs them in the same order. A task that waits long enough always ends up with the earliest
//! deadline: nothing starves.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustland_core::{ConfigError, Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask, TaskRef};

/// Settings of the [`Edf`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdfConfig {
    /// Relative deadline of a nice-0 task (ns); divided by `weight / 100` for other weights.
    pub relative_deadline_ns: u64,
    /// Slice every dispatched task gets (ns).
    pub slice_ns: u64,
}

impl Default for EdfConfig {
    fn default() -> Self {
        EdfConfig {
            relative_deadline_ns: 10_000_000,
            slice_ns: 5_000_000,
        }
    }
}

impl EdfConfig {
    /// Checks both values lie in the slice bounds of a [`Dispatch`] (10 µs to 1 s).
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_slice("relative-deadline", self.relative_deadline_ns)?;
        ConfigError::check_slice("slice", self.slice_ns)
    }
}

/// A queued task and its absolute deadline, ordered by deadline (then by arrival, to keep ties FIFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    deadline: u64,
    arrival: u64,
    task: TaskRef,
}

/// The earliest-deadline-first policy. See the [crate docs](crate).
#[derive(Debug)]
pub struct Edf {
    config: EdfConfig,
    queue: BinaryHeap<Reverse<Queued>>,
    arrivals: u64,
}

impl Edf {
    /// An EDF policy with these settings.
    pub fn new(config: EdfConfig) -> Self {
        Edf {
            config,
            queue: BinaryHeap::with_capacity(4096),
            arrivals: 0,
        }
    }
}

impl Default for Edf {
    fn default() -> Self {
        Edf::new(EdfConfig::default())
    }
}

impl Policy for Edf {
    fn name(&self) -> &'static str {
        "edf"
    }

    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        let relative = task.weight.inverse_scale(self.config.relative_deadline_ns);
        self.arrivals += 1;
        self.queue.push(Reverse(Queued {
            deadline: ctx.now_ns() + relative,
            arrival: self.arrivals,
            task: task.task_ref(),
        }));
    }

    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let Reverse(next) = self.queue.pop()?;
        let target = match ctx.pick_idle_cpu(next.task) {
            Some(cpu) => CpuTarget::Cpu(cpu),
            None => CpuTarget::Any,
        };
        Some(
            next.task
                .dispatch(target, self.config.slice_ns, next.deadline),
        )
    }

    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}

    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustland_core::testing::{queued_task, ManualConnector};
    use rustland_core::Weight;

    #[test]
    fn heavier_tasks_get_earlier_deadlines() {
        let mut edf = Edf::default();
        let mut conn = ManualConnector::new(1);
        conn.now_ns = 1_000_000;
        let mut ctx = Context::new(&mut conn);
        edf.on_enqueue(queued_task(1, 1), &mut ctx);
        let heavy = QueuedTask {
            weight: Weight::new(400),
            ..queued_task(2, 1)
        };
        edf.on_enqueue(heavy, &mut ctx);
        let first = edf.pick_next(&mut ctx).unwrap();
        let second = edf.pick_next(&mut ctx).unwrap();
        assert_eq!((first.pid(), second.pid()), (2, 1));
        assert_eq!(first.vtime(), 1_000_000 + 10_000_000 / 4);
        assert_eq!(second.vtime(), 1_000_000 + 10_000_000);
        assert!(edf.pick_next(&mut ctx).is_none());
    }
}
