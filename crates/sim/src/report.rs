//! What a run measured, per task, per workload group and in total: the report's types, and how they are built
//! from the simulator's [measurements](crate::measure). Text rendering is in [`crate::render`].

use rustland_core::{Counters, ExitInfo, ExitKind, Pid};
use serde::Serialize;

use crate::measure::RunFigures;

/// Wakeup latency figures: the time from a task becoming runnable after a sleep (or after being created) to it
/// starting to run. Percentiles use the nearest-rank method; all zero when there is no sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Number of samples (wakeups that led to a run).
    pub count: u64,
    /// Median (ns).
    pub p50_ns: u64,
    /// 99th percentile (ns).
    pub p99_ns: u64,
    /// Largest sample (ns).
    pub max_ns: u64,
}

impl Latency {
    /// Figures over `samples`, which must be sorted in increasing order.
    pub fn from_sorted(samples: &[u64]) -> Self {
        let Some(&max_ns) = samples.last() else {
            return Latency::default();
        };
        let rank = |p: u64| {
            let n = samples.len() as u64;
            let r = (p * n).div_ceil(100).max(1);
            samples[(r - 1) as usize]
        };
        Latency {
            count: samples.len() as u64,
            p50_ns: rank(50),
            p99_ns: rank(99),
            max_ns,
        }
    }

    /// Figures over every sample of `samples` (`(task, ns, in_fallback)`, sorted by task), and over those of
    /// wakeups during a fallback episode.
    fn of_samples(samples: &[(u32, u64, bool)]) -> (Self, Self) {
        let mut all: Vec<u64> = samples.iter().map(|&(_, ns, _)| ns).collect();
        let mut fallback: Vec<u64> = samples
            .iter()
            .filter(|&&(_, _, f)| f)
            .map(|&(_, ns, _)| ns)
            .collect();
        all.sort_unstable();
        fallback.sort_unstable();
        (Self::from_sorted(&all), Self::from_sorted(&fallback))
    }
}

/// One episode of the fallback: user space was unresponsive and the kernel side scheduled every task itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FallbackEpisode {
    /// When it began (ns of simulated time).
    pub start_ns: u64,
    /// When it ended (`None`: still going on when the run ended).
    pub end_ns: Option<u64>,
}

/// What the fallback for an unresponsive user space did (see `docs/simulator.md`). Its counts (episodes, time,
/// dispatches, stale records) are in [`SimReport::counters`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FallbackReport {
    /// Every episode, in order.
    pub episodes: Vec<FallbackEpisode>,
    /// Wakeup latency of the wakeups during an episode, over every task.
    pub latency: Latency,
}

/// The figures of one task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskReport {
    /// Its pid.
    pub pid: Pid,
    /// Its comm.
    pub comm: String,
    /// Index of its workload entry (into [`SimReport::groups`]).
    pub group: usize,
    /// Its weight.
    pub weight: u32,
    /// CPU time it received (ns).
    pub runtime_ns: u64,
    /// `runtime_ns` divided by the run's elapsed time: the fraction of one CPU it got (1.0 = a whole CPU).
    pub cpu_share: f64,
    /// When it was created (ns of simulated time).
    pub born_ns: u64,
    /// Time it existed in the run: from its creation to its exit or the end (ns).
    pub lifetime_ns: u64,
    /// Wakeup latency.
    pub latency: Latency,
    /// Completed units of work: bursts finished (periodic, interactive, ping-pong turns), or 1 for a task that
    /// finished its `exit-after` / fork work. Hogs without an exit complete none; their work is `runtime_ns`.
    pub completed: u64,
    /// Times the policy dispatched it.
    pub user_dispatches: u64,
    /// Times the kernel side dispatched it itself (idle fast path, or kept running after its slice expired).
    pub kernel_dispatches: u64,
    /// Times the fallback scheduled it while user space was unresponsive.
    pub fallback_dispatches: u64,
    /// Wakeup latency of its wakeups during a fallback episode.
    pub fallback_latency: Latency,
    /// Times it was taken off its CPU before its slice ended: by a `PREEMPT` dispatch, or to make room for the
    /// user-space scheduler when another task woke up.
    pub preemptions: u64,
    /// The longest time it was runnable without running, for any reason (after a wakeup, a preemption or an
    /// expired slice), including a wait still going on at the end: what the watchdog looks at (ns).
    pub max_wait_ns: u64,
    /// Whether it exited.
    pub exited: bool,
}

