//! What the scheduler thread hands out for statistics: a [`Snapshot`] of counters, gauges and the policy's own
//! figures, `Copy` and allocation-free so it can be taken between rounds.

use rustland_core::{Counters, Policy};

/// At most this many policy figures are carried per snapshot; further ones are ignored.
pub const MAX_POLICY_FIGURES: usize = 16;

/// The figures a policy reports through [`Policy::metrics`], held without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyFigures {
    len: usize,
    items: [(&'static str, u64); MAX_POLICY_FIGURES],
}

impl PolicyFigures {
    /// Collects `policy`'s figures (the first [`MAX_POLICY_FIGURES`]).
    pub fn from_policy<P: Policy + ?Sized>(policy: &P) -> Self {
        let mut figures = PolicyFigures::default();
        policy.metrics(&mut |name, value| figures.push(name, value));
        figures
    }

    /// Adds one figure; ignored when full.
    pub fn push(&mut self, name: &'static str, value: u64) {
        if self.len < MAX_POLICY_FIGURES {
            self.items[self.len] = (name, value);
            self.len += 1;
        }
    }

    /// The figures, in the order the policy reported them.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.items[..self.len].iter().copied()
    }
}

/// Everything statistics are computed from, read on the scheduler thread. Counters are totals since the binary
/// started (summed over hotplug restarts); gauges are current values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The kernel side's counters and gauges.
    pub counters: Counters,
    /// `Policy::on_exit` calls so far.
    pub exits: u64,
    /// Page faults of the scheduler process since it first attached.
    pub pgfaults: u64,
    /// Number of possible CPUs.
    pub nr_cpus: u32,
    /// Hotplug restarts so far.
    pub restarts: u64,
    /// The policy's own figures.
    pub policy: PolicyFigures,
}

/// Counters summed over hotplug restarts: the finished sessions' totals plus the current session's.
pub fn add_counters(base: &Counters, current: &Counters) -> Counters {
    Counters {
        user_dispatches: base.user_dispatches + current.user_dispatches,
        kernel_dispatches: base.kernel_dispatches + current.kernel_dispatches,
        cancelled_dispatches: base.cancelled_dispatches + current.cancelled_dispatches,
        bounced_dispatches: base.bounced_dispatches + current.bounced_dispatches,
        congested_dispatches: base.congested_dispatches + current.congested_dispatches,
        fallback_dispatches: base.fallback_dispatches + current.fallback_dispatches,
        direct_wakeups: base.direct_wakeups + current.direct_wakeups,
        batched_records: base.batched_records + current.batched_records,
        stale_records: base.stale_records + current.stale_records,
        fallback_episodes: base.fallback_episodes + current.fallback_episodes,
        fallback_reclaimed: base.fallback_reclaimed + current.fallback_reclaimed,
        fallback_ns: base.fallback_ns + current.fallback_ns,
        // Gauges describe the present only.
        fallback_last_ns: if current.fallback_last_ns != 0 {
            current.fallback_last_ns
        } else {
            base.fallback_last_ns
        },
        nr_running: current.nr_running,
        nr_queued: current.nr_queued,
        nr_scheduled: current.nr_scheduled,
        nr_custody: current.nr_custody,
    }
}

/// A snapshot with these figures on a 2-CPU machine, for the statistics' unit tests.
#[cfg(test)]
pub(crate) fn test_snapshot(user_dispatches: u64, nr_running: u64, exits: u64) -> Snapshot {
    Snapshot {
        counters: Counters {
            user_dispatches,
            nr_running,
            ..Counters::default()
        },
        exits,
        nr_cpus: 2,
        ..Snapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_sum_counters_but_not_gauges() {
        let before = Counters {
            user_dispatches: 10,
            nr_queued: 7,
            ..Counters::default()
        };
        let after = Counters {
            user_dispatches: 3,
            nr_queued: 1,
            ..Counters::default()
        };
        let sum = add_counters(&before, &after);
        assert_eq!((sum.user_dispatches, sum.nr_queued), (13, 1));
    }

    #[test]
    fn policy_figures_are_bounded() {
        let mut f = PolicyFigures::default();
        for _ in 0..MAX_POLICY_FIGURES + 5 {
            f.push("x", 1);
        }
        assert_eq!(f.iter().count(), MAX_POLICY_FIGURES);
    }
}
