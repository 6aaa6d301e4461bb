//! Dispatches the kernel side makes without the policy while user space responds: the idle-CPU fast path, the
//! congested ring's way to the shared queue, extending the slice of a task nothing else wants the CPU from, and
//! direct wakeups.

use super::task::State;
use super::Simulator;

/// Direct wakeups use at most a quarter of a CPU's time in each window of this length (as on the BPF side).
const DIRECT_WINDOW_NS: u64 = 100_000_000;

impl Simulator {
    /// The idle-CPU fast path: a waking or new task goes straight to an idle CPU it may run on, if there is one.
    /// False if none is idle.
    pub(super) fn idle_fast_path(&mut self, t: u32, mask: u64, prev: u32) -> bool {
        let Some(cpu) = self.find_idle(mask, prev) else {
            return false;
        };
        self.counters.kernel_dispatches += 1;
        let task = &mut self.tasks[t as usize];
        task.stats.kernel_dispatches += 1;
        task.slice_left = self.cfg.default_slice_ns;
        task.state = State::Waiting;
        self.push_local(cpu, t, false);
        self.cpu_schedule(cpu);
        true
    }

    /// The ring to user space is full. Like the BPF side: the task goes straight to the shared queue, with its
    /// last vtime and the default slice.
    pub(super) fn congested(&mut self, t: u32, mask: u64, prev: u32) {
        self.counters.congested_dispatches += 1;
        let task = &mut self.tasks[t as usize];
        task.state = State::Waiting;
        if task.slice_left == 0 {
            task.slice_left = self.cfg.default_slice_ns;
        }
        let vtime = task.vtime;
        let _ = self.insert_shared(t, vtime, mask, prev);
    }

    /// The slice of `cpu`'s task expired, but nothing else could use this CPU and user space has nothing pending:
    /// like `SCX_ENQ_LAST` on the BPF side, the task keeps running with a fresh default slice.
    pub(super) fn extend_slice(&mut self, cpu: u32, t: u32) {
        self.counters.kernel_dispatches += 1;
        let task = &mut self.tasks[t as usize];
        task.stats.kernel_dispatches += 1;
        task.slice_left = self.cfg.default_slice_ns;
        self.arm_cpu_stop(cpu);
    }

    /// The BPF side's direct wakeup (see
    /// [`SimConfig::direct_wakeup_max_ns`](crate::SimConfig::direct_wakeup_max_ns)): the woken task goes to the
    /// head of its previous CPU's local queue, the task running there right behind it with the rest of its slice.
    /// False if the task does not qualify, an idle CPU could take it (the idle fast path comes first), or the CPU's
    /// task may not be preempted.
    pub(super) fn direct_wakeup(&mut self, t: u32) -> bool {
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
        resumed.stats.preemptions += 1;
        resumed.stats.kernel_dispatches += 1;
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
}
