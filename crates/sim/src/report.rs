//! What a run measured: per task, per workload group and in total, plus text rendering for the CLI.

use std::fmt::Write as _;

use rustland_core::{Counters, ExitInfo, ExitKind, Pid};

use crate::measure::RunFigures;

/// Wakeup latency figures: the time from a task becoming runnable after a sleep (or after being created) to it
/// starting to run. Percentiles use the nearest-rank method; all zero when there is no sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
}

/// The figures of one task.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
    /// The longest [`TaskReport::max_wait_ns`] of its tasks.
    pub max_wait_ns: u64,
}

/// Machine-wide figures.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// How the run ended; `kind` is [`ExitKind::Done`] unless the watchdog fired. A run still going reports
    /// `Done` with reason "running".
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
    pub counters: Counters,
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
        let lat: Vec<u64> = samples[start..s].iter().map(|&(_, ns)| ns).collect();
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
            latency: Latency::from_sorted(&lat),
            completed: st.completed + u64::from(t.exited),
            user_dispatches: st.user_dispatches,
            kernel_dispatches: st.kernel_dispatches,
            preemptions: st.preemptions,
            max_wait_ns: st.max_wait_ns,
            exited: t.exited,
        });
    }

    let mut group_samples: Vec<Vec<u64>> = vec![Vec::new(); sim.meas.groups.len()];
    for &(t, ns) in &samples {
        group_samples[sim.tasks[t as usize].group as usize].push(ns);
    }
    let mut groups: Vec<GroupReport> = sim
        .meas
        .groups
        .iter()
        .zip(&mut group_samples)
        .map(|(g, lat)| {
            lat.sort_unstable();
            GroupReport {
                name: g.name.clone(),
                forked: g.forked,
                tasks: 0,
                exited: 0,
                runtime_ns: 0,
                cpu_share: 0.0,
                latency: Latency::from_sorted(lat),
                completed: 0,
                user_dispatches: 0,
                kernel_dispatches: 0,
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

    let all: Vec<u64> = samples.iter().map(|&(_, ns)| ns).collect::<Vec<_>>();
    let mut all = all;
    all.sort_unstable();
    let runtime_ns: u64 = tasks.iter().map(|t| t.runtime_ns).sum();
    let totals = Totals {
        runtime_ns,
        utilisation: runtime_ns as f64 / per_cpu_time,
        sched_cpu_ns: sim.meas.engine.sched_cpu_ns,
        sched_utilisation: sim.meas.engine.sched_cpu_ns as f64 / per_cpu_time,
        latency: Latency::from_sorted(&all),
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
    }
}

/// Formats nanoseconds with a readable unit: `850ns`, `12.3us`, `4.56ms`, `1.234s`.
pub fn fmt_ns(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", f / 1e6)
    } else {
        format!("{:.3}s", f / 1e9)
    }
}

/// Writes one line of the per-task table: a name column, then right-aligned columns.
fn table_row(out: &mut String, head: [String; 9], counts: [String; 3]) {
    let [name, rest @ ..] = head;
    let _ = write!(out, "{name:<16}");
    for (i, cell) in rest.iter().enumerate() {
        let width = if i < 2 { 6 } else { 9 };
        let _ = write!(out, " {cell:>width$}");
    }
    for cell in &counts {
        let _ = write!(out, " {cell:>8}");
    }
    out.push('\n');
}

/// Above this many tasks, [`SimReport::render`] prints only per-group rows.
const MAX_TASK_ROWS: usize = 40;

impl SimReport {
    /// A readable report: a per-task table (fork streams and large groups summarised per group), then totals and
    /// dispatch counts. `title` heads it, e.g. the policy's name.
    pub fn render(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== {title}: {} on {} CPUs, {}",
            fmt_ns(self.elapsed_ns),
            self.nr_cpus,
            self.exit
        );
        let header = [
            "task", "pid", "weight", "cpu%", "runtime", "lat-p50", "lat-p99", "lat-max", "wait-max",
        ];
        let tail = ["done", "user", "kernel"];
        table_row(&mut out, header.map(String::from), tail.map(String::from));
        let individual = self.tasks.len() <= MAX_TASK_ROWS;
        for (gi, g) in self.groups.iter().enumerate() {
            if individual && !g.forked {
                for t in self.tasks.iter().filter(|t| t.group == gi) {
                    let head = [
                        t.comm.clone(),
                        t.pid.to_string(),
                        t.weight.to_string(),
                        format!("{:.1}%", t.cpu_share * 100.0),
                        fmt_ns(t.runtime_ns),
                        fmt_ns(t.latency.p50_ns),
                        fmt_ns(t.latency.p99_ns),
                        fmt_ns(t.latency.max_ns),
                        fmt_ns(t.max_wait_ns),
                    ];
                    let counts = [t.completed, t.user_dispatches, t.kernel_dispatches]
                        .map(|n| n.to_string());
                    table_row(&mut out, head, counts);
                }
            } else {
                let weight = self
                    .tasks
                    .iter()
                    .find(|t| t.group == gi)
                    .map_or(0, |t| t.weight);
                let head = [
                    format!("{} (x{})", g.name, g.tasks),
                    "-".to_string(),
                    weight.to_string(),
                    format!("{:.1}%", g.cpu_share * 100.0),
                    fmt_ns(g.runtime_ns),
                    fmt_ns(g.latency.p50_ns),
                    fmt_ns(g.latency.p99_ns),
                    fmt_ns(g.latency.max_ns),
                    fmt_ns(g.max_wait_ns),
                ];
                let counts =
                    [g.completed, g.user_dispatches, g.kernel_dispatches].map(|n| n.to_string());
                table_row(&mut out, head, counts);
            }
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "total: utilisation {:.1}%, scheduler {:.2}%, fairness {}, latency p50 {} p99 {} max {}, completed {}, \
             tasks {} ({} exited)",
            t.utilisation * 100.0,
            t.sched_utilisation * 100.0,
            t.fairness.map_or("-".to_string(), |f| format!("{f:.3}")),
            fmt_ns(t.latency.p50_ns),
            fmt_ns(t.latency.p99_ns),
            fmt_ns(t.latency.max_ns),
            t.completed,
            t.tasks,
            t.exited
        );
        let c = &self.counters;
        let _ = writeln!(
            out,
            "dispatches: user={} kernel={} cancelled={} bounced={} congested={} fallback={} direct={}; events={} rounds={}",
            c.user_dispatches,
            c.kernel_dispatches,
            c.cancelled_dispatches,
            c.bounced_dispatches,
            c.congested_dispatches,
            c.fallback_dispatches,
            c.direct_wakeups,
            t.events,
            t.sched_rounds
        );
        out
    }
}

