//! Helpers shared by the simulator's integration tests: tiny policies and a recording wrapper.

#![allow(dead_code)]

use std::collections::VecDeque;

use rustland_core::{Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask};
use rustland_sim::{SimConfig, SimReport};

/// Milliseconds in ns.
pub const MS: u64 = 1_000_000;
/// Microseconds in ns.
pub const US: u64 = 1_000;
/// Seconds in ns.
pub const S: u64 = 1_000_000_000;

/// A config of `cpus` CPUs running for `duration_ns`, everything else default.
pub fn config(cpus: u32, duration_ns: u64) -> SimConfig {
    SimConfig {
        nr_cpus: cpus,
        duration_ns,
        ..SimConfig::default()
    }
}

/// First come, first served to the shared queue, fixed slice; vtime increases per dispatch.
#[derive(Default)]
pub struct Fcfs {
    pub queue: VecDeque<QueuedTask>,
    pub slice_ns: u64,
    order: u64,
}

impl Fcfs {
    pub fn with_slice(slice_ns: u64) -> Self {
        Fcfs {
            slice_ns,
            ..Fcfs::default()
        }
    }
}

impl Policy for Fcfs {
    fn name(&self) -> &'static str {
        "fcfs"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push_back(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.queue.pop_front()?;
        self.order += 1;
        Some(t.dispatch(CpuTarget::Any, self.slice_ns, self.order))
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

/// Wraps a policy and records what passes through it.
pub struct Recorder<P> {
    pub inner: P,
    /// Every task handed to `on_enqueue`, in order.
    pub enqueued: Vec<QueuedTask>,
    /// Every dispatch returned by `pick_next`, in order.
    pub dispatched: Vec<Dispatch>,
    /// Every pid handed to `on_exit`, in order.
    pub exits: Vec<Pid>,
}

impl<P> Recorder<P> {
    pub fn new(inner: P) -> Self {
        Recorder {
            inner,
            enqueued: Vec::new(),
            dispatched: Vec::new(),
            exits: Vec::new(),
        }
    }
}

impl<P: Policy> Policy for Recorder<P> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        self.enqueued.push(task);
        self.inner.on_enqueue(task, ctx);
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let d = self.inner.pick_next(ctx)?;
        self.dispatched.push(d);
        Some(d)
    }
    fn on_exit(&mut self, pid: Pid, ctx: &mut Context<'_>) {
        self.exits.push(pid);
        self.inner.on_exit(pid, ctx);
    }
    fn nr_held(&self) -> usize {
        self.inner.nr_held()
    }
    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        self.inner.metrics(report)
    }
}

/// The CPU share of every task of group `name`.
pub fn shares(report: &SimReport, name: &str) -> Vec<f64> {
    let g = report
        .groups
        .iter()
        .position(|g| g.name == name)
        .expect("group exists");
    report
        .tasks
        .iter()
        .filter(|t| t.group == g)
        .map(|t| t.cpu_share)
        .collect()
}

/// The report's group called `name`.
pub fn group<'a>(report: &'a SimReport, name: &str) -> &'a rustland_sim::GroupReport {
    report
        .groups
        .iter()
        .find(|g| g.name == name)
        .expect("group exists")
}

/// Checks that the policy saw `on_exit` exactly once for every task that exited at least `grace_ns` before the end
/// of the run (later exit events may still sit in the ring when the run stops), and never for a live task.
pub fn assert_exits_delivered(report: &SimReport, exits: &[Pid], grace_ns: u64) {
    let mut seen = exits.to_vec();
    seen.sort_unstable();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "on_exit called twice for a pid");
    for t in &report.tasks {
        let delivered = seen.binary_search(&t.pid).is_ok();
        if !t.exited {
            assert!(!delivered, "on_exit for live task {}", t.pid);
        } else if t.born_ns + t.lifetime_ns + grace_ns <= report.elapsed_ns {
            assert!(delivered, "no on_exit for {t:?}");
        }
    }
}
