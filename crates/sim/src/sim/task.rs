//! A task's life in the simulated kernel: it wakes up, is enqueued, runs its bursts, sleeps and exits; fork
//! streams create tasks as they go.

use rustland_core::{Comm, EnqueueFlags, Event, Pid, QueuedTask, Weight};

use super::events::Ev;
use super::{Simulator, FIRST_PID, NEVER};
use crate::measure::TaskStats;
use crate::Behaviour;

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
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

/// One simulated task: its identity, where it is, what it has left to do, and its measured figures.
#[derive(Clone, Debug)]
pub(super) struct Task {
    pub(super) pid: Pid,
    pub(super) comm: Comm,
    pub(super) group: u32,
    pub(super) weight: Weight,
    pub(super) mask: u64,
    pub(super) behaviour: Behaviour,
    /// Ping-pong partner's index (`u32::MAX`: none).
    pub(super) partner: u32,
    /// A pending wake-up from the partner that arrived while this task was not asleep.
    pub(super) token: bool,
    pub(super) state: State,
    /// Whether the task has never been enqueued (its first enqueue carries `NEW`).
    pub(super) fresh: bool,
    /// Sequence number of its last enqueue to user space (a dispatch must carry it).
    pub(super) enq_seq: u64,
    /// Its vtime, as the policy last set it (what its next record carries, whatever the fallback did meanwhile).
    pub(super) vtime: u64,
    /// The fallback scheduled it since it last went to user space.
    pub(super) fallback_owned: bool,
    /// The vtime the fallback queued it with, and its fallback vtime once it has run (its queued vtime plus its
    /// weighted run time).
    pub(super) fallback_queued_vtime: u64,
    pub(super) fallback_vtime: u64,
    /// It became runnable during a fallback episode (its wakeup latency is also counted as the fallback's).
    pub(super) woke_in_fallback: bool,
    /// Its last wakeup was its own sleep ending (an interrupt), not another task's doing.
    pub(super) woken_by_timer: bool,
    /// The CPU it last ran on.
    pub(super) prev_cpu: u32,
    /// When it last started and stopped running.
    pub(super) start_ns: u64,
    pub(super) stop_ns: u64,
    /// CPU time since it last woke up.
    pub(super) exec_runtime_ns: u64,
    /// CPU time of its last burst (between its last two sleeps).
    pub(super) last_burst_ns: u64,
    /// Put on its CPU by a direct wakeup and not stopped since.
    pub(super) direct: bool,
    /// What is left of its slice, its current burst and its whole work (ns).
    pub(super) slice_left: u64,
    pub(super) burst_left: u64,
    pub(super) work_left: u64,
    /// When the task last became runnable while not running (`NEVER` while it runs or sleeps).
    pub(super) runnable_since: u64,
    /// The current runnable period started with a wake-up: record the latency when it first runs.
    pub(super) latency_pending: bool,
    /// What is measured about it.
    pub(super) stats: TaskStats,
}

impl Task {
    /// Whether it is runnable but not running.
    pub(super) fn runnable_waiting(&self) -> bool {
        matches!(self.state, State::Queued | State::Waiting)
    }

    /// Whether it never sleeps.
    pub(super) fn is_hog(&self) -> bool {
        self.behaviour.is_hog()
    }

    /// Whether it has exited.
    pub(super) fn exited(&self) -> bool {
        self.state == State::Exited
    }
}

/// A fork stream: creates a task every `every_ns` until `remaining` runs out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stream {
    pub(super) group: u32,
    pub(super) every_ns: u64,
    pub(super) work_ns: u64,
    pub(super) remaining: Option<u64>,
    pub(super) weight: Weight,
    pub(super) mask: u64,
    pub(super) comm: Comm,
}