/// A side-by-side table of several runs of the same workload (one column per run), per group and in total.
pub fn render_comparison(runs: &[(&str, &SimReport)]) -> String {
    let mut out = String::new();
    let Some((_, first)) = runs.first() else {
        return out;
    };
    let _ = write!(out, "{:<28}", "metric");
    for (name, _) in runs {
        let _ = write!(out, " {name:>14}");
    }
    out.push('\n');
    let mut row = |label: String, f: &dyn Fn(&SimReport) -> String| {
        let _ = write!(out, "{label:<28}");
        for (_, r) in runs {
            let _ = write!(out, " {:>14}", f(r));
        }
        out.push('\n');
    };
    row("exit".into(), &|r| format!("{:?}", r.exit.kind));
    for (gi, g) in first.groups.iter().enumerate() {
        row(format!("{} cpu%", g.name), &|r| {
            format!("{:.1}%", r.groups[gi].cpu_share * 100.0)
        });
        row(format!("{} lat-p99", g.name), &|r| {
            fmt_ns(r.groups[gi].latency.p99_ns)
        });
        row(format!("{} wait-max", g.name), &|r| {
            fmt_ns(r.groups[gi].max_wait_ns)
        });
        row(format!("{} done", g.name), &|r| {
            r.groups[gi].completed.to_string()
        });
    }
    row("utilisation".into(), &|r| {
        format!("{:.1}%", r.totals.utilisation * 100.0)
    });
    row("scheduler cpu".into(), &|r| {
        format!("{:.2}%", r.totals.sched_utilisation * 100.0)
    });
    row("fairness".into(), &|r| {
        r.totals.fairness.map_or("-".into(), |f| format!("{f:.3}"))
    });
    row("latency p50".into(), &|r| fmt_ns(r.totals.latency.p50_ns));
    row("latency p99".into(), &|r| fmt_ns(r.totals.latency.p99_ns));
    row("latency max".into(), &|r| fmt_ns(r.totals.latency.max_ns));
    row("wait max".into(), &|r| fmt_ns(r.totals.max_wait_ns));
    row("completed".into(), &|r| r.totals.completed.to_string());
    row("user dispatches".into(), &|r| {
        r.counters.user_dispatches.to_string()
    });
    row("kernel dispatches".into(), &|r| {
        r.counters.kernel_dispatches.to_string()
    });
    row("cancelled".into(), &|r| {
        r.counters.cancelled_dispatches.to_string()
    });
    row("congested".into(), &|r| {
        r.counters.congested_dispatches.to_string()
    });
    out
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

    #[test]
    fn durations_format_with_units() {
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(12_345), "12.3us");
        assert_eq!(fmt_ns(4_560_000), "4.56ms");
        assert_eq!(fmt_ns(1_234_000_000), "1.234s");
    }
}
