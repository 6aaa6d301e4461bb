//! The shared queue: dispatched tasks not bound to one CPU's local queue, ordered by (vtime, dispatch order), as
//! the BPF side's shared dispatch queue. The fallback's queue is another one, in its own vtime order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::task::Task;
use super::Simulator;

/// A task in the shared queue, ordered by (vtime, dispatch order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SharedEntry {
    key: (u64, u64),
    task: u32,
}

/// The shared queue, split by affinity so a CPU finds its next task without scanning tasks it may not run: tasks
/// allowed everywhere, tasks pinned to one CPU (per CPU), others.
#[derive(Debug)]
pub(super) struct SharedQueue {
    any: BinaryHeap<Reverse<SharedEntry>>,
    pinned: Vec<BinaryHeap<Reverse<SharedEntry>>>,
    some: BTreeMap<(u64, u64), u32>,
    /// Dispatch order, the tie-breaker between equal vtimes.
    seq: u64,
    /// Every CPU: a task with this mask goes to `any`.
    all_mask: u64,
}

impl SharedQueue {
    /// An empty queue for `nr_cpus` CPUs.
    pub(super) fn new(nr_cpus: u32, all_mask: u64) -> Self {
        SharedQueue {
            any: BinaryHeap::with_capacity(256),
            pinned: vec![BinaryHeap::new(); nr_cpus as usize],
            some: BTreeMap::new(),
            seq: 0,
            all_mask,
        }
    }

    /// Queues task `t` with `vtime`; `mask` is the CPUs it may run on.
    pub(super) fn push(&mut self, t: u32, vtime: u64, mask: u64) {
        self.seq += 1;
        let key = (vtime, self.seq);
        if mask == self.all_mask {
            self.any.push(Reverse(SharedEntry { key, task: t }));
        } else if mask.count_ones() == 1 {
            self.pinned[mask.trailing_zeros() as usize].push(Reverse(SharedEntry { key, task: t }));
        } else {
            self.some.insert(key, t);
        }
    }

    /// Takes the task with the smallest (vtime, order) among those `cpu` may run.
    pub(super) fn pop_for(&mut self, cpu: u32, tasks: &[Task]) -> Option<u32> {
        let bit = 1u64 << cpu;
        let any = self.any.peek().map(|&Reverse(e)| (e.key, 0));
        let pinned = self.pinned[cpu as usize]
            .peek()
            .map(|&Reverse(e)| (e.key, 1));
        let some = self
            .some
            .iter()
            .find(|(_, &t)| tasks[t as usize].mask & bit != 0)
            .map(|(&k, _)| (k, 2));
        let (key, part) = [any, pinned, some].into_iter().flatten().min()?;
        match part {
            0 => self.any.pop().map(|Reverse(e)| e.task),
            1 => self.pinned[cpu as usize].pop().map(|Reverse(e)| e.task),
            _ => self.some.remove(&key),
        }
    }

    /// Whether a task `cpu` may run is waiting.
    pub(super) fn has_work_for(&self, cpu: u32, tasks: &[Task]) -> bool {
        let bit = 1u64 << cpu;
        !self.any.is_empty()
            || !self.pinned[cpu as usize].is_empty()
            || self
                .some
                .values()
                .any(|&t| tasks[t as usize].mask & bit != 0)
    }
}

impl Simulator {
    /// Puts a dispatched task in the shared queue and kicks an idle CPU that may run it; false if none was idle.
    pub(super) fn insert_shared(&mut self, t: u32, vtime: u64, mask: u64, prev: u32) -> bool {
        self.shared.push(t, vtime, mask);
        self.kick(mask, prev)
    }
}
