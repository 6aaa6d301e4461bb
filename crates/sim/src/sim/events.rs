//! The event engine: a time-ordered queue of kernel-side events, the loop that processes them, the end of the
//! run and the watchdog.

use std::cmp::Reverse;

use rustland_core::{EnqueueFlags, ExitInfo, ExitKind};

use super::user::Sched;
use super::{Simulator, NEVER};
use crate::render;

/// A kernel-side event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ev {
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
    /// The deadline of user space's progress may have passed: the fallback may begin (if still armed for now).
    FallbackCheck,
    /// A user stall begins: the user-space scheduler stops.
    UserStop,
    /// A user stall ends: the user-space scheduler may run again.
    UserCont,
    /// The watchdog looks for stalled tasks.
    Watchdog,
    /// The configured duration is over.
    End,
}

/// An event in the queue: ordered by time, then by the order it was pushed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl Simulator {
    /// Queues `ev` to happen at `time`.
    pub(super) fn push(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            time,
            seq: self.seq,
            ev,
        }));
    }

    /// Processes events up to and including `limit`. With `until_sched_wake`, stops as soon as the user-space
    /// scheduler wakes. Returns early when the run ends.
    pub(super) fn run_until(&mut self, limit: u64, until_sched_wake: bool) {
        while self.exit.is_none() {
            let Some(&Reverse(entry)) = self.heap.peek() else {
                return;
            };
            if entry.time > limit {
                return;
            }
            self.heap.pop();
            self.now = entry.time;
            if entry.ev == Ev::FallbackCheck {
                // A check that finds user space responsive only re-arms itself: not counted, like a superseded
                // timer.
                if self.fallback_check() {
                    self.meas.engine.events += 1;
                }
                continue;
            }
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
            self.meas.engine.events += 1;
            match entry.ev {
                Ev::Arrive(t) => self.wake(t, EnqueueFlags::NEW, false),
                Ev::Wake(t) => self.wake(t, EnqueueFlags::WAKEUP, true),
                Ev::CpuStop { cpu, gen } => self.cpu_stop(cpu, gen),
                Ev::Spawn(s) => self.spawn(s),
                Ev::UserStop => self.user_stop(),
                Ev::UserCont => self.user_cont(),
                // Handled (and counted or not) above.
                Ev::FallbackCheck => {}
                Ev::Watchdog => self.watchdog(),
                Ev::End => self.end(),
                Ev::SchedTick => {
                    self.round_full = false;
                    self.want_sched(None, self.all_mask);
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

    fn end(&mut self) {
        self.finish();
        self.exit = Some(ExitInfo {
            kind: ExitKind::Done,
            code: 0,
            reason: "simulation complete".into(),
            message: format!("{} simulated", render::fmt_ns(self.now)),
        });
    }

    /// Accounts the CPU time of the running tasks up to now and freezes the clock.
    fn finish(&mut self) {
        for cpu in 0..self.cpus.len() {
            self.account(cpu);
        }
        let now = self.now;
        for t in self.tasks.iter_mut().filter(|t| t.runnable_waiting()) {
            t.stats.max_wait_ns = t.stats.max_wait_ns.max(now - t.runnable_since);
        }
        self.meas.ended_ns = Some(self.now);
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
                    render::fmt_ns(waited),
                    render::fmt_ns(self.cfg.watchdog_timeout_ns)
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
}