impl Simulator {
    /// Creates a task in the `Pending` state and returns its index.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_task(
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
            fallback_owned: false,
            fallback_queued_vtime: 0,
            fallback_vtime: 0,
            woke_in_fallback: false,
            woken_by_timer: false,
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
            stats: TaskStats {
                born_ns,
                exited_ns: NEVER,
                ..TaskStats::default()
            },
        });
        self.live.push(idx);
        idx
    }

    /// The index of the task with `pid`, if there is one.
    pub(super) fn task_index(&self, pid: Pid) -> Option<usize> {
        let idx = usize::try_from(pid.checked_sub(FIRST_PID)?).ok()?;
        (idx < self.tasks.len()).then_some(idx)
    }
    /// Fork stream `s` creates a task, and its next one later unless it is done.
    pub(super) fn spawn(&mut self, s: u32) {
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
    pub(super) fn wake(&mut self, t: u32, mut flags: EnqueueFlags, by_timer: bool) {
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
        task.woke_in_fallback = self.fallback.on;
        task.woken_by_timer = by_timer;
        task.exec_runtime_ns = 0;
        task.burst_left = burst;
        // As on the BPF side, direct wakeups come after the fallback's check: none during an episode.
        if by_timer && !self.unresponsive() && self.direct_wakeup(t) {
            return;
        }
        self.enqueue(t, flags);
    }

    /// The length of task `t`'s next burst.
    pub(super) fn next_burst(&mut self, t: u32) -> u64 {
        match self.tasks[t as usize].behaviour {
            Behaviour::Hog => NEVER,
            Behaviour::Periodic { run_ns, .. } | Behaviour::PingPong { run_ns } => run_ns,
            Behaviour::Interactive { run_ns, .. } => self.rng.jitter(run_ns),
        }
    }

    /// Hands a runnable task to the kernel side's enqueue path: the idle fast path, the fallback while user space
    /// is unresponsive, the ring to user space, or (ring full) the shared queue.
    pub(super) fn enqueue(&mut self, t: u32, flags: EnqueueFlags) {
        let (mask, prev) = {
            let task = &mut self.tasks[t as usize];
            task.fresh = false;
            (task.mask, task.prev_cpu)
        };
        if self.cfg.idle_fast_path
            && (flags.contains(EnqueueFlags::WAKEUP) || flags.contains(EnqueueFlags::NEW))
            && self.idle_fast_path(t, mask, prev)
        {
            return;
        }
        if self.unresponsive() {
            self.fallback_insert(t, flags.contains(EnqueueFlags::WAKEUP));
            return;
        }
        if self.ring_tasks < self.cfg.ring_capacity {
            self.custody_enter();
            let task = &mut self.tasks[t as usize];
            task.enq_seq += 1;
            task.state = State::Queued;
            task.fallback_owned = false;
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
            // A woken task must not wait for a hog's slice to end before user space sees it; a task woken by another
            // task preempts only a hog for it, as on the BPF side.
            let (mask, preempt) = (task.mask, flags.contains(EnqueueFlags::WAKEUP));
            let min_ran = if task.woken_by_timer {
                self.cfg.preempt_min_ns
            } else {
                self.cfg.task_wakeup_preempt_min_ns
            };
            self.want_sched(preempt.then_some(min_ran), mask);
        } else {
            self.congested(t, mask, prev);
        }
    }

    /// The running task of `cpu` reached the end of its slice, its burst or its work.
    pub(super) fn cpu_stop(&mut self, cpu: u32, gen: u64) {
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
        } else if !self.sched_needs_cpu() && !self.has_work_for(cpu) {
            self.extend_slice(cpu, t);
        } else {
            // Slice expired: back to user space with PREEMPTED.
            self.stop_running(cpu);
            self.tasks[t as usize].runnable_since = self.now;
            self.cpu_schedule(cpu);
            self.enqueue(t, EnqueueFlags::PREEMPTED);
        }
    }

    /// The running task of `cpu` finished a burst: it sleeps (periodic, interactive, ping-pong without a pending
    /// wake-up) or goes on with the next one.
    pub(super) fn burst_done(&mut self, cpu: u32, t: u32) {
        let now = self.now;
        self.tasks[t as usize].stats.completed += 1;
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

    /// Task `t` finished its work: it exits and user space hears of it.
    pub(super) fn exit_task(&mut self, t: u32) {
        let task = &mut self.tasks[t as usize];
        task.state = State::Exited;
        task.stats.exited_ns = self.now;
        self.meas.engine.tasks_exited += 1;
        self.ring.push_back(Event::Exited { pid: task.pid });
        self.want_sched(None, self.all_mask);
    }
}
