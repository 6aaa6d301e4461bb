//! Weighted round-robin: every task gets a fixed quantum in turn (the policy of `scx_rlrr`).
//!
//! The quantum is scaled by the task's weight (a nice-0 task gets exactly the configured quantum, a weight-200
//! task twice as much). A task whose quantum expired, or that wakes up, goes to the tail of the one queue, so
//! runnable tasks take strict turns. Tasks go to an idle CPU when one is free, else to the shared queue in turn
//! order.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use rustland_core::{ConfigError, Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask};

/// Settings of the [`RoundRobin`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrConfig {
    /// The quantum of a nice-0 task (ns).
    pub quantum_ns: u64,
}

impl RrConfig {
    /// Checks that the quantum lies in the slice bounds of a [`Dispatch`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_slice("quantum", self.quantum_ns)
    }
}

impl Default for RrConfig {
    fn default() -> Self {
        RrConfig {
            quantum_ns: 5_000_000,
        }
    }
}

/// The round-robin policy. See the [crate docs](crate).
#[derive(Debug)]
pub struct RoundRobin {
    config: RrConfig,
    queue: VecDeque<QueuedTask>,
    /// Increases with every dispatch, so the shared queue (ordered by vtime) keeps turn order.
    turn: u64,
    preempted_requeues: u64,
}

impl RoundRobin {
    /// A round-robin policy with these settings. Validate them first with [`RrConfig::validate`].
    pub fn new(config: RrConfig) -> Self {
        RoundRobin {
            config,
            queue: VecDeque::with_capacity(4096),
            turn: 0,
            preempted_requeues: 0,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &RrConfig {
        &self.config
    }

    /// The quantum of `task`: the configured quantum scaled by its weight, within the slice bounds of a
    /// [`Dispatch`].
    pub fn quantum_of(&self, task: &QueuedTask) -> u64 {
        task.weight
            .scale(self.config.quantum_ns)
            .clamp(Dispatch::MIN_SLICE_NS, Dispatch::MAX_SLICE_NS)
    }
}

impl Default for RoundRobin {
    fn default() -> Self {
        RoundRobin::new(RrConfig::default())
    }
}

impl Policy for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        if task.flags.contains(rustland_core::EnqueueFlags::PREEMPTED) {
            self.preempted_requeues += 1;
        }
        self.queue.push_back(task);
    }

    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let task = self.queue.pop_front()?;
        let target = ctx
            .pick_idle_cpu(&task)
            .map_or(CpuTarget::Any, CpuTarget::Cpu);
        self.turn += 1;
        Some(task.dispatch(target, self.quantum_of(&task), self.turn))
    }

    /// Round-robin keeps no per-task state; see [`Policy::on_exit`].
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}

    fn nr_held(&self) -> usize {
        self.queue.len()
    }

    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("expired", self.preempted_requeues);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustland_core::testing::{queued_task, ManualConnector};
    use rustland_core::Weight;

    #[test]
    fn quantum_scales_with_weight() {
        let rr = RoundRobin::default();
        let mut t = queued_task(1, 1);
        assert_eq!(rr.quantum_of(&t), 5_000_000);
        t.weight = Weight::new(200);
        assert_eq!(rr.quantum_of(&t), 10_000_000);
        t.weight = Weight::new(1);
        assert_eq!(rr.quantum_of(&t), 50_000);
    }

    #[test]
    fn turns_follow_queue_order_and_increase() {
        let mut rr = RoundRobin::default();
        let mut conn = ManualConnector::new(2);
        let mut ctx = Context::new(&mut conn);
        for pid in [3, 1, 2] {
            rr.on_enqueue(queued_task(pid, 1), &mut ctx);
        }
        let picks: Vec<Dispatch> = std::iter::from_fn(|| rr.pick_next(&mut ctx)).collect();
        assert_eq!(
            picks.iter().map(|d| d.pid()).collect::<Vec<_>>(),
            vec![3, 1, 2]
        );
        assert!(picks.windows(2).all(|w| w[0].vtime() < w[1].vtime()));
        assert!(picks.iter().all(|d| d.target() == CpuTarget::Any));
    }

    #[test]
    fn idle_cpu_is_used_when_offered() {
        let mut rr = RoundRobin::default();
        let mut conn = ManualConnector::new(2);
        conn.idle_cpus.push_back(1);
        let mut ctx = Context::new(&mut conn);
        rr.on_enqueue(queued_task(1, 1), &mut ctx);
        rr.on_enqueue(queued_task(2, 1), &mut ctx);
        assert_eq!(rr.pick_next(&mut ctx).unwrap().target(), CpuTarget::Cpu(1));
        assert_eq!(rr.pick_next(&mut ctx).unwrap().target(), CpuTarget::Any);
    }

    #[test]
    fn config_validation_rejects_out_of_range_quanta() {
        assert!(RrConfig { quantum_ns: 0 }.validate().is_err());
        assert!(RrConfig {
            quantum_ns: 2_000_000_000
        }
        .validate()
        .is_err());
        assert!(RrConfig::default().validate().is_ok());
    }
}