/// The figures of one workload entry, summed over its tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupReport {
    /// The entry's name.
    pub name: String,
    /// Whether the entry is a fork stream (its tasks are short-lived children).
    pub forked: bool,
    /// Tasks the entry created.
    pub tasks: u64,
    /// Of which exited.
    pub exited: u64,
    /// CPU time of all its tasks (ns).
    pub runtime_ns: u64,
    /// Sum of its tasks' [`TaskReport::cpu_share`].
    pub cpu_share: f64,
    /// Wakeup latency over all its tasks' samples.
    pub latency: Latency,
    /// Sum of its tasks' completed work units.
    pub completed: u64,
    /// Sum of user dispatches.
    pub user_dispatches: u64,
    /// Sum of kernel dispatches.
    pub kernel_dispatches: u64,
    /// Sum of fallback dispatches.
    pub fallback_dispatches: u64,
    /// Wakeup latency over all its tasks' wakeups during a fallback episode.
    pub fallback_latency: Latency,
    /// The longest [`TaskReport::max_wait_ns`] of its tasks.
    pub max_wait_ns: u64,
}

/// Machine-wide figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    /// CPU time all tasks received (ns).
    pub runtime_ns: u64,
    /// `runtime_ns / (nr_cpus * elapsed)`: how busy the CPUs were with tasks (0..=1).
    pub utilisation: f64,
    /// CPU time the user-space scheduler itself used (ns), from the configured per-event and per-dispatch costs.
    pub sched_cpu_ns: u64,
    /// `sched_cpu_ns / (nr_cpus * elapsed)`.
    pub sched_utilisation: f64,
    /// Wakeup latency over every sample of every task.
    pub latency: Latency,
    /// Completed work units of all tasks.
    pub completed: u64,
    /// The longest [`TaskReport::max_wait_ns`] of all tasks.
    pub max_wait_ns: u64,
    /// Weight-adjusted Jain fairness index over the hogs (tasks that never sleep): with
    /// `x = runtime / (weight * lifetime)` per hog, `(sum x)^2 / (n * sum x^2)`. 1.0 is perfectly fair; `1/n` is
    /// one hog getting everything. `None` with fewer than two hogs.
    pub fairness: Option<f64>,
    /// Tasks created.
    pub tasks: u64,
    /// Tasks that exited.
    pub exited: u64,
    /// Kernel-side events simulated.
    pub events: u64,
    /// Rounds of the user-space scheduler (calls to `yield_cpu`).
    pub sched_rounds: u64,
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    /// How the run ended; `kind` is [`ExitKind::Done`] unless the watchdog fired. A run still going reports
    /// `Done` with reason "running".
    #[serde(with = "ExitInfoDef")]
    pub exit: ExitInfo,
    /// Simulated time covered (ns).
    pub elapsed_ns: u64,
    /// CPUs simulated.
    pub nr_cpus: u32,
    /// Per task, in pid order.
    pub tasks: Vec<TaskReport>,
    /// Per workload entry, in file order.
    pub groups: Vec<GroupReport>,
    /// Totals.
    pub totals: Totals,
    /// The kernel side's counters (dispatch counts by kind; gauges at the end).
    #[serde(with = "CountersDef")]
    pub counters: Counters,
    /// The fallback's episodes and the latency during them.
    pub fallback: FallbackReport,
}

/// The serialized form of [`ExitInfo`] (a type of `rustland-core`, which has no serde).
#[derive(Serialize)]
#[serde(remote = "ExitInfo")]
struct ExitInfoDef {
    #[serde(with = "ExitKindDef")]
    kind: ExitKind,
    code: i64,
    reason: String,
    message: String,
}

/// The serialized form of [`ExitKind`].
#[derive(Serialize)]
#[serde(remote = "ExitKind")]
enum ExitKindDef {
    Done,
    Unregistered,
    Restart,
    Stall,
    Error,
}

/// The serialized form of [`Counters`].
#[derive(Serialize)]
#[serde(remote = "Counters")]
struct CountersDef {
    user_dispatches: u64,
    kernel_dispatches: u64,
    cancelled_dispatches: u64,
    bounced_dispatches: u64,
    congested_dispatches: u64,
    fallback_dispatches: u64,
    direct_wakeups: u64,
    nr_running: u64,
    nr_queued: u64,
    nr_scheduled: u64,
    stale_records: u64,
    nr_custody: u64,
    fallback_episodes: u64,
    fallback_ns: u64,
    fallback_last_ns: u64,
}

