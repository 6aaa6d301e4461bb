//! The simulated kernel side: the [`Simulator`] that implements [`Connector`](rustland_core::Connector).
//!
//! One job per submodule, all of them `impl Simulator` blocks over the state declared here:
//! - `events`: the event queue and the loop that processes it, the run's end and the watchdog;
//! - `task`: a task's life (wake up, enqueue, burst end, exit) and the fork streams;
//! - `cpu`: what a CPU runs, its local queue, idle CPUs, preemption and CPU-time accounting;
//! - `shared`: the vtime-ordered shared queue;
//! - `user`: the user-space scheduler as a task that needs a CPU, and how its dispatches take effect;
//! - `bypass`: what the kernel side dispatches without the policy while user space responds (idle fast path,
//!   congested ring, slice extension, direct wakeups);
//! - `fallback`: when user space stops responding, the kernel side schedules every task itself until it is back;
//! - `connector`: the [`Connector`](rustland_core::Connector) methods the run loop calls.
//!
//! The submodules are parts of one state machine and call one another (a CPU that becomes free may hand itself
//! to the scheduler; the scheduler's dispatches preempt CPUs), so they are one unit; outside it, the crate's
//! module graph has no cycle: this module uses [`crate::measure`], [`crate::report`], [`crate::render`] and the
//! configuration; the report depends only on the measurements. [`Simulator::report`] hands it a snapshot of them.

mod bypass;
mod connector;
mod cpu;
mod events;
mod fallback;
mod shared;
mod task;
mod user;

use std::collections::{BinaryHeap, VecDeque};

use rustland_core::{Comm, Counters, Dispatch, Event, ExitInfo, Pid, Weight};

use crate::measure::{Group, Measurements, RunFigures, TaskFacts};
use crate::render;
use crate::report::{self, SimReport};
use crate::rng::Rng;
use crate::{Behaviour, SimConfig, SimError, TaskKind, Workload};

use cpu::Cpu;
use events::{Entry, Ev};
use fallback::Fallback;
use shared::SharedQueue;
use task::{State, Stream, Task};
use user::Sched;

/// Pid of the first simulated task; the others follow in creation order.
pub const FIRST_PID: Pid = 100;

/// The most tasks one run may create (each costs about 200 bytes, plus its latency samples).
pub const MAX_TASKS: u64 = 2_000_000;

/// "No time": an unset timestamp or an infinite duration.
const NEVER: u64 = u64::MAX;

/// The simulated kernel side of one run. Implements [`Connector`](rustland_core::Connector); drive it with
/// [`RunLoop`](rustland_core::RunLoop) and read [`Simulator::report`] afterwards.
///
/// ```
/// use rustland_core::RunLoop;
/// use rustland_policy_fifo::Fifo;
/// use rustland_sim::{SimConfig, Simulator, TaskSpec, Workload};
///
/// let workload = Workload::new().with(TaskSpec::hog("hog").count(3));
/// let config = SimConfig { nr_cpus: 2, duration_ns: 100_000_000, ..SimConfig::default() };
/// let mut run = RunLoop::new(Fifo::default(), Simulator::new(config, &workload)?);
/// run.run()?;
/// let (_, sim) = run.into_parts();
/// let report = sim.report();
/// assert!(!report.exit.is_error());
/// assert!(report.totals.utilisation > 0.9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    now: u64,
    heap: BinaryHeap<std::cmp::Reverse<Entry>>,
    seq: u64,
    rng: Rng,
    tasks: Vec<Task>,
    streams: Vec<Stream>,
    cpus: Vec<Cpu>,
    ring: VecDeque<Event>,
    ring_tasks: usize,
    pending: Vec<Dispatch>,
    round_events: u64,
    round_full: bool,
    shared: SharedQueue,
    /// Every CPU.
    all_mask: u64,
    /// CPUs with a running task.
    running_mask: u64,
    /// CPUs claimed by `pick_idle_cpu` and not yet targeted.
    claimed_mask: u64,
    /// CPUs whose local queue is not empty.
    local_mask: u64,
    held: u64,
    sched: Sched,
    /// The CPU the scheduler occupies while waking or running.
    sched_cpu: Option<u32>,
    /// The CPU it last ran on (preferred when idle).
    sched_last_cpu: u32,
    /// When the armed wake-up of the scheduler fires.
    sched_wake_at: u64,
    /// Set while the scheduler hands its CPU back, so that CPU does not give itself straight back to it.
    parking: bool,
    /// The scheduler is stopped (in one of the configured user stalls): it runs no round and takes no CPU.
    user_stopped: bool,
    /// Tasks in user space's custody: handed to it (state `Queued`) and not yet dispatched.
    nr_custody: u64,
    /// The fallback for an unresponsive user space.
    fallback: Fallback,
    counters: Counters,
    exit: Option<ExitInfo>,
    live: Vec<u32>,
    meas: Measurements,
}

