//! The [`Connector`] methods the run loop calls on the simulator.

use rustland_core::{
    Connector, ConnectorError, Counters, Delivery, Dispatch, Event, ExitInfo, Pid,
};

use super::user::Sched;
use super::{Simulator, NEVER};

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
