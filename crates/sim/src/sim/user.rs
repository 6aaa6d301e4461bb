//! The user-space scheduler as the simulator sees it: a task that needs a CPU to run its rounds, woken when it
//! has work, stopped during the configured user stalls, and whose dispatches take effect when its round ends.

use rustland_core::{CpuTarget, Dispatch, DispatchFlags};

use super::events::Ev;
use super::task::State;
use super::{Simulator, NEVER};

/// What the user-space scheduler is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sched {
    /// Asleep in `yield_cpu`, on no CPU.
    Parked,
    /// Has work but no CPU: it takes the next CPU that becomes free.
    Pending,
    /// A CPU is reserved for it; it runs when `sched_wake_at` comes.
    Waking,
    /// Running a round of the run loop on its CPU.
    Running,
}

impl Simulator {
    /// User space has work: get the scheduler onto a CPU, like the BPF side's kick. An idle CPU if there is one;
    /// else, if `preempt_min_ran` is given (a task allowed on `mask` woke up), the CPU of `mask` whose task has run
    /// longest, or failing that of any CPU, if that task ran at least that long (it is preempted); else the
    /// scheduler waits for the next CPU that becomes free. A stopped scheduler takes no CPU.
    pub(super) fn want_sched(&mut self, preempt_min_ran: Option<u64>, mask: u64) {
        if self.user_stopped || matches!(self.sched, Sched::Waking | Sched::Running) {
            return;
        }
        if let Some(cpu) = self.find_idle(self.all_mask, self.sched_last_cpu) {
            self.sched_take_cpu(cpu);
            return;
        }
        if let Some(min_ran) = preempt_min_ran {
            let victim = self
                .victim_ran(mask, min_ran)
                .or_else(|| self.victim_ran(self.all_mask, min_ran));
            if let Some(cpu) = victim {
                self.sched_take_cpu(cpu);
                self.preempt(cpu);
                return;
            }
        }
        self.sched = Sched::Pending;
    }

    /// The CPU of `mask` whose task has run longest, if it ran at least `preempt_min_ns`.
    pub(super) fn victim(&self, mask: u64) -> Option<u32> {
        self.victim_ran(mask, self.cfg.preempt_min_ns)
    }

    /// The CPU of `mask` whose task has run longest, if it ran at least `min_ran` ns.
    pub(super) fn victim_ran(&self, mask: u64, min_ran: u64) -> Option<u32> {
        let cpu = self.longest_running(mask)?;
        let ran = self
            .now
            .saturating_sub(self.cpus[cpu as usize].task_started);
        (ran >= min_ran).then_some(cpu)
    }

    /// Reserves `cpu` for the scheduler, which runs there after the wake-up delay.
    pub(super) fn sched_take_cpu(&mut self, cpu: u32) {
        self.sched = Sched::Waking;
        self.sched_cpu = Some(cpu);
        self.claimed_mask &= !(1u64 << cpu);
        let at = self.now.saturating_add(self.cfg.sched_wakeup_delay_ns);
        self.sched_wake_at = at;
        self.push(at, Ev::SchedWake);
    }

    /// The scheduler goes to sleep: its CPU looks for a task. While user space holds tasks (or its last round found
    /// the dispatch channel full) a tick wakes it again later.
    pub(super) fn park(&mut self) {
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
        if self.records_waiting() {
            self.want_sched(None, self.all_mask);
        }
    }

    /// Whether records wait in the ring for user space (including the fallback's wake-up record).
    pub(super) fn records_waiting(&self) -> bool {
        !self.ring.is_empty() || self.fallback.wake_record
    }

    /// Whether the scheduler would take a CPU now: it is not stopped and has work (records in the ring or tasks it
    /// holds).
    pub(super) fn sched_needs_cpu(&self) -> bool {
        !self.user_stopped && (self.records_waiting() || self.held > 0)
    }

    /// A user stall begins: the scheduler stops. A round in progress ends first (its dispatches were already
    /// sent); a scheduler waiting for a CPU, or about to run on one, gives it up.
    pub(super) fn user_stop(&mut self) {
        self.user_stopped = true;
        match self.sched {
            Sched::Pending => self.sched = Sched::Parked,
            Sched::Waking => {
                self.sched = Sched::Parked;
                self.sched_wake_at = NEVER;
                if let Some(cpu) = self.sched_cpu.take() {
                    self.sched_last_cpu = cpu;
                    self.cpu_schedule(cpu);
                }
            }
            Sched::Parked | Sched::Running => {}
        }
    }

    /// A user stall ends: like a stopped process that gets `SIGCONT`, the scheduler wakes up, preempting a CPU if
    /// none is idle, if it has work (records, the fallback's wake-up record, tasks it holds).
    pub(super) fn user_cont(&mut self) {
        self.user_stopped = false;
        if self.sched_needs_cpu() {
            self.want_sched(Some(self.cfg.preempt_min_ns), self.all_mask);
        }
    }

    // ----- the user-space scheduler -----

    /// Applies the dispatches user space sent this round.
    pub(super) fn apply_dispatches(&mut self) {
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

    /// Applies one dispatch: stale ones are cancelled, others go to a local queue or the shared queue. Either way
    /// the dispatch was drained, which ends a fallback episode.
    pub(super) fn apply_dispatch(&mut self, d: &Dispatch) {
        self.user_progress();
        let Some(idx) = self.task_index(d.pid()) else {
            self.counters.cancelled_dispatches += 1;
            return;
        };
        let t = idx as u32;
        let task = &mut self.tasks[idx];
        if task.state != State::Queued || d.enq_seq() != task.enq_seq {
            self.counters.cancelled_dispatches += 1;
            return;
        }
        self.counters.user_dispatches += 1;
        task.stats.user_dispatches += 1;
        task.vtime = d.vtime();
        task.state = State::Waiting;
        task.slice_left = d.slice_ns();
        let (mask, prev) = (task.mask, task.prev_cpu);
        let preempt = d.flags().contains(DispatchFlags::PREEMPT);
        self.custody_dispatched();
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

    /// Puts a dispatched task in `cpu`'s local queue, preempting its running task if `preempt`.
    pub(super) fn insert_local(&mut self, cpu: u32, t: u32, preempt: bool) {
        self.claimed_mask &= !(1u64 << cpu);
        self.push_local(cpu, t, preempt);
        if preempt {
            self.preempt(cpu);
        } else {
            self.cpu_schedule(cpu);
        }
    }
}