/// Builds the report of a run from a snapshot of its measurements.
pub(crate) fn build(sim: &RunFigures<'_>) -> SimReport {
    let elapsed = sim.elapsed_ns;
    let nr_cpus = sim.nr_cpus;
    let per_cpu_time = (elapsed as f64 * nr_cpus as f64).max(1.0);
    let share = |ns: u64| {
        if elapsed == 0 {
            0.0
        } else {
            ns as f64 / elapsed as f64
        }
    };

    let mut samples = sim.meas.latencies.clone();
    samples.sort_unstable();
    let mut tasks = Vec::with_capacity(sim.tasks.len());
    let mut s = 0;
    for (i, t) in sim.tasks.iter().enumerate() {
        let start = s;
        while s < samples.len() && samples[s].0 as usize == i {
            s += 1;
        }
        let (latency, fallback_latency) = Latency::of_samples(&samples[start..s]);
        let st = t.stats;
        let end = if t.exited { st.exited_ns } else { elapsed };
        tasks.push(TaskReport {
            pid: t.pid,
            comm: t.comm.to_string(),
            group: t.group as usize,
            weight: t.weight.get(),
            runtime_ns: st.runtime_ns,
            cpu_share: share(st.runtime_ns),
            born_ns: st.born_ns,
            lifetime_ns: end.saturating_sub(st.born_ns),
            latency,
            completed: st.completed + u64::from(t.exited),
            user_dispatches: st.user_dispatches,
            kernel_dispatches: st.kernel_dispatches,
            fallback_dispatches: st.fallback_dispatches,
            fallback_latency,
            preemptions: st.preemptions,
            max_wait_ns: st.max_wait_ns,
            exited: t.exited,
        });
    }

    let mut group_samples: Vec<Vec<(u32, u64, bool)>> = vec![Vec::new(); sim.meas.groups.len()];
    for &sample in &samples {
        group_samples[sim.tasks[sample.0 as usize].group as usize].push(sample);
    }
    let mut groups: Vec<GroupReport> = sim
        .meas
        .groups
        .iter()
        .zip(&group_samples)
        .map(|(g, lat)| {
            let (latency, fallback_latency) = Latency::of_samples(lat);
            GroupReport {
                name: g.name.clone(),
                forked: g.forked,
                tasks: 0,
                exited: 0,
                runtime_ns: 0,
                cpu_share: 0.0,
                latency,
                completed: 0,
                user_dispatches: 0,
                kernel_dispatches: 0,
                fallback_dispatches: 0,
                fallback_latency,
                max_wait_ns: 0,
            }
        })
        .collect();
    for t in &tasks {
        let g = &mut groups[t.group];
        g.tasks += 1;
        g.exited += u64::from(t.exited);
        g.runtime_ns += t.runtime_ns;
        g.cpu_share += t.cpu_share;
        g.completed += t.completed;
        g.user_dispatches += t.user_dispatches;
        g.kernel_dispatches += t.kernel_dispatches;
        g.fallback_dispatches += t.fallback_dispatches;
        g.max_wait_ns = g.max_wait_ns.max(t.max_wait_ns);
    }

    let hogs: Vec<f64> = sim
        .tasks
        .iter()
        .zip(&tasks)
        .filter(|(t, r)| t.hog && r.lifetime_ns > 0)
        .map(|(_, r)| r.runtime_ns as f64 / (r.weight as f64 * r.lifetime_ns as f64))
        .collect();
    let fairness = (hogs.len() >= 2).then(|| {
        let sum: f64 = hogs.iter().sum();
        let sq: f64 = hogs.iter().map(|x| x * x).sum();
        if sq == 0.0 {
            1.0
        } else {
            sum * sum / (hogs.len() as f64 * sq)
        }
    });

    let (latency, fallback_latency) = Latency::of_samples(&samples);
    let runtime_ns: u64 = tasks.iter().map(|t| t.runtime_ns).sum();
    let totals = Totals {
        runtime_ns,
        utilisation: runtime_ns as f64 / per_cpu_time,
        sched_cpu_ns: sim.meas.engine.sched_cpu_ns,
        sched_utilisation: sim.meas.engine.sched_cpu_ns as f64 / per_cpu_time,
        latency,
        completed: tasks.iter().map(|t| t.completed).sum(),
        max_wait_ns: tasks.iter().map(|t| t.max_wait_ns).max().unwrap_or(0),
        fairness,
        tasks: tasks.len() as u64,
        exited: sim.meas.engine.tasks_exited,
        events: sim.meas.engine.events,
        sched_rounds: sim.meas.engine.sched_rounds,
    };
    let exit = sim.exit.clone().unwrap_or(ExitInfo {
        kind: ExitKind::Done,
        code: 0,
        reason: "running".into(),
        message: String::new(),
    });
    SimReport {
        exit,
        elapsed_ns: elapsed,
        nr_cpus,
        tasks,
        groups,
        totals,
        counters: sim.counters,
        fallback: FallbackReport {
            episodes: sim
                .meas
                .episodes
                .iter()
                .map(|&(start_ns, end_ns)| FallbackEpisode { start_ns, end_ns })
                .collect(),
            latency: fallback_latency,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<u64> = (1..=100).collect();
        let l = Latency::from_sorted(&s);
        assert_eq!((l.count, l.p50_ns, l.p99_ns, l.max_ns), (100, 50, 99, 100));
        let one = Latency::from_sorted(&[7]);
        assert_eq!((one.p50_ns, one.p99_ns, one.max_ns), (7, 7, 7));
        assert_eq!(Latency::from_sorted(&[]), Latency::default());
    }
}
