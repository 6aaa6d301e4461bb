//! First-in first-out: tasks run in the order they were queued (the policy of `scx_rlfifo`).
//!
//! Each task gets a slice that shrinks as more tasks wait (`slice / (waiting + 1)`, never below a floor), so a long
//! queue drains quickly. A task goes to an idle CPU when one is free, else to the shared queue, where it keeps its
//! place in line.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use rustland_core::{ConfigError, Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask};

/// Settings of the [`Fifo`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FifoConfig {
    /// The slice of a task when nothing else waits (ns).
    pub slice_ns: u64,
    /// The shortest slice handed out however long the queue (ns).
    pub min_slice_ns: u64,
}

impl FifoConfig {
    /// Checks that both slices lie in the bounds of a [`Dispatch`] and that `min_slice_ns <= slice_ns`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_slice("slice", self.slice_ns)?;
        ConfigError::check_range(
            "min-slice",
            self.min_slice_ns,
            Dispatch::MIN_SLICE_NS,
            self.slice_ns,
            "ns",
        )
    }
}

impl Default for FifoConfig {
    fn default() -> Self {
        FifoConfig {
            slice_ns: 5_000_000,
            min_slice_ns: 250_000,
        }
    }
}

/// The FIFO policy. See the [crate docs](crate).
#[derive(Debug)]
pub struct Fifo {
    config: FifoConfig,
    queue: VecDeque<QueuedTask>,
    /// Increases with every dispatch, so the shared queue (ordered by vtime) keeps arrival order.
    next_order: u64,
    dispatched_to_idle: u64,
    dispatched_to_any: u64,
}

impl Fifo {
    /// A FIFO policy with these settings. Validate them first with [`FifoConfig::validate`].
    pub fn new(config: FifoConfig) -> Self {
        Fifo {
            config,
            queue: VecDeque::with_capacity(4096),
            next_order: 0,
            dispatched_to_idle: 0,
            dispatched_to_any: 0,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &FifoConfig {
        &self.config
    }

    fn slice_ns(&self) -> u64 {
        let waiting = self.queue.len() as u64;
        (self.config.slice_ns / (waiting + 1)).max(self.config.min_slice_ns)
    }
}

impl Default for Fifo {
    fn default() -> Self {
        Fifo::new(FifoConfig::default())
    }
}

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push_back(task);
    }

    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let slice = self.slice_ns();
        let task = self.queue.pop_front()?;
        let target = match ctx.pick_idle_cpu(&task) {
            Some(cpu) => {
                self.dispatched_to_idle += 1;
                CpuTarget::Cpu(cpu)
            }
            None => {
                self.dispatched_to_any += 1;
                CpuTarget::Any
            }
        };
        self.next_order += 1;
        Some(task.dispatch(target, slice, self.next_order))
    }

    /// FIFO keeps no per-task state; a queued copy of an exited task is dispatched and then cancelled by the
    /// kernel side, which costs less than searching the queue on every exit.
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}

    fn nr_held(&self) -> usize {
        self.queue.len()
    }

    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("to_idle", self.dispatched_to_idle);
        report("to_any", self.dispatched_to_any);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustland_core::testing::{queued_task, ManualConnector};

    #[test]
    fn dispatches_in_arrival_order_with_increasing_vtime() {
        let mut fifo = Fifo::default();
        let mut conn = ManualConnector::new(4);
        let mut ctx = Context::new(&mut conn);
        for pid in [5, 9, 2, 7] {
            fifo.on_enqueue(queued_task(pid, 1), &mut ctx);
        }
        let picks: Vec<Dispatch> = std::iter::from_fn(|| fifo.pick_next(&mut ctx)).collect();
        assert_eq!(
            picks.iter().map(|d| d.pid()).collect::<Vec<_>>(),
            vec![5, 9, 2, 7]
        );
        assert!(picks.windows(2).all(|w| w[0].vtime() < w[1].vtime()));
    }

    #[test]
    fn slice_shrinks_with_waiting_tasks_but_not_below_the_floor() {
        let mut fifo = Fifo::default();
        let mut conn = ManualConnector::new(1);
        let mut ctx = Context::new(&mut conn);
        fifo.on_enqueue(queued_task(1, 1), &mut ctx);
        fifo.on_enqueue(queued_task(2, 1), &mut ctx);
        // Two waiting when the first is picked: 5 ms / 3.
        assert_eq!(fifo.pick_next(&mut ctx).unwrap().slice_ns(), 5_000_000 / 3);
        // One waiting: 5 ms / 2.
        assert_eq!(fifo.pick_next(&mut ctx).unwrap().slice_ns(), 5_000_000 / 2);
        for pid in 0..100 {
            fifo.on_enqueue(queued_task(pid, 1), &mut ctx);
        }
        assert_eq!(
            fifo.pick_next(&mut ctx).unwrap().slice_ns(),
            FifoConfig::default().min_slice_ns
        );
    }

    #[test]
    fn prefers_an_idle_cpu() {
        let mut fifo = Fifo::default();
        let mut conn = ManualConnector::new(2);
        conn.idle_cpus.push_back(1);
        let mut ctx = Context::new(&mut conn);
        fifo.on_enqueue(queued_task(1, 1), &mut ctx);
        fifo.on_enqueue(queued_task(2, 1), &mut ctx);
        assert_eq!(
            fifo.pick_next(&mut ctx).unwrap().target(),
            CpuTarget::Cpu(1)
        );
        assert_eq!(fifo.pick_next(&mut ctx).unwrap().target(), CpuTarget::Any);
    }

    #[test]
    fn config_validation() {
        assert!(FifoConfig::default().validate().is_ok());
        let bad = FifoConfig {
            slice_ns: 0,
            ..FifoConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().setting, "slice");
        let inverted = FifoConfig {
            slice_ns: 100_000,
            min_slice_ns: 200_000,
        };
        assert_eq!(inverted.validate().unwrap_err().setting, "min-slice");
    }
}
