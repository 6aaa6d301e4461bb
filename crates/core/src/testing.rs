//! A hand-driven [`Connector`] for unit tests of policies and of the run loop.
//!
//! Nothing here simulates a machine (that is `rustland-sim`'s job): a test pushes events, chooses which CPUs are
//! idle, sets the clock and the channel capacity, and reads back what was dispatched.

use std::collections::VecDeque;

use crate::{
    Comm, Connector, ConnectorError, Counters, Delivery, Dispatch, EnqueueFlags, Event, ExitInfo,
    Pid, QueuedTask, Weight,
};

/// A [`Connector`] whose every answer is set by the test.
#[derive(Debug, Default)]
pub struct ManualConnector {
    /// Events `try_recv` hands out, front first.
    pub events: VecDeque<Event>,
    /// Dispatches accepted so far, in order.
    pub dispatched: Vec<Dispatch>,
    /// How many more dispatches are accepted before `try_dispatch` answers [`Delivery::Full`]; `None` is unlimited.
    pub capacity: Option<usize>,
    /// CPUs `pick_idle_cpu` hands out (front first); each is handed out once.
    pub idle_cpus: VecDeque<u32>,
    /// The clock (ns).
    pub now_ns: u64,
    /// Nanoseconds added to the clock by each `yield_cpu`.
    pub tick_ns: u64,
    /// Number of CPUs reported.
    pub nr_cpus: u32,
    /// The exit `exit_info` reports.
    pub exit: Option<ExitInfo>,
    /// The last value published with `set_held`.
    pub published_held: u64,
    /// How many times `yield_cpu` was called.
    pub yields: u64,
}

impl ManualConnector {
    /// A connector for `nr_cpus` CPUs with an unlimited channel, no idle CPUs and a clock at 0.
    pub fn new(nr_cpus: u32) -> Self {
        ManualConnector {
            nr_cpus,
            ..Default::default()
        }
    }

    /// Queues an [`Event::Queued`] for `task`.
    pub fn push_task(&mut self, task: QueuedTask) {
        self.events.push_back(Event::Queued(task));
    }

    /// Queues an [`Event::Exited`] for `pid`.
    pub fn push_exit(&mut self, pid: Pid) {
        self.events.push_back(Event::Exited { pid });
    }
}

impl Connector for ManualConnector {
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        Ok(self.events.pop_front())
    }

    fn try_dispatch(&mut self, dispatch: &Dispatch) -> Result<Delivery, ConnectorError> {
        match &mut self.capacity {
            Some(0) => return Ok(Delivery::Full),
            Some(n) => *n -= 1,
            None => {}
        }
        self.dispatched.push(*dispatch);
        Ok(Delivery::Sent)
    }

    fn set_held(&mut self, nr_held: u64) {
        self.published_held = nr_held;
    }

    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        self.yields += 1;
        self.now_ns += self.tick_ns;
        Ok(())
    }

    fn pick_idle_cpu(&mut self, _pid: Pid, _prev_cpu: u32) -> Option<u32> {
        self.idle_cpus.pop_front()
    }

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.clone()
    }

    fn counters(&self) -> Counters {
        Counters {
            user_dispatches: self.dispatched.len() as u64,
            nr_scheduled: self.published_held,
            ..Counters::default()
        }
    }
}

/// A queued nice-0 task with this pid and sequence number, last on CPU 0, allowed on `nr_cpus_allowed` CPUs,
/// woken up, never run, with comm `task-<pid>`.
pub fn queued_task(pid: Pid, enq_seq: u64) -> QueuedTask {
    QueuedTask {
        pid,
        prev_cpu: 0,
        nr_cpus_allowed: 64,
        flags: EnqueueFlags::WAKEUP,
        start_ns: 0,
        stop_ns: 0,
        exec_runtime_ns: 0,
        weight: Weight::NICE0,
        vtime: 0,
        enq_seq,
        comm: Comm::new(&format!("task-{pid}")),
    }
}

/// Keeps a policy loaded with `n` runnable tasks and cycles them: each [`PolicyCycler::cycle`] picks one task and
/// queues it again as if it had just run for a varying while. Used by the policy benchmarks to measure one
/// `pick_next` + `on_enqueue` pair at a given queue length, with no kernel and no simulator in the way.
#[derive(Debug)]
pub struct PolicyCycler {
    connector: ManualConnector,
    template: QueuedTask,
    rng: u64,
    seq: u64,
}

impl PolicyCycler {
    /// Hands `n` new tasks (pids `1..=n`) to `policy`.
    pub fn fill<P: crate::Policy>(policy: &mut P, n: usize) -> Self {
        let mut cycler = PolicyCycler {
            connector: ManualConnector::new(64),
            template: queued_task(0, 0),
            rng: 0x9E37_79B9_7F4A_7C15,
            seq: 0,
        };
        for pid in 1..=n as Pid {
            let task = cycler.next_task(queued_task(pid, 0));
            policy.on_enqueue(task, &mut crate::Context::new(&mut cycler.connector));
        }
        cycler
    }

    /// One pair: `pick_next`, then `on_enqueue` of the picked task with a new sequence number, a last run of
    /// 0.1..1.7 ms and runtime since last sleep of 0..6.5 ms. Panics if the policy holds no task.
    pub fn cycle<P: crate::Policy>(&mut self, policy: &mut P) -> Dispatch {
        let mut ctx = crate::Context::new(&mut self.connector);
        let dispatch = policy.pick_next(&mut ctx).expect("the policy holds tasks");
        let task = QueuedTask {
            pid: dispatch.pid(),
            vtime: dispatch.vtime(),
            ..self.template
        };
        let task = self.next_task(task);
        policy.on_enqueue(task, &mut crate::Context::new(&mut self.connector));
        dispatch
    }

    fn next_task(&mut self, mut task: QueuedTask) -> QueuedTask {
        // xorshift64: cheap, deterministic variety.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.seq += 1;
        self.connector.now_ns += 100_000 + (self.rng & 0xF_FFFF);
        task.enq_seq = self.seq;
        task.start_ns = self
            .connector
            .now_ns
            .saturating_sub(100_000 + (self.rng >> 44));
        task.stop_ns = self.connector.now_ns;
        task.exec_runtime_ns = (self.rng >> 20) & 0x3F_FFFF;
        task.flags = EnqueueFlags::PREEMPTED;
        task
    }
}
