//! The benchmark's summary tables: the per-phase markdown table and scx_rustland's performance targets.

use super::data::{Cell, Row, METRICS};

/// Formats a number with about three significant digits.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A summary cell: mean ± σ and the ratio to the default scheduler.
fn fmt_cell(cell: &Option<Cell>) -> String {
    match cell {
        None => "–".to_string(),
        Some(c) => {
            let mut s = format!("{} ± {}", fmt_num(c.mean), fmt_num(c.sd));
            if let Some(r) = c.ratio {
                s.push_str(&format!(" ({r:.2}x)"));
            }
            s
        }
    }
}

/// The markdown summary table.
pub fn render_table(rows: &[Row]) -> String {
    let mut header = vec!["phase".to_string()];
    header.extend(METRICS.iter().map(|m| m.title.to_string()));
    header.extend(
        [
            "sched CPU ms/s",
            "sched CPU ms/1k dispatches",
            "dispatches/s",
            "sched pgfaults after start",
            "watchdog exits",
        ]
        .map(String::from),
    );
    let mut out = format!("| {} |\n", header.join(" | "));
    out.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
    for r in rows {
        let mut cells = vec![if r.phase == r.sched {
            r.phase.clone()
        } else {
            format!("{} ({})", r.phase, r.sched)
        }];
        if r.failed_to_attach {
            cells[0].push_str(" — did not attach");
        } else if r.detached_samples > 0 {
            cells[0].push_str(&format!(" — {} sample(s) detached", r.detached_samples));
        }
        cells.extend(r.cells.iter().map(fmt_cell));
        match &r.cost {
            Some(c) => {
                cells.push(fmt_num(c.cpu_ms_per_s));
                cells.push(c.cpu_ms_per_kdispatch.map_or("–".into(), fmt_num));
                cells.push(fmt_num(c.dispatches_per_s));
            }
            None => cells.extend(["–", "–", "–"].map(String::from)),
        }
        cells.push(
            r.pgfaults_after_start
                .map_or("–".into(), |v| format!("{v:.0}")),
        );
        cells.push(r.ejections.map_or("–".into(), |v| format!("{v:.0}")));
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// One of scx_rustland's targets (docs/benchmarks.md) and whether the run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is asked.
    pub what: String,
    /// What was measured (text).
    pub got: String,
    /// Met, missed, or not measured (None).
    pub met: Option<bool>,
}

/// The performance targets for `sched` (scx_rustland), as ratios to the default scheduler: hackbench <= 1.10x,
/// cyclictest avg <= 1.5x and max <= 3x, no watchdog exits, no page faults.
pub fn targets(rows: &[Row], sched: &str) -> Vec<Target> {
    let row = rows.iter().find(|r| r.sched == sched);
    let ratio_target = |id: &str, limit: f64, what: &str| {
        let idx = METRICS
            .iter()
            .position(|m| m.id == id)
            .expect("known metric");
        let ratio = row.and_then(|r| r.cells[idx]).and_then(|c| c.ratio);
        Target {
            what: format!("{what} <= {limit:.2}x"),
            got: ratio.map_or("not measured".into(), |r| format!("{r:.2}x")),
            met: ratio.map(|r| r <= limit),
        }
    };
    let zero_target = |what: &str, v: Option<f64>| Target {
        what: format!("{what} = 0"),
        got: v.map_or("not measured".into(), |v| format!("{v:.0}")),
        met: v.map(|v| v == 0.0),
    };
    vec![
        ratio_target("hackbench", 1.10, "hackbench time"),
        ratio_target("cyc_avg", 1.5, "cyclictest average under hogs"),
        ratio_target("cyc_max", 3.0, "cyclictest max under hogs"),
        zero_target("watchdog exits", row.and_then(|r| r.ejections)),
        zero_target(
            "scheduler page faults after start",
            row.and_then(|r| r.pgfaults_after_start),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::data::{parse_log, summarize};
    use super::*;

    const LOG: &str = super::super::data::tests::LOG;

    #[test]
    fn table_and_targets() {
        let rows = summarize(&parse_log(LOG));
        let table = render_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + rows.len());
        let cols = lines[0].matches('|').count();
        assert!(
            lines.iter().all(|l| l.matches('|').count() == cols),
            "{table}"
        );
        assert!(lines[3].contains("3.30 ± 0.000 (1.10x)"), "{table}");
        assert!(lines[3].contains("1 sample(s) detached"), "{table}");
        assert!(lines[4].contains("did not attach"), "{table}");

        let t = targets(&rows, "scx_a");
        assert_eq!(t[0].met, Some(true)); // 1.10x <= 1.10x
        assert_eq!(t[1].met, Some(true)); // 1.5x
        assert_eq!(t[2].met, Some(true)); // 3.0x
        assert_eq!(t[3].met, Some(true));
        assert_eq!(t[4].met, Some(true));
        let t = targets(&rows, "scx_missing");
        assert!(t.iter().all(|t| t.met.is_none()));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(1234.4), "1234");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        assert_eq!(fmt_num(0.12345), "0.123");
    }
}
