//! Text rendering of reports for the CLI: durations with units, one run's table, several runs side by side.

use std::fmt::Write as _;

use crate::SimReport;

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
        if c.fallback_episodes > 0 || c.fallback_dispatches > 0 {
            let l = &self.fallback.latency;
            let _ = writeln!(
                out,
                "fallback: episodes={} time={} last={} stale={}; wakeup latency during episodes p50 {} p99 {} max {}",
                c.fallback_episodes,
                fmt_ns(c.fallback_ns),
                fmt_ns(c.fallback_last_ns),
                c.stale_records,
                fmt_ns(l.p50_ns),
                fmt_ns(l.p99_ns),
                fmt_ns(l.max_ns)
            );
        }
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
    if runs.iter().any(|(_, r)| r.counters.fallback_episodes > 0) {
        row("fallback episodes".into(), &|r| {
            r.counters.fallback_episodes.to_string()
        });
        row("fallback time".into(), &|r| fmt_ns(r.counters.fallback_ns));
        row("fallback dispatches".into(), &|r| {
            r.counters.fallback_dispatches.to_string()
        });
        row("fallback lat-max".into(), &|r| {
            fmt_ns(r.fallback.latency.max_ns)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_with_units() {
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(12_345), "12.3us");
        assert_eq!(fmt_ns(4_560_000), "4.56ms");
        assert_eq!(fmt_ns(1_234_000_000), "1.234s");
    }
}
