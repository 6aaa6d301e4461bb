//! [`Metrics`], what a statistics client receives: the wire type served as JSON through the scx_stats protocol,
//! computed from two [`Snapshot`]s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Snapshot;

/// The statistics a client receives: dispatch counts as deltas since that client's previous request, gauges as
/// current values, page faults and exits as totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, scx_stats_derive::Stats)]
#[stat(top, desc = "rustland scheduler statistics")]
pub struct Metrics {
    /// Name of the scheduler binary.
    #[stat(desc = "Name of the scheduler binary")]
    pub scheduler: String,
    /// Tasks dispatched on the policy's decision (delta).
    #[stat(desc = "Tasks dispatched on the policy's decision (delta)")]
    pub user: u64,
    /// Tasks dispatched by the BPF side without user space (delta).
    #[stat(
        desc = "Tasks dispatched by the BPF side without user space: idle CPU, per-CPU kthreads (delta)"
    )]
    pub kernel: u64,
    /// Stale dispatches dropped (delta).
    #[stat(
        desc = "Stale dispatches dropped because the task was re-queued or exited meanwhile (delta)"
    )]
    pub cancelled: u64,
    /// Queued-task records dropped before the policy saw them, their task having left custody (delta).
    #[stat(
        desc = "Queued-task records dropped unread because the task had left custody meanwhile (delta)"
    )]
    pub stale: u64,
    /// Dispatches redirected because the CPU was not allowed (delta).
    #[stat(
        desc = "Dispatches redirected because the target CPU was not allowed for the task (delta)"
    )]
    pub bounced: u64,
    /// Tasks that could not reach user space because the ring was full (delta).
    #[stat(desc = "Tasks dispatched by BPF because the ring to user space was full (delta)")]
    pub congested: u64,
    /// Tasks dispatched by BPF while user space did not respond (delta).
    #[stat(
        desc = "Tasks dispatched by BPF while the user-space scheduler did not respond (delta)"
    )]
    pub fallback: u64,
    /// Fallback episodes that began (delta).
    #[stat(
        desc = "Episodes in which BPF found the user-space scheduler unresponsive and scheduled alone (delta)"
    )]
    pub fb_episodes: u64,
    /// Tasks the fallback took back from the user-space scheduler's custody (delta).
    #[stat(
        desc = "Tasks BPF took back from the unresponsive user-space scheduler's custody (delta)"
    )]
    pub fb_reclaimed: u64,
    /// Time spent in fallback episodes, the one going on included (ms, delta).
    #[stat(
        desc = "Time BPF scheduled alone in fallback episodes, the current one included (ms, delta)"
    )]
    pub fb_ms: u64,
    /// How long the last finished fallback episode lasted (ms).
    #[stat(desc = "Duration of the last finished fallback episode (ms; 0 before the first ends)")]
    pub fb_last_ms: u64,
    /// Interrupt wakeups put on their CPU by BPF without user space (delta).
    #[stat(
        desc = "Short-burst tasks woken by an interrupt (timer, device) that BPF put on their CPU without user space (delta)"
    )]
    pub direct: u64,
    /// Records handed to the sleeping scheduler without waking it, read in a later round (delta).
    #[stat(
        desc = "Records of tasks whose slice ended that waited for the sleeping scheduler's next round instead of waking it (delta)"
    )]
    pub batched: u64,
    /// Possible CPUs.
    #[stat(desc = "Number of possible CPUs")]
    pub cpus: u64,
    /// Tasks running now (gauge).
    #[stat(desc = "Tasks running now (gauge)")]
    pub running: u64,
    /// Tasks waiting in the ring to user space now (gauge).
    #[stat(desc = "Tasks waiting in the ring to user space now (gauge)")]
    pub queued: u64,
    /// Tasks held by the user-space policy now (gauge).
    #[stat(desc = "Tasks held by the user-space policy now (gauge)")]
    pub scheduled: u64,
    /// Tasks in user space's custody now (gauge).
    #[stat(
        desc = "Tasks in the user-space scheduler's custody now: in the ring, held, or dispatched but not applied (gauge)"
    )]
    pub custody: u64,
    /// Exit notifications handled since start.
    #[stat(desc = "Task exit notifications handled by the policy since start (total)")]
    pub exits: u64,
    /// Page faults of the scheduler since it attached; anything but 0 is a problem.
    #[stat(desc = "Page faults of the scheduler process since it attached (total; must stay 0)")]
    pub pgfaults: u64,
    /// Hotplug restarts since start.
    #[stat(desc = "Restarts after CPU hotplug since start (total)")]
    pub restarts: u64,
    /// The policy's own figures, as it reports them.
    #[stat(desc = "The policy's own figures, as it reports them")]
    pub policy: BTreeMap<String, u64>,
}

impl Metrics {
    /// Metrics for the interval from `prev` (or the start, when `None`) to `cur`.
    pub fn between(scheduler: &str, prev: Option<&Snapshot>, cur: &Snapshot) -> Metrics {
        let zero = Snapshot::default();
        let p = &prev.unwrap_or(&zero).counters;
        let c = &cur.counters;
        // Counters never go backwards within one binary's life (restarts are summed), but stay safe anyway.
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        Metrics {
            scheduler: scheduler.to_string(),
            user: delta(c.user_dispatches, p.user_dispatches),
            kernel: delta(c.kernel_dispatches, p.kernel_dispatches),
            cancelled: delta(c.cancelled_dispatches, p.cancelled_dispatches),
            stale: delta(c.stale_records, p.stale_records),
            bounced: delta(c.bounced_dispatches, p.bounced_dispatches),
            congested: delta(c.congested_dispatches, p.congested_dispatches),
            fallback: delta(c.fallback_dispatches, p.fallback_dispatches),
            fb_episodes: delta(c.fallback_episodes, p.fallback_episodes),
            fb_reclaimed: delta(c.fallback_reclaimed, p.fallback_reclaimed),
            fb_ms: delta(c.fallback_ns, p.fallback_ns) / 1_000_000,
            fb_last_ms: c.fallback_last_ns / 1_000_000,
            direct: delta(c.direct_wakeups, p.direct_wakeups),
            batched: delta(c.batched_records, p.batched_records),
            cpus: u64::from(cur.nr_cpus),
            running: c.nr_running,
            queued: c.nr_queued,
            scheduled: c.nr_scheduled,
            custody: c.nr_custody,
            exits: cur.exits,
            pgfaults: cur.pgfaults,
            restarts: cur.restarts,
            policy: cur.policy.iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::test_snapshot;

    #[test]
    fn counters_become_deltas_and_gauges_stay() {
        let a = test_snapshot(100, 2, 5);
        let b = test_snapshot(130, 1, 9);
        let m = Metrics::between("scx_x", Some(&a), &b);
        assert_eq!((m.user, m.running, m.exits, m.cpus), (30, 1, 9, 2));
        let first = Metrics::between("scx_x", None, &a);
        assert_eq!(first.user, 100);
    }
}