impl Simulator {
    /// A simulator of `workload` under `config`. The workload's `[sim]` overrides are *not* applied here (see
    /// [`SimOverrides::apply`](crate::SimOverrides::apply)); the CLI applies them before its own flags.
    pub fn new(config: SimConfig, workload: &Workload) -> Result<Self, SimError> {
        config.validate()?;
        workload.validate(config.nr_cpus)?;
        check_task_count(&config, workload)?;
        let n = config.nr_cpus;
        let all_mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        let mut sim = Simulator {
            now: 0,
            heap: BinaryHeap::with_capacity(1024),
            seq: 0,
            rng: Rng::new(config.seed),
            tasks: Vec::new(),
            streams: Vec::new(),
            cpus: vec![Cpu::default(); n as usize],
            ring: VecDeque::with_capacity(config.ring_capacity.min(1 << 16) + 64),
            ring_tasks: 0,
            pending: Vec::with_capacity(config.dispatch_capacity.min(1 << 16)),
            round_events: 0,
            round_full: false,
            shared: SharedQueue::new(n, all_mask),
            all_mask,
            running_mask: 0,
            claimed_mask: 0,
            local_mask: 0,
            held: 0,
            sched: Sched::Parked,
            sched_cpu: None,
            sched_last_cpu: 0,
            sched_wake_at: NEVER,
            parking: false,
            user_stopped: false,
            nr_custody: 0,
            fallback: Fallback::new(n, all_mask),
            counters: Counters::default(),
            exit: None,
            live: Vec::new(),
            meas: Measurements::default(),
            cfg: config,
        };
        for (gi, spec) in workload.tasks.iter().enumerate() {
            let group = gi as u32;
            let weight = Weight::new(spec.weight);
            let mask = spec.affinity_mask(n);
            let comm = Comm::new(&spec.name);
            let work = spec.exit_after_ns.unwrap_or(NEVER);
            match spec.kind {
                TaskKind::Tasks(behaviour) => {
                    sim.meas.groups.push(Group {
                        name: spec.name.clone(),
                        forked: false,
                    });
                    for _ in 0..spec.count {
                        let a =
                            sim.add_task(comm, group, weight, mask, behaviour, work, spec.start_ns);
                        sim.push(spec.start_ns, Ev::Arrive(a));
                        if let Behaviour::PingPong { .. } = behaviour {
                            // The partner starts blocked on the pipe; `a` wakes it after its first turn.
                            let b = sim.add_task(
                                comm,
                                group,
                                weight,
                                mask,
                                behaviour,
                                work,
                                spec.start_ns,
                            );
                            sim.tasks[a as usize].partner = b;
                            sim.tasks[b as usize].partner = a;
                            sim.tasks[b as usize].state = State::Sleeping;
                        }
                    }
                }
                TaskKind::Fork {
                    every_ns,
                    work_ns,
                    max,
                } => {
                    sim.meas.groups.push(Group {
                        name: spec.name.clone(),
                        forked: true,
                    });
                    for _ in 0..spec.count {
                        let stream = sim.streams.len() as u32;
                        sim.streams.push(Stream {
                            group,
                            every_ns,
                            work_ns,
                            remaining: max,
                            weight,
                            mask,
                            comm,
                        });
                        sim.push(spec.start_ns, Ev::Spawn(stream));
                    }
                }
            }
        }
        for stall in sim.cfg.user_stalls.clone() {
            sim.push(stall.at_ns, Ev::UserStop);
            sim.push(stall.end_ns(), Ev::UserCont);
        }
        let check = (sim.cfg.watchdog_timeout_ns / 10).max(1);
        sim.push(check, Ev::Watchdog);
        sim.push(sim.cfg.duration_ns, Ev::End);
        Ok(sim)
    }

    /// The settings of this run.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// How many kernel-side events have been simulated so far.
    pub fn events(&self) -> u64 {
        self.meas.engine.events
    }

    /// The report of the run so far (complete once [`Connector::exit_info`](rustland_core::Connector::exit_info)
    /// is `Some`).
    pub fn report(&self) -> SimReport {
        let tasks = self
            .tasks
            .iter()
            .map(|t| TaskFacts {
                pid: t.pid,
                comm: t.comm,
                group: t.group,
                weight: t.weight,
                hog: t.is_hog(),
                exited: t.exited(),
                stats: &t.stats,
            })
            .collect();
        report::build(&RunFigures {
            elapsed_ns: self.meas.ended_ns.unwrap_or(self.now),
            nr_cpus: self.cfg.nr_cpus,
            tasks,
            meas: &self.meas,
            exit: self.exit.clone(),
            counters: self.counters_now(),
        })
    }

    /// The counters with the gauges filled in for now.
    fn counters_now(&self) -> Counters {
        let mut c = self.counters;
        c.nr_running = self.cpus.iter().filter(|c| c.current.is_some()).count() as u64;
        c.nr_queued = self.ring_tasks as u64;
        c.nr_scheduled = self.held;
        c.nr_custody = self.nr_custody;
        c.fallback_ns += self.fallback_ongoing_ns();
        c
    }
}

/// Rejects a workload that would create more than [`MAX_TASKS`] tasks over the run.
fn check_task_count(config: &SimConfig, workload: &Workload) -> Result<(), SimError> {
    let mut total: u64 = 0;
    for spec in &workload.tasks {
        let per_entry = match spec.kind {
            TaskKind::Tasks(Behaviour::PingPong { .. }) => 2,
            TaskKind::Tasks(_) => 1,
            TaskKind::Fork { every_ns, max, .. } => {
                let span = config.duration_ns.saturating_sub(spec.start_ns);
                let forks = span / every_ns.max(1) + 1;
                max.map_or(forks, |m| m.min(forks))
            }
        };
        total = total.saturating_add(per_entry.saturating_mul(u64::from(spec.count)));
        if total > MAX_TASKS {
            return Err(SimError::Workload {
                entry: spec.name.clone(),
                message: format!(
                    "the workload would create more than {MAX_TASKS} tasks in {}; fork less often or run shorter",
                    render::fmt_ns(config.duration_ns)
                ),
            });
        }
    }
    Ok(())
}
