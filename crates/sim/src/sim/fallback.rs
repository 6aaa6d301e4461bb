//! The BPF side's fallback for an unresponsive user space (`fallback.bpf.h`): when tasks are in user space's
//! custody and none of its dispatches has been applied for `fallback_ns`, an episode begins. The kernel side takes
//! back every task in custody and schedules every task itself, in its own weighted vtime order, until user space
//! shows progress: it consumed a record, or a dispatch of it was drained, after the episode began.

use super::events::Ev;
use super::shared::SharedQueue;
use super::task::State;
use super::{Simulator, NEVER};

/// The fallback's state.
#[derive(Debug)]
pub(super) struct Fallback {
    /// Whether an episode is going on.
    pub(super) on: bool,
    /// When the episode going on began.
    pub(super) since_ns: u64,
    /// The last sign of life of user space: a dispatch of it applied, the first task entering its empty custody,
    /// or the end of an episode. The deadline is `fallback_ns` after it.
    progress_ns: u64,
    /// When the armed deadline check fires (`NEVER`: none armed).
    check_at: u64,
    /// The fallback's clock: the highest vtime of a task it started.
    clock: u64,
    /// Its queue, ordered by its own vtime.
    pub(super) queue: SharedQueue,
    /// A record the episode put in the ring to wake user space: consuming it is progress, as on the BPF side,
    /// where the fallback wakes the ring with a record that user space skips.
    pub(super) wake_record: bool,
    /// When the last episode ended (`None` before the first).
    ended_ns: Option<u64>,
}

/// For this long after an episode ends, user space is judged unresponsive after a tenth of `fallback_ns`.
const FALLBACK_PROBATION_NS: u64 = 1_000_000_000;

impl Fallback {
    /// No episode, for `nr_cpus` CPUs.
    pub(super) fn new(nr_cpus: u32, all_mask: u64) -> Self {
        Fallback {
            on: false,
            since_ns: 0,
            progress_ns: 0,
            check_at: NEVER,
            clock: 0,
            queue: SharedQueue::new(nr_cpus, all_mask),
            wake_record: false,
            ended_ns: None,
        }
    }
}

impl Simulator {
    /// Whether the kernel side schedules on its own: an episode is going on, or begins now because tasks are in
    /// custody and user space has shown no progress for longer than `fallback_ns`. Called where the BPF side asks
    /// (each enqueue, and the deadline's timer).
    pub(super) fn unresponsive(&mut self) -> bool {
        if self.fallback.on {
            return true;
        }
        if self.nr_custody == 0 {
            return false;
        }
        let deadline = self
            .fallback
            .progress_ns
            .saturating_add(self.fallback_limit_ns());
        if self.now <= deadline {
            self.arm_fallback_check(deadline.saturating_add(1));
            return false;
        }
        self.fallback_begin();
        true
    }

    /// The deadline's timer fired. True if it began an episode (otherwise it was superseded by progress, or it
    /// armed itself again for the new deadline).
    pub(super) fn fallback_check(&mut self) -> bool {
        if self.fallback.check_at != self.now {
            return false;
        }
        self.fallback.check_at = NEVER;
        !self.fallback.on && self.unresponsive()
    }

    /// Makes sure a deadline check fires at `at` or earlier (it re-arms itself if the deadline has moved on).
    fn arm_fallback_check(&mut self, at: u64) {
        if self.fallback.check_at == NEVER {
            self.fallback.check_at = at;
            self.push(at, Ev::FallbackCheck);
        }
    }

    /// A task enters user space's custody (its record goes into the ring). The first one starts the clock.
    pub(super) fn custody_enter(&mut self) {
        if self.nr_custody == 0 {
            self.fallback.progress_ns = self.now;
            let at = self
                .now
                .saturating_add(self.fallback_limit_ns())
                .saturating_add(1);
            self.arm_fallback_check(at);
        }
        self.nr_custody += 1;
    }

    /// A dispatch of user space was applied: its task leaves custody, and user space is making progress.
    pub(super) fn custody_dispatched(&mut self) {
        self.nr_custody -= 1;
        self.fallback.progress_ns = self.now;
    }

    /// User space consumed a record or had a dispatch drained: an episode going on ends.
    pub(super) fn user_progress(&mut self) {
        if self.fallback.on {
            self.fallback_end();
        }
    }

