//! The discrete-event engine: the simulated kernel side, as a [`Connector`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use rustland_core::{
    Comm, Connector, ConnectorError, Counters, CpuTarget, Delivery, Dispatch, DispatchFlags,
    EnqueueFlags, Event, ExitInfo, ExitKind, Pid, QueuedTask, Weight,
};

use crate::report::{self, SimReport};
use crate::rng::Rng;
use crate::{Behaviour, SimConfig, SimError, TaskKind, Workload};

/// Pid of the first simulated task; the others follow in creation order.
pub const FIRST_PID: Pid = 100;

/// "No time": an unset timestamp or an infinite duration.
const NEVER: u64 = u64::MAX;

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Created, not yet arrived.
    Pending,
    /// Asleep (or blocked on its ping-pong partner).
    Sleeping,
    /// Handed to user space (in the ring or held by the policy), waiting for a dispatch.
    Queued,
    /// Dispatched to a kernel-side queue (a CPU's local queue or the shared queue).
    Waiting,
    /// On a CPU.
    Running,
    /// Gone.
    Exited,
}

/// Direct wakeups use at most a quarter of a CPU's time in each window of this length (as on the BPF side).
const DIRECT_WINDOW_NS: u64 = 100_000_000;

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub(crate) pid: Pid,
    pub(crate) comm: Comm,
    pub(crate) group: u32,
    pub(crate) weight: Weight,
    mask: u64,
    behaviour: Behaviour,
    /// Ping-pong partner's index (`u32::MAX`: none).
    partner: u32,
    /// A pending wake-up from the partner that arrived while this task was not asleep.
    token: bool,
    state: State,
    /// Whether the task has never been enqueued (its first enqueue carries `NEW`).
    fresh: bool,
    enq_seq: u64,
    vtime: u64,
    prev_cpu: u32,
    start_ns: u64,
    stop_ns: u64,
    exec_runtime_ns: u64,
    /// CPU time of its last burst (between its last two sleeps).
    last_burst_ns: u64,
    /// Put on its CPU by a direct wakeup and not stopped since.
    direct: bool,
    slice_left: u64,
    burst_left: u64,
    work_left: u64,
    /// When the task last became runnable while not running (`NEVER` while it runs or sleeps).
    runnable_since: u64,
    /// The current runnable period started with a wake-up: record the latency when it first runs.
    latency_pending: bool,
    pub(crate) born_ns: u64,
    pub(crate) exited_ns: u64,
    pub(crate) runtime_ns: u64,
    pub(crate) completed: u64,
    pub(crate) user_dispatches: u64,
    pub(crate) kernel_dispatches: u64,
    pub(crate) preemptions: u64,
    /// Longest stretch runnable without running (ns).
    pub(crate) max_wait_ns: u64,
}

impl Task {
    fn runnable_waiting(&self) -> bool {
        matches!(self.state, State::Queued | State::Waiting)
    }

    pub(crate) fn is_hog(&self) -> bool {
        self.behaviour.is_hog()
    }

    pub(crate) fn exited(&self) -> bool {
        self.state == State::Exited
    }
}

#[derive(Clone, Debug, Default)]
struct Cpu {
    current: Option<u32>,
    local: VecDeque<u32>,
    /// Bumped whenever the pending stop event of this CPU becomes invalid.
    gen: u64,
    /// Start of the current uninterrupted stretch of the running task.
    run_start: u64,
    /// When the running task was put on this CPU (for "has run longest").
    task_started: u64,
    /// CPU time used by directly woken tasks in the current budget window, and when that window started.
    direct_used_ns: u64,
    direct_window_ns: u64,
}

/// What the user-space scheduler is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sched {
    /// Asleep in `yield_cpu`, on no CPU.
    Parked,
    /// Has work but no CPU: it takes the next CPU that becomes free.
    Pending,
    /// A CPU is reserved for it; it runs when `sched_wake_at` comes.
    Waking,
    /// Running a round of the run loop on its CPU.
    Running,
}

/// A workload group as the report sees it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) forked: bool,
}

#[derive(Clone, Copy, Debug)]
struct Stream {
    group: u32,
    every_ns: u64,
    work_ns: u64,
    remaining: Option<u64>,
    weight: Weight,
    mask: u64,
    comm: Comm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A pre-created task appears.
    Arrive(u32),
    /// A sleeping task wakes up.
    Wake(u32),
    /// The running task of a CPU reaches the end of its slice, burst or work (if `gen` still matches).
    CpuStop { cpu: u32, gen: u64 },
    /// The user-space scheduler wakes up (if still armed for this time).
    SchedWake,
    /// The scheduler's heartbeat while it holds tasks (or after a full dispatch channel).
    SchedTick,
    /// A fork stream creates a task.
    Spawn(u32),
    /// The watchdog looks for stalled tasks.
    Watchdog,
    /// The configured duration is over.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    time: u64,
    seq: u64,
    ev: Ev,
}

/// A task in the shared queue, ordered by (vtime, dispatch order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SharedEntry {
    key: (u64, u64),
    task: u32,
}

