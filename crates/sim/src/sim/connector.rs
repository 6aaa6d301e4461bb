//! The [`Connector`] methods the run loop calls on the simulator.

use rustland_core::{
    Connector, ConnectorError, Counters, Delivery, Dispatch, Event, ExitInfo, Pid, QueuedTask,
};

use super::task::State;
use super::user::Sched;
use super::{Simulator, NEVER};

impl Simulator {
    /// Whether the record `qt` no longer stands for a task in custody: its task was taken back by the fallback
    /// (and maybe queued again since, with a newer sequence number).
    fn is_stale(&self, qt: &QueuedTask) -> bool {
        self.task_index(qt.pid).is_none_or(|i| {
            let task = &self.tasks[i];
            task.state != State::Queued || task.enq_seq != qt.enq_seq
        })
    }
}

impl Connector for Simulator {
    /// Takes the next record. Consuming one (the fallback's wake-up record included) is progress, which ends a
    /// fallback episode. Like the BPF connector, a record whose task has left custody since (the fallback took it)
    /// is stale: it is dropped before the policy sees it and counted in `stale_records`.
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        if std::mem::take(&mut self.fallback.wake_record) {
            self.user_progress();
        }
        while let Some(ev) = self.ring.pop_front() {
            self.round_events += 1;
            self.user_progress();
            if let Event::Queued(qt) = &ev {
                self.ring_tasks -= 1;
                if self.is_stale(qt) {
                    self.counters.stale_records += 1;
                    continue;
                }
            }
            return Ok(Some(ev));
        }
        Ok(None)
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
        self.meas.engine.sched_rounds += 1;
        let cost = self
            .round_events
            .saturating_mul(self.cfg.sched_cost_per_event_ns)
            .saturating_add(
                (self.pending.len() as u64).saturating_mul(self.cfg.sched_cost_per_dispatch_ns),
            );
        self.round_events = 0;
        if self.sched == Sched::Running && cost > 0 {
            self.meas.engine.sched_cpu_ns += cost;
            let done = self.now.saturating_add(cost);
            self.run_until(done, false);
            if self.exit.is_some() {
                return Ok(());
            }
            self.now = done;
        }
        self.apply_dispatches();
        if self.sched == Sched::Running && self.records_waiting() && !self.user_stopped {
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
