//! The simulated CPUs: what each runs, its local queue, which are idle, preemption and CPU-time accounting.

use std::collections::VecDeque;

use rustland_core::EnqueueFlags;

use super::events::Ev;
use super::task::State;
use super::user::Sched;
use super::{Simulator, NEVER};

/// One CPU.
#[derive(Clone, Debug, Default)]
pub(super) struct Cpu {
    /// The task running on it (index into the tasks).
    pub(super) current: Option<u32>,
    /// Its local queue: tasks dispatched to it, run before anything else.
    pub(super) local: VecDeque<u32>,
    /// Bumped whenever the pending stop event of this CPU becomes invalid.
    pub(super) gen: u64,
    /// Start of the current uninterrupted stretch of the running task.
    pub(super) run_start: u64,
    /// When the running task was put on this CPU (for "has run longest").
    pub(super) task_started: u64,
    /// CPU time used by directly woken tasks in the current budget window, and when that window started.
    pub(super) direct_used_ns: u64,
    pub(super) direct_window_ns: u64,
}

impl Simulator {
    /// CPUs with nothing running, nothing in their local queue, no claim and no scheduler work on them.
    pub(super) fn idle_mask(&self) -> u64 {
        let mut idle = self.all_mask & !(self.running_mask | self.claimed_mask | self.local_mask);
        if let Some(cpu) = self.sched_cpu {
            idle &= !(1u64 << cpu);
        }
        idle
    }

    /// An idle CPU in `mask`, trying `prefer` first and then the following CPUs in order (wrapping around).
    pub(super) fn find_idle(&self, mask: u64, prefer: u32) -> Option<u32> {
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

    /// Puts task `t` in `cpu`'s local queue, at its head if `front`.
    pub(super) fn push_local(&mut self, cpu: u32, t: u32, front: bool) {
        let c = &mut self.cpus[cpu as usize];
        if front {
            c.local.push_front(t);
        } else {
            c.local.push_back(t);
        }
        self.local_mask |= 1u64 << cpu;
    }

    /// Takes the task at the head of `cpu`'s local queue.
    pub(super) fn pop_local(&mut self, cpu: u32) -> Option<u32> {
        let c = &mut self.cpus[cpu as usize];
        let t = c.local.pop_front();
        if c.local.is_empty() {
            self.local_mask &= !(1u64 << cpu);
        }
        t
    }

    /// Lets an idle CPU in `mask` look for work; false if none is idle.
    pub(super) fn kick(&mut self, mask: u64, prefer: u32) -> bool {
        match self.find_idle(mask, prefer) {
            Some(cpu) => {
                self.cpu_schedule(cpu);
                true
            }
            None => false,
        }
    }

    /// Whether the one CPU of `mask` runs a task whose vtime is after `vtime` (not the user-space scheduler).
    pub(super) fn runs_later_than(&self, mask: u64, vtime: u64) -> bool {
        let cpu = mask.trailing_zeros() as usize;
        self.sched_cpu != Some(cpu as u32)
            && self
                .cpus
                .get(cpu)
                .and_then(|c| c.current)
                .is_some_and(|cur| self.tasks[cur as usize].vtime > vtime)
    }

    /// The CPU of `mask` whose running task has been on it longest.
    pub(super) fn longest_running(&self, mask: u64) -> Option<u32> {
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
    /// vtime-ordered shared queue and the fallback's queue.
    pub(super) fn cpu_schedule(&mut self, cpu: u32) {
        if self.cpus[cpu as usize].current.is_some() || self.sched_cpu == Some(cpu) {
            return;
        }
        if let Some(t) = self.pop_local(cpu) {
            self.start_running(cpu, t);
            return;
        }
        let sched_wants_cpu = match self.sched {
            Sched::Pending => true,
            Sched::Parked => !self.parking && self.sched_needs_cpu(),
            Sched::Waking | Sched::Running => false,
        };
        if sched_wants_cpu {
            self.sched_take_cpu(cpu);
            return;
        }
        // Like the BPF side, the two orders never mix: during a fallback episode, what user space dispatched
        // before it comes first, then the fallback's tasks; after one, the fallback's leftovers first.
        let (first, second) = if self.fallback.on {
            (&mut self.shared, &mut self.fallback.queue)
        } else {
            (&mut self.fallback.queue, &mut self.shared)
        };
        let next = first
            .pop_for(cpu, &self.tasks)
            .or_else(|| second.pop_for(cpu, &self.tasks));
        if let Some(t) = next {
            self.start_running(cpu, t);
        }
    }

    /// Puts the waiting task `t` on `cpu`, recording how long it waited.
    pub(super) fn start_running(&mut self, cpu: u32, t: u32) {
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
        task.stats.max_wait_ns = task.stats.max_wait_ns.max(waited);
        let sample = std::mem::take(&mut task.latency_pending);
        task.runnable_since = NEVER;
        if sample {
            self.meas.latencies.push((t, waited, task.woke_in_fallback));
        }
        self.fallback_running(t);
        self.running_mask |= 1u64 << cpu;
        let c = &mut self.cpus[cpu as usize];
        c.current = Some(t);
        c.run_start = now;
        c.task_started = now;
        self.arm_cpu_stop(cpu);
    }

    /// (Re)schedules the stop event of `cpu`'s running task, invalidating any earlier one.
    pub(super) fn arm_cpu_stop(&mut self, cpu: u32) {
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
    pub(super) fn account(&mut self, cpu: usize) {
        let c = &mut self.cpus[cpu];
        let Some(t) = c.current else { return };
        let used = self.now.saturating_sub(c.run_start);
        c.run_start = c.run_start.max(self.now);
        let task = &mut self.tasks[t as usize];
        task.stats.runtime_ns += used;
        task.exec_runtime_ns += used;
        task.slice_left = task.slice_left.saturating_sub(used);
        task.burst_left = task.burst_left.saturating_sub(used);
        task.work_left = task.work_left.saturating_sub(used);
    }

    /// Takes the (already accounted) running task off `cpu`.
    pub(super) fn stop_running(&mut self, cpu: u32) {
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
        let ran = self.now.saturating_sub(task.start_ns);
        self.fallback_stopping(t, ran);
    }

    /// Preempts the running task of `cpu`: the CPU picks its next task (or the scheduler, if `cpu` is reserved for
    /// it), then the preempted task goes back to user space with `PREEMPTED`, keeping the rest of its slice.
    pub(super) fn preempt(&mut self, cpu: u32) {
        let Some(t) = self.cpus[cpu as usize].current else {
            self.cpu_schedule(cpu);
            return;
        };
        self.account(cpu as usize);
        self.stop_running(cpu);
        let task = &mut self.tasks[t as usize];
        task.stats.preemptions += 1;
        task.runnable_since = self.now;
        self.cpu_schedule(cpu);
        self.enqueue(t, EnqueueFlags::PREEMPTED);
    }

    /// Whether `cpu` has a task waiting for it in its local queue or in the shared queue.
    pub(super) fn has_work_for(&self, cpu: u32) -> bool {
        self.local_mask & (1u64 << cpu) != 0
            || self.shared.has_work_for(cpu, &self.tasks)
            || self.fallback.queue.has_work_for(cpu, &self.tasks)
    }
}