/// Totals the engine keeps besides the per-task figures.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EngineStats {
    pub(crate) events: u64,
    pub(crate) sched_rounds: u64,
    pub(crate) sched_cpu_ns: u64,
    pub(crate) tasks_exited: u64,
}

/// The simulated kernel side of one run. Implements [`Connector`]; drive it with
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
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    rng: Rng,
    pub(crate) tasks: Vec<Task>,
    pub(crate) groups: Vec<Group>,
    streams: Vec<Stream>,
    cpus: Vec<Cpu>,
    ring: VecDeque<Event>,
    ring_tasks: usize,
    pending: Vec<Dispatch>,
    round_events: u64,
    round_full: bool,
    /// The shared queue, ordered by (vtime, dispatch order), split by affinity so a CPU finds its next task
    /// without scanning tasks it may not run: tasks allowed everywhere, tasks pinned to one CPU (per CPU), others.
    shared_any: BinaryHeap<Reverse<SharedEntry>>,
    shared_pinned: Vec<BinaryHeap<Reverse<SharedEntry>>>,
    shared_some: BTreeMap<(u64, u64), u32>,
    shared_seq: u64,
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
    counters: Counters,
    exit: Option<ExitInfo>,
    pub(crate) latencies: Vec<(u32, u64)>,
    live: Vec<u32>,
    pub(crate) stats: EngineStats,
    pub(crate) ended_ns: Option<u64>,
}