    /// An episode begins: every task in custody is taken back and scheduled by the fallback, and user space is
    /// woken through the ring so that, if it is alive, it shows progress.
    fn fallback_begin(&mut self) {
        let fb = &mut self.fallback;
        fb.on = true;
        fb.since_ns = self.now;
        fb.wake_record = true;
        self.counters.fallback_episodes += 1;
        self.meas.episodes.push((self.now, None));
        for i in 0..self.live.len() {
            let t = self.live[i];
            if self.tasks[t as usize].state == State::Queued {
                self.nr_custody -= 1;
                self.counters.fallback_reclaimed += 1;
                self.fallback_insert(t, false);
            }
        }
        debug_assert_eq!(self.nr_custody, 0);
        self.want_sched(None, self.all_mask);
    }

    /// The episode ends; its length is accounted and the deadline's clock starts again.
    fn fallback_end(&mut self) {
        let now = self.now;
        let fb = &mut self.fallback;
        fb.on = false;
        fb.wake_record = false;
        fb.progress_ns = now;
        fb.ended_ns = Some(now);
        let lasted = now - fb.since_ns;
        self.counters.fallback_ns += lasted;
        self.counters.fallback_last_ns = lasted;
        if let Some(episode) = self.meas.episodes.last_mut() {
            episode.1 = Some(now);
        }
    }

    /// How long user space may show no progress before an episode begins: `fallback_ns`, or a tenth of it for a
    /// second after an episode ended (as on the BPF side: a scheduler that is only starved shows progress now and
    /// then, and each of its returns would otherwise cost every waiting task `fallback_ns`).
    pub(super) fn fallback_limit_ns(&self) -> u64 {
        match self.fallback.ended_ns {
            Some(ended) if self.now.saturating_sub(ended) < FALLBACK_PROBATION_NS => {
                self.cfg.fallback_ns / 10
            }
            _ => self.cfg.fallback_ns,
        }
    }

    /// How long the episode going on has lasted so far (0 without one).
    pub(super) fn fallback_ongoing_ns(&self) -> u64 {
        if self.fallback.on {
            self.now - self.fallback.since_ns
        } else {
            0
        }
    }

    /// Schedules task `t` without user space, like the BPF side's `fallback_insert`: into the fallback's queue at
    /// its fallback vtime, but at most one slice behind the fallback's clock, with the default slice; an idle CPU
    /// it may run on takes it; a woken task behind the clock preempts the allowed CPU whose task has run longest
    /// (its only one, if it is pinned), if that task ran more than a quarter of a slice.
    pub(super) fn fallback_insert(&mut self, t: u32, woken: bool) {
        let slice = self.cfg.default_slice_ns;
        let clock = self.fallback.clock;
        let task = &mut self.tasks[t as usize];
        let vtime = task.fallback_vtime.max(clock.saturating_sub(slice));
        task.fallback_owned = true;
        task.fallback_queued_vtime = vtime;
        task.state = State::Waiting;
        task.slice_left = slice;
        task.stats.fallback_dispatches += 1;
        self.counters.fallback_dispatches += 1;
        let (mask, prev) = (task.mask, task.prev_cpu);
        self.fallback.queue.push(t, vtime, mask);
        if self.kick(mask, prev) || !woken || vtime >= clock {
            return;
        }
        if let Some(cpu) = self.victim(mask) {
            let ran = self.now - self.cpus[cpu as usize].task_started;
            if ran > slice / 4 {
                self.preempt(cpu);
            }
        }
    }

    /// Task `t` starts running: if the fallback scheduled it, the fallback's clock follows it.
    pub(super) fn fallback_running(&mut self, t: u32) {
        let task = &self.tasks[t as usize];
        if task.fallback_owned {
            self.fallback.clock = self.fallback.clock.max(task.fallback_queued_vtime);
        }
    }

    /// Task `t` stops running after `ran_ns`: if the fallback scheduled it, its fallback vtime advances by that
    /// time, weighted (100 / weight).
    pub(super) fn fallback_stopping(&mut self, t: u32, ran_ns: u64) {
        let task = &mut self.tasks[t as usize];
        if task.fallback_owned {
            let weighted = ran_ns.saturating_mul(100) / u64::from(task.weight.get().max(1));
            task.fallback_vtime = task.fallback_queued_vtime.saturating_add(weighted);
        }
    }
}