impl Simulator {
    /// A simulator of `workload` under `config`. The workload's `[sim]` overrides are *not* applied here (see
    /// [`SimOverrides::apply`](crate::SimOverrides::apply)); the CLI applies them before its own flags.
    pub fn new(config: SimConfig, workload: &Workload) -> Result<Self, SimError> {
        config.validate()?;
        workload.validate(config.nr_cpus)?;
        check_task_count(&config, workload)?;
        let n = config.nr_cpus;
        let mut sim = Simulator {
            now: 0,
            heap: BinaryHeap::with_capacity(1024),
            seq: 0,
            rng: Rng::new(config.seed),
            tasks: Vec::new(),
            groups: Vec::new(),
            streams: Vec::new(),
            cpus: vec![Cpu::default(); n as usize],
            ring: VecDeque::with_capacity(config.ring_capacity.min(1 << 16) + 64),
            ring_tasks: 0,
            pending: Vec::with_capacity(config.dispatch_capacity.min(1 << 16)),
            round_events: 0,
            round_full: false,
            shared_any: BinaryHeap::with_capacity(256),
            shared_pinned: vec![BinaryHeap::new(); n as usize],
            shared_some: BTreeMap::new(),
            shared_seq: 0,
            all_mask: if n >= 64 { u64::MAX } else { (1u64 << n) - 1 },
            running_mask: 0,
            claimed_mask: 0,
            local_mask: 0,
            held: 0,
            sched: Sched::Parked,
            sched_cpu: None,
            sched_last_cpu: 0,
            sched_wake_at: NEVER,
            parking: false,
            counters: Counters::default(),
            exit: None,
            latencies: Vec::new(),
            live: Vec::new(),
            stats: EngineStats::default(),
            ended_ns: None,
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
                    sim.groups.push(Group {
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
                    sim.groups.push(Group {
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
        self.stats.events
    }

    /// The report of the run so far (complete once [`Connector::exit_info`] is `Some`).
    pub fn report(&self) -> SimReport {
        report::build(self)
    }

    /// The simulated time the run ended at, or now if it has not ended.
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.ended_ns.unwrap_or(self.now)
    }

    pub(crate) fn nr_cpus_u32(&self) -> u32 {
        self.cfg.nr_cpus
    }

    pub(crate) fn counters_now(&self) -> Counters {
        let mut c = self.counters;
        c.nr_running = self.cpus.iter().filter(|c| c.current.is_some()).count() as u64;
        c.nr_queued = self.ring_tasks as u64;
        c.nr_scheduled = self.held;
        c
    }

    #[allow(clippy::too_many_arguments)]
    fn add_task(
        &mut self,
        comm: Comm,
        group: u32,
        weight: Weight,
        mask: u64,
        behaviour: Behaviour,
        work: u64,
        born_ns: u64,
    ) -> u32 {
        let idx = self.tasks.len() as u32;
        self.tasks.push(Task {
            pid: FIRST_PID + idx as Pid,
            comm,
            group,
            weight,
            mask,
            behaviour,
            partner: u32::MAX,
            token: false,
            state: State::Pending,
            fresh: true,
            enq_seq: 0,
            vtime: 0,
            prev_cpu: mask.trailing_zeros(),
            start_ns: 0,
            stop_ns: 0,
            exec_runtime_ns: 0,
            last_burst_ns: 0,
            direct: false,
            slice_left: 0,
            burst_left: 0,
            work_left: work,
            runnable_since: NEVER,
            latency_pending: false,
            born_ns,
            exited_ns: NEVER,
            runtime_ns: 0,
            completed: 0,
            user_dispatches: 0,
            kernel_dispatches: 0,
            preemptions: 0,
            max_wait_ns: 0,
        });
        self.live.push(idx);
        idx
    }

    fn task_index(&self, pid: Pid) -> Option<usize> {
        let idx = usize::try_from(pid.checked_sub(FIRST_PID)?).ok()?;
        (idx < self.tasks.len()).then_some(idx)
    }

    fn push(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            time,
            seq: self.seq,
            ev,
        }));
    }

    // ----- the event loop -----

    /// Processes events up to and including `limit`. With `until_sched_wake`, stops as soon as the user-space
    /// scheduler wakes. Returns early when the run ends.
    fn run_until(&mut self, limit: u64, until_sched_wake: bool) {
        while self.exit.is_none() {
            let Some(&Reverse(entry)) = self.heap.peek() else {
                return;
            };
            if entry.time > limit {
                return;
            }
            self.heap.pop();
            self.now = entry.time;
            // Superseded timers (the stop event of a task that was preempted or got a new slice, a scheduler tick
            // that found nothing to do) are dropped without counting as events.
            let live = match entry.ev {
                Ev::CpuStop { cpu, gen } => self.cpus[cpu as usize].gen == gen,
                Ev::SchedWake => self.sched == Sched::Waking && self.sched_wake_at == self.now,
                Ev::SchedTick => self.sched == Sched::Parked && (self.held > 0 || self.round_full),
                _ => true,
            };
            if !live {
                continue;
            }
            self.stats.events += 1;
            match entry.ev {
                Ev::Arrive(t) => self.wake(t, EnqueueFlags::NEW, false),
                Ev::Wake(t) => self.wake(t, EnqueueFlags::WAKEUP, true),
                Ev::CpuStop { cpu, gen } => self.cpu_stop(cpu, gen),
                Ev::Spawn(s) => self.spawn(s),
                Ev::Watchdog => self.watchdog(),
                Ev::End => self.end(),
                Ev::SchedTick => {
                    self.round_full = false;
                    self.want_sched(false, self.all_mask);
                }
                Ev::SchedWake => {
                    self.sched = Sched::Running;
                    self.sched_wake_at = NEVER;
                    if until_sched_wake {
                        return;
                    }
                }
            }
        }
    }

    /// User space has work: get the scheduler onto a CPU, like the BPF side's kick. An idle CPU if there is one;
    /// else, if `preempt` (a task allowed on `mask` woke up), the CPU of `mask` whose task has run longest, or
    /// failing that of any CPU, if that task ran at least `preempt_min_ns` (it is preempted); else the scheduler
    /// waits for the next CPU that becomes free.
    fn want_sched(&mut self, preempt: bool, mask: u64) {
        if matches!(self.sched, Sched::Waking | Sched::Running) {
            return;
        }
        if let Some(cpu) = self.find_idle(self.all_mask, self.sched_last_cpu) {
            self.sched_take_cpu(cpu);
            return;
        }
        if preempt {
            let victim = self.victim(mask).or_else(|| self.victim(self.all_mask));
            if let Some(cpu) = victim {
                self.sched_take_cpu(cpu);
                self.preempt(cpu);
                return;
            }
        }
        self.sched = Sched::Pending;
    }

    /// The CPU of `mask` whose task has run longest, if it ran at least `preempt_min_ns`.
    fn victim(&self, mask: u64) -> Option<u32> {
        let cpu = self.longest_running(mask)?;
        let ran = self
            .now
            .saturating_sub(self.cpus[cpu as usize].task_started);
        (ran >= self.cfg.preempt_min_ns).then_some(cpu)
    }

    /// Reserves `cpu` for the scheduler, which runs there after the wake-up delay.
    fn sched_take_cpu(&mut self, cpu: u32) {
        self.sched = Sched::Waking;
        self.sched_cpu = Some(cpu);
        self.claimed_mask &= !(1u64 << cpu);
        let at = self.now.saturating_add(self.cfg.sched_wakeup_delay_ns);
        self.sched_wake_at = at;
        self.push(at, Ev::SchedWake);
    }

    /// The scheduler goes to sleep: its CPU looks for a task. While user space holds tasks (or its last round found
    /// the dispatch channel full) a tick wakes it again later.
    fn park(&mut self) {
        self.sched = Sched::Parked;
        self.sched_wake_at = NEVER;
        if let Some(cpu) = self.sched_cpu.take() {
            self.sched_last_cpu = cpu;
            self.parking = true;
            self.cpu_schedule(cpu);
            self.parking = false;
        }
        if self.round_full {
            // Retry soon, but let time pass so a policy that never stops dispatching cannot stall the clock.
            let at = self
                .now
                .saturating_add(self.cfg.sched_wakeup_delay_ns.max(1_000));
            self.push(at, Ev::SchedTick);
        } else if self.held > 0 {
            self.push(
                self.now.saturating_add(self.cfg.sched_tick_ns),
                Ev::SchedTick,
            );
        }
        if !self.ring.is_empty() {
            self.want_sched(false, self.all_mask);
        }
    }

    /// Whether user space has work: tasks in the ring or tasks it holds.
    fn user_has_work(&self) -> bool {
        !self.ring.is_empty() || self.held > 0
    }

    fn end(&mut self) {
        self.finish();
        self.exit = Some(ExitInfo {
            kind: ExitKind::Done,
            code: 0,
            reason: "simulation complete".into(),
            message: format!("{} simulated", report::fmt_ns(self.now)),
        });
    }

    /// Accounts the CPU time of the running tasks up to now and freezes the clock.
    fn finish(&mut self) {
        for cpu in 0..self.cpus.len() {
            self.account(cpu);
        }
        let now = self.now;
        for t in self.tasks.iter_mut().filter(|t| t.runnable_waiting()) {
            t.max_wait_ns = t.max_wait_ns.max(now - t.runnable_since);
        }
        self.ended_ns = Some(self.now);
    }

    fn watchdog(&mut self) {
        let tasks = &self.tasks;
        self.live.retain(|&t| !tasks[t as usize].exited());
        let worst = self
            .live
            .iter()
            .map(|&t| &self.tasks[t as usize])
            .filter(|t| t.runnable_waiting())
            .min_by_key(|t| (t.runnable_since, t.pid));
        if let Some(t) = worst {
            let waited = self.now - t.runnable_since;
            if waited > self.cfg.watchdog_timeout_ns {
                let message = format!(
                    "{}[{}] failed to run for {} (watchdog timeout {})",
                    t.comm,
                    t.pid,
                    report::fmt_ns(waited),
                    report::fmt_ns(self.cfg.watchdog_timeout_ns)
                );
                self.finish();
                self.exit = Some(ExitInfo {
                    kind: ExitKind::Stall,
                    code: 0,
                    reason: "runnable task stall".into(),
                    message,
                });
                return;
            }
        }
        let next = self
            .now
            .saturating_add((self.cfg.watchdog_timeout_ns / 10).max(1));
        self.push(next, Ev::Watchdog);
    }

    fn spawn(&mut self, s: u32) {
        let st = self.streams[s as usize];
        if st.remaining == Some(0) {
            return;
        }
        let t = self.add_task(
            st.comm,
            st.group,
            st.weight,
            st.mask,
            Behaviour::Hog,
            st.work_ns,
            self.now,
        );
        self.wake(t, EnqueueFlags::NEW, false);
        let stream = &mut self.streams[s as usize];
        if let Some(r) = &mut stream.remaining {
            *r -= 1;
        }
        if stream.remaining != Some(0) {
            self.push(self.now.saturating_add(st.every_ns), Ev::Spawn(s));
        }
    }

    // ----- tasks -----

    /// The task becomes runnable after sleeping (or for the first time); `by_timer` when its own sleep ended (an
    /// interrupt wakes it), not another task.
    fn wake(&mut self, t: u32, mut flags: EnqueueFlags, by_timer: bool) {
        let now = self.now;
        if !matches!(
            self.tasks[t as usize].state,
            State::Pending | State::Sleeping
        ) {
            return;
        }
        let burst = self.next_burst(t);
        let task = &mut self.tasks[t as usize];
        if task.fresh {
            flags = EnqueueFlags::NEW;
        }
        task.runnable_since = now;
        task.latency_pending = true;
        task.exec_runtime_ns = 0;
        task.burst_left = burst;
        if by_timer && self.direct_wakeup(t) {
            return;
        }
        self.enqueue(t, flags);
    }

    /// The BPF side's direct wakeup (see [`SimConfig::direct_wakeup_max_ns`]): the woken task goes to the head of
    /// its previous CPU's local queue, the task running there right behind it with the rest of its slice. False if
    /// the task does not qualify, an idle CPU could take it (the idle fast path comes first), or the CPU's task may
    /// not be preempted.
    fn direct_wakeup(&mut self, t: u32) -> bool {
        let (max, now) = (self.cfg.direct_wakeup_max_ns, self.now);
        let task = &self.tasks[t as usize];
        if max == 0
            || task.fresh
            || task.last_burst_ns > max
            || now.saturating_sub(task.stop_ns) < task.last_burst_ns.saturating_mul(4)
        {
            return false;
        }
        let (cpu, mask) = (task.prev_cpu, task.mask);
        if mask & (1u64 << cpu) == 0 || self.find_idle(mask, cpu).is_some() {
            return false;
        }
        let c = &mut self.cpus[cpu as usize];
        let Some(running) = c.current else {
            return false;
        };
        if self.sched_cpu == Some(cpu) || now - c.task_started < self.cfg.preempt_min_ns {
            return false;
        }
        if now - c.direct_window_ns >= DIRECT_WINDOW_NS {
            c.direct_window_ns = now;
            c.direct_used_ns = 0;
        }
        if c.direct_used_ns >= DIRECT_WINDOW_NS / 4 {
            return false;
        }
        self.account(cpu as usize);
        self.stop_running(cpu);
        let resumed = &mut self.tasks[running as usize];
        resumed.state = State::Waiting;
        resumed.runnable_since = now;
        resumed.preemptions += 1;
        resumed.kernel_dispatches += 1;
        let woken = &mut self.tasks[t as usize];
        woken.state = State::Waiting;
        woken.slice_left = max;
        woken.direct = true;
        self.counters.direct_wakeups += 1;
        self.counters.kernel_dispatches += 1;
        self.push_local(cpu, running, true);
        self.push_local(cpu, t, true);
        self.cpu_schedule(cpu);
        true
    }

    fn next_burst(&mut self, t: u32) -> u64 {
        match self.tasks[t as usize].behaviour {
            Behaviour::Hog => NEVER,
            Behaviour::Periodic { run_ns, .. } | Behaviour::PingPong { run_ns } => run_ns,
            Behaviour::Interactive { run_ns, .. } => self.rng.jitter(run_ns),
        }
    }

    /// Hands a runnable task to the kernel side's enqueue path: the idle fast path, the ring to user space, or
    /// (ring full) the shared queue.
    fn enqueue(&mut self, t: u32, flags: EnqueueFlags) {
        let (mask, prev) = {
            let task = &mut self.tasks[t as usize];
            task.fresh = false;
            (task.mask, task.prev_cpu)
        };
        if self.cfg.idle_fast_path
            && (flags.contains(EnqueueFlags::WAKEUP) || flags.contains(EnqueueFlags::NEW))
        {
            if let Some(cpu) = self.find_idle(mask, prev) {
                self.counters.kernel_dispatches += 1;
                let task = &mut self.tasks[t as usize];
                task.kernel_dispatches += 1;
                task.slice_left = self.cfg.default_slice_ns;
                task.state = State::Waiting;
                self.push_local(cpu, t, false);
                self.cpu_schedule(cpu);
                return;
            }
        }
        if self.ring_tasks < self.cfg.ring_capacity {
            let task = &mut self.tasks[t as usize];
            task.enq_seq += 1;
            task.state = State::Queued;
            let qt = QueuedTask {
                pid: task.pid,
                prev_cpu: task.prev_cpu,
                nr_cpus_allowed: task.mask.count_ones(),
                flags,
                start_ns: task.start_ns,
                stop_ns: task.stop_ns,
                exec_runtime_ns: task.exec_runtime_ns,
                weight: task.weight,
                vtime: task.vtime,
                enq_seq: task.enq_seq,
                comm: task.comm,
            };
            self.ring.push_back(Event::Queued(qt));
            self.ring_tasks += 1;
            // A woken task must not wait for a hog's slice to end before user space sees it.
            let mask = task.mask;
            self.want_sched(flags.contains(EnqueueFlags::WAKEUP), mask);
        } else {
            // Like the BPF side: straight to the shared queue, with the task's last vtime and the default slice.
            self.counters.congested_dispatches += 1;
            let task = &mut self.tasks[t as usize];
            task.state = State::Waiting;
            if task.slice_left == 0 {
                task.slice_left = self.cfg.default_slice_ns;
            }
            let vtime = task.vtime;
            let _ = self.insert_shared(t, vtime, mask, prev);
        }
    }

    /// The running task of `cpu` reached the end of its slice, its burst or its work.
    fn cpu_stop(&mut self, cpu: u32, gen: u64) {
        let c = &self.cpus[cpu as usize];
        if c.gen != gen {
            return;
        }
        let Some(t) = c.current else { return };
        self.account(cpu as usize);
        let task = &self.tasks[t as usize];
        // As in the kernel, the CPU picks its next task before the consequences of this one leaving (its exit
        // event, its re-enqueue) reach user space.
        if task.work_left == 0 {
            self.stop_running(cpu);
            self.cpu_schedule(cpu);
            self.exit_task(t);
        } else if task.burst_left == 0 {
            self.burst_done(cpu, t);
        } else if !self.user_has_work() && !self.has_work_for(cpu) {
            // Slice expired, but nothing else could use this CPU and user space has nothing pending: like
            // SCX_ENQ_LAST on the BPF side, the task keeps running with a fresh default slice.
            self.counters.kernel_dispatches += 1;
            let task = &mut self.tasks[t as usize];
            task.kernel_dispatches += 1;
            task.slice_left = self.cfg.default_slice_ns;
            self.arm_cpu_stop(cpu);
        } else {
            // Slice expired: back to user space with PREEMPTED.
            self.stop_running(cpu);
            self.tasks[t as usize].runnable_since = self.now;
            self.cpu_schedule(cpu);
            self.enqueue(t, EnqueueFlags::PREEMPTED);
        }
    }

    /// Whether `cpu` has a task waiting for it in its local queue or in the shared queue.
    fn has_work_for(&self, cpu: u32) -> bool {
        let bit = 1u64 << cpu;
        self.local_mask & bit != 0
            || !self.shared_any.is_empty()
            || !self.shared_pinned[cpu as usize].is_empty()
            || self
                .shared_some
                .values()
                .any(|&t| self.tasks[t as usize].mask & bit != 0)
    }

    fn burst_done(&mut self, cpu: u32, t: u32) {
        let now = self.now;
        self.tasks[t as usize].completed += 1;
        let sleep = match self.tasks[t as usize].behaviour {
            Behaviour::Hog => None,
            Behaviour::Periodic { sleep_ns, .. } => Some(sleep_ns),
            Behaviour::Interactive { think_ns, .. } => Some(self.rng.exponential(think_ns)),
            Behaviour::PingPong { .. } => {
                let partner = self.tasks[t as usize].partner;
                let p = &mut self.tasks[partner as usize];
                if p.state == State::Sleeping {
                    self.wake(partner, EnqueueFlags::WAKEUP, false);
                } else if p.state != State::Exited {
                    p.token = true;
                }
                let task = &mut self.tasks[t as usize];
                if task.token {
                    task.token = false;
                    None
                } else {
                    Some(NEVER)
                }
            }
        };
        match sleep {
            None => {
                // Keeps running with a new burst.
                let burst = self.next_burst(t);
                self.tasks[t as usize].burst_left = burst;
                self.arm_cpu_stop(cpu);
            }
            Some(d) => {
                let task = &mut self.tasks[t as usize];
                task.last_burst_ns = task.exec_runtime_ns;
                self.stop_running(cpu);
                self.tasks[t as usize].state = State::Sleeping;
                if d != NEVER {
                    self.push(now.saturating_add(d), Ev::Wake(t));
                }
                self.cpu_schedule(cpu);
            }
        }
    }

    fn exit_task(&mut self, t: u32) {
        let task = &mut self.tasks[t as usize];
        task.state = State::Exited;
        task.exited_ns = self.now;
        self.stats.tasks_exited += 1;
        self.ring.push_back(Event::Exited { pid: task.pid });
        self.want_sched(false, self.all_mask);
    }

    // ----- CPUs -----

    /// CPUs with nothing running, nothing in their local queue, no claim and no scheduler work on them.
    fn idle_mask(&self) -> u64 {
        let mut idle = self.all_mask & !(self.running_mask | self.claimed_mask | self.local_mask);
        if let Some(cpu) = self.sched_cpu {
            idle &= !(1u64 << cpu);
        }
        idle
    }

    /// An idle CPU in `mask`, trying `prefer` first and then the following CPUs in order (wrapping around).
    fn find_idle(&self, mask: u64, prefer: u32) -> Option<u32> {
        let idle = self.idle_mask() & mask;
        if idle == 0 {
            return None;
        }
        let from_prefer = idle & (u64::MAX << prefer);
        Some(if from_prefer != 0 {
            from_prefer.trailing_zeros()
        } else {
            idle.trailing_zeros()
        })
    }

    fn push_local(&mut self, cpu: u32, t: u32, front: bool) {
        let c = &mut self.cpus[cpu as usize];
        if front {
            c.local.push_front(t);
        } else {
            c.local.push_back(t);
        }
        self.local_mask |= 1u64 << cpu;
    }

    fn pop_local(&mut self, cpu: u32) -> Option<u32> {
        let c = &mut self.cpus[cpu as usize];
        let t = c.local.pop_front();
        if c.local.is_empty() {
            self.local_mask &= !(1u64 << cpu);
        }
        t
    }

    /// Lets an idle CPU in `mask` look for work; false if none is idle.
    fn kick(&mut self, mask: u64, prefer: u32) -> bool {
        match self.find_idle(mask, prefer) {
            Some(cpu) => {
                self.cpu_schedule(cpu);
                true
            }
            None => false,
        }
    }

    /// The allowed CPU whose running task has been on it longest.
    /// Whether the one CPU of `mask` runs a task whose vtime is after `vtime` (not the user-space scheduler).
    fn runs_later_than(&self, mask: u64, vtime: u64) -> bool {
        let cpu = mask.trailing_zeros() as usize;
        self.sched_cpu != Some(cpu as u32)
            && self
                .cpus
                .get(cpu)
                .and_then(|c| c.current)
                .is_some_and(|cur| self.tasks[cur as usize].vtime > vtime)
    }

    fn longest_running(&self, mask: u64) -> Option<u32> {
        let mut candidates = mask & self.running_mask;
        let mut best: Option<(u64, u32)> = None;
        while candidates != 0 {
            let c = candidates.trailing_zeros();
            candidates &= candidates - 1;
            let started = self.cpus[c as usize].task_started;
            if best.is_none_or(|(b, _)| started < b) {
                best = Some((started, c));
            }
        }
        best.map(|(_, c)| c)
    }

    /// A free CPU looks for work: its local queue first; when that is empty, like the BPF side's `ops.dispatch`,
    /// the user-space scheduler if it has work (unless it is the scheduler leaving this CPU), then the
    /// vtime-ordered shared queue.
    fn cpu_schedule(&mut self, cpu: u32) {
        if self.cpus[cpu as usize].current.is_some() || self.sched_cpu == Some(cpu) {
            return;
        }
        if let Some(t) = self.pop_local(cpu) {
            self.start_running(cpu, t);
            return;
        }
        let sched_wants_cpu = match self.sched {
            Sched::Pending => true,
            Sched::Parked => !self.parking && self.user_has_work(),
            Sched::Waking | Sched::Running => false,
        };
        if sched_wants_cpu {
            self.sched_take_cpu(cpu);
            return;
        }
        // The smallest (vtime, order) among the three parts of the shared queue that this CPU may run.
        let bit = 1u64 << cpu;
        let tasks = &self.tasks;
        let any = self.shared_any.peek().map(|&Reverse(e)| (e.key, 0));
        let pinned = self.shared_pinned[cpu as usize]
            .peek()
            .map(|&Reverse(e)| (e.key, 1));
        let some = self
            .shared_some
            .iter()
            .find(|(_, &t)| tasks[t as usize].mask & bit != 0)
            .map(|(&k, _)| (k, 2));
        if let Some((key, part)) = [any, pinned, some].into_iter().flatten().min() {
            let t = match part {
                0 => self.shared_any.pop().map(|Reverse(e)| e.task),
                1 => self.shared_pinned[cpu as usize]
                    .pop()
                    .map(|Reverse(e)| e.task),
                _ => self.shared_some.remove(&key),
            };
            self.start_running(cpu, t.expect("the entry was just found"));
        }
    }

    fn start_running(&mut self, cpu: u32, t: u32) {
        let now = self.now;
        let task = &mut self.tasks[t as usize];
        debug_assert_eq!(task.state, State::Waiting);
        task.state = State::Running;
        task.start_ns = now;
        task.prev_cpu = cpu;
        if task.slice_left == 0 {
            task.slice_left = self.cfg.default_slice_ns;
        }
        let waited = now - task.runnable_since;
        task.max_wait_ns = task.max_wait_ns.max(waited);
        if task.latency_pending {
            task.latency_pending = false;
            self.latencies.push((t, waited));
        }
        task.runnable_since = NEVER;
        self.running_mask |= 1u64 << cpu;
        let c = &mut self.cpus[cpu as usize];
        c.current = Some(t);
        c.run_start = now;
        c.task_started = now;
        self.arm_cpu_stop(cpu);
    }

    /// (Re)schedules the stop event of `cpu`'s running task, invalidating any earlier one.
    fn arm_cpu_stop(&mut self, cpu: u32) {
        let c = &mut self.cpus[cpu as usize];
        let Some(t) = c.current else { return };
        c.gen += 1;
        let (gen, start) = (c.gen, c.run_start);
        let task = &self.tasks[t as usize];
        let own_end = start.saturating_add(task.burst_left.min(task.work_left));
        let slice_end = start.saturating_add(task.slice_left);
        let tick = self.cfg.kernel_tick_ns;
        // Like the kernel, notice an expired slice only at the next tick (when a tick is configured).
        let slice_end = if tick == 0 {
            slice_end
        } else {
            slice_end.div_ceil(tick).saturating_mul(tick)
        };
        self.push(own_end.min(slice_end), Ev::CpuStop { cpu, gen });
    }

    /// Charges the CPU time the running task of `cpu` used since its stretch started.
    fn account(&mut self, cpu: usize) {
        let c = &mut self.cpus[cpu];
        let Some(t) = c.current else { return };
        let used = self.now.saturating_sub(c.run_start);
        c.run_start = c.run_start.max(self.now);
        let task = &mut self.tasks[t as usize];
        task.runtime_ns += used;
        task.exec_runtime_ns += used;
        task.slice_left = task.slice_left.saturating_sub(used);
        task.burst_left = task.burst_left.saturating_sub(used);
        task.work_left = task.work_left.saturating_sub(used);
    }

    /// Takes the (already accounted) running task off `cpu`.
    fn stop_running(&mut self, cpu: u32) {
        let c = &mut self.cpus[cpu as usize];
        let Some(t) = c.current.take() else { return };
        c.gen += 1;
        self.running_mask &= !(1u64 << cpu);
        let task = &mut self.tasks[t as usize];
        task.stop_ns = self.now;
        if task.direct {
            task.direct = false;
            c.direct_used_ns += self.now.saturating_sub(c.task_started);
        }
    }

    /// Preempts the running task of `cpu`: the CPU picks its next task (or the scheduler, if `cpu` is reserved for
    /// it), then the preempted task goes back to user space with `PREEMPTED`, keeping the rest of its slice.
    fn preempt(&mut self, cpu: u32) {
        let Some(t) = self.cpus[cpu as usize].current else {
            self.cpu_schedule(cpu);
            return;
        };
        self.account(cpu as usize);
        self.stop_running(cpu);
        let task = &mut self.tasks[t as usize];
        task.preemptions += 1;
        task.runnable_since = self.now;
        self.cpu_schedule(cpu);
        self.enqueue(t, EnqueueFlags::PREEMPTED);
    }

    // ----- the user-space scheduler -----

    /// Applies the dispatches user space sent this round.
    fn apply_dispatches(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for d in pending.drain(..) {
            self.apply_dispatch(&d);
        }
        self.pending = pending;
        // Claims that no dispatch used lapse.
        let mut lapsed = std::mem::take(&mut self.claimed_mask);
        while lapsed != 0 {
            let cpu = lapsed.trailing_zeros();
            lapsed &= lapsed - 1;
            self.cpu_schedule(cpu);
        }
    }

    fn apply_dispatch(&mut self, d: &Dispatch) {
        let Some(idx) = self.task_index(d.pid()) else {
            self.counters.cancelled_dispatches += 1;
            return;
        };
        let t = idx as u32;
        let default_slice = self.cfg.default_slice_ns;
        let task = &mut self.tasks[idx];
        if task.state != State::Queued || d.enq_seq() != task.enq_seq {
            self.counters.cancelled_dispatches += 1;
            return;
        }
        self.counters.user_dispatches += 1;
        task.user_dispatches += 1;
        task.vtime = d.vtime();
        task.state = State::Waiting;
        if d.slice_ns() > 0 {
            task.slice_left = d.slice_ns();
        } else if task.slice_left == 0 {
            task.slice_left = default_slice;
        }
        let (mask, prev) = (task.mask, task.prev_cpu);
        let preempt = d.flags().contains(DispatchFlags::PREEMPT);
        match d.target() {
            CpuTarget::Cpu(cpu) => {
                let cpu = if cpu < self.cfg.nr_cpus && mask & (1 << cpu) != 0 {
                    cpu
                } else {
                    self.counters.bounced_dispatches += 1;
                    self.find_idle(mask, prev)
                        .unwrap_or(if mask & (1 << prev) != 0 {
                            prev
                        } else {
                            mask.trailing_zeros()
                        })
                };
                self.insert_local(cpu, t, preempt);
            }
            CpuTarget::Any => {
                let kicked = self.insert_shared(t, d.vtime(), mask, prev);
                // Like the BPF side: a task pinned to a CPU that runs a task later in vtime order preempts it.
                let preempt =
                    preempt || (mask.count_ones() == 1 && self.runs_later_than(mask, d.vtime()));
                if preempt && !kicked {
                    // No idle CPU took it: preempt the allowed CPU whose task has run longest.
                    if let Some(cpu) = self.longest_running(mask) {
                        self.preempt(cpu);
                    }
                }
            }
        }
    }

    fn insert_local(&mut self, cpu: u32, t: u32, preempt: bool) {
        self.claimed_mask &= !(1u64 << cpu);
        self.push_local(cpu, t, preempt);
        if preempt {
            self.preempt(cpu);
        } else {
            self.cpu_schedule(cpu);
        }
    }

    /// Puts a dispatched task in the shared queue and kicks an idle CPU that may run it; false if none was idle.
    fn insert_shared(&mut self, t: u32, vtime: u64, mask: u64, prev: u32) -> bool {
        self.shared_seq += 1;
        let key = (vtime, self.shared_seq);
        if mask == self.all_mask {
            self.shared_any.push(Reverse(SharedEntry { key, task: t }));
        } else if mask.count_ones() == 1 {
            self.shared_pinned[mask.trailing_zeros() as usize]
                .push(Reverse(SharedEntry { key, task: t }));
        } else {
            self.shared_some.insert(key, t);
        }
        self.kick(mask, prev)
    }
}

/// The most tasks one run may create (each costs about 200 bytes, plus its latency samples).
pub const MAX_TASKS: u64 = 2_000_000;

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
                    report::fmt_ns(config.duration_ns)
                ),
            });
        }
    }
    Ok(())
}

impl Connector for Simulator {
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        let ev = self.ring.pop_front();
        if let Some(e) = &ev {
            self.round_events += 1;
            if matches!(e, Event::Queued(_)) {
                self.ring_tasks -= 1;
            }
        }
        Ok(ev)
    }

    fn try_dispatch(&mut self, dispatch: &Dispatch) -> Result<Delivery, ConnectorError> {
        if self.pending.len() >= self.cfg.dispatch_capacity {
            self.round_full = true;
            return Ok(Delivery::Full);
        }
        self.pending.push(*dispatch);
        Ok(Delivery::Sent)
    }

    fn set_held(&mut self, nr_held: u64) {
        self.held = nr_held;
    }

    /// Runs the simulated machine. First the round just done takes effect: the scheduler's CPU is busy for the
    /// round's cost while kernel-side events go on, then its dispatches are applied. If the ring is not empty the
    /// scheduler goes on with another round; otherwise it parks (its CPU picks a task) and kernel-side events run
    /// until it is woken and gets a CPU again (see `docs/simulator.md`), or the run ends.
    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        if self.exit.is_some() {
            return Ok(());
        }
        self.stats.sched_rounds += 1;
        let cost = self
            .round_events
            .saturating_mul(self.cfg.sched_cost_per_event_ns)
            .saturating_add(
                (self.pending.len() as u64).saturating_mul(self.cfg.sched_cost_per_dispatch_ns),
            );
        self.round_events = 0;
        if self.sched == Sched::Running && cost > 0 {
            self.stats.sched_cpu_ns += cost;
            let done = self.now.saturating_add(cost);
            self.run_until(done, false);
            if self.exit.is_some() {
                return Ok(());
            }
            self.now = done;
        }
        self.apply_dispatches();
        if self.sched == Sched::Running && !self.ring.is_empty() {
            return Ok(());
        }
        self.park();
        self.run_until(NEVER, true);
        Ok(())
    }

    fn pick_idle_cpu(&mut self, pid: Pid, prev_cpu: u32) -> Option<u32> {
        let idx = self.task_index(pid)?;
        let task = &self.tasks[idx];
        if task.exited() {
            return None;
        }
        let cpu = self.find_idle(task.mask, prev_cpu % self.cfg.nr_cpus)?;
        self.claimed_mask |= 1u64 << cpu;
        Some(cpu)
    }

    fn now_ns(&self) -> u64 {
        self.now
    }

    fn nr_cpus(&self) -> u32 {
        self.cfg.nr_cpus
    }

    fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.clone()
    }

    fn counters(&self) -> Counters {
        self.counters_now()
    }
}
