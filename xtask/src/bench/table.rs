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
            "sched CPU ms/1k switches",
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
                cells.push(c.cpu_ms_per_kswitch.map_or("–".into(), fmt_num));
                cells.push(fmt_num(c.dispatches_per_s));
            }
            None => cells.extend(["–", "–", "–", "–"].map(String::from)),
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

/// The performance targets, as ratios to the default scheduler's phase of the same boot: for
/// `scx_rustland`, hackbench <= 1.05x and no slower than each scheduler in `compared` (the `--compare-bin` phases)
/// whose name has "rustland" in it,
/// switches >= 0.95x, hog throughput >= 1.0x, cyclictest average <= 1.0x, p99 and max <= 1.5x, no watchdog exits,
/// no page faults; for `scx_rlfifo`, hackbench <= 1.10x. A scheduler that did not run gives "not measured".
pub fn targets(rows: &[Row], compared: &[String]) -> Vec<Target> {
    let ratio = |sched: &str, id: &str| {
        let idx = METRICS
            .iter()
            .position(|m| m.id == id)
            .expect("known metric");
        rows.iter()
            .find(|r| r.sched == sched && r.phase == sched)
            .and_then(|r| r.cells[idx])
            .and_then(|c| c.ratio)
    };
    let bound = |sched: &str, id: &str, what: &str, limit: f64, at_most: bool| {
        let got = ratio(sched, id);
        Target {
            what: format!(
                "{sched} {what} {} {limit:.2}x",
                if at_most { "<=" } else { ">=" }
            ),
            got: got.map_or("not measured".into(), |r| format!("{r:.2}x")),
            met: got.map(|r| if at_most { r <= limit } else { r >= limit }),
        }
    };
    let rustland = rows.iter().find(|r| r.sched == "scx_rustland");
    let zero = |what: &str, v: Option<f64>| Target {
        what: format!("scx_rustland {what} = 0"),
        got: v.map_or("not measured".into(), |v| format!("{v:.0}")),
        met: v.map(|v| v == 0.0),
    };
    let mut out = vec![bound(
        "scx_rustland",
        "hackbench",
        "hackbench time",
        1.05,
        true,
    )];
    // Each compared scheduler of the same kind: upstream's scx_rustland (under any file name with "rustland").
    for other in compared.iter().filter(|c| c.contains("rustland")) {
        let (ours, theirs) = (
            ratio("scx_rustland", "hackbench"),
            ratio(other, "hackbench"),
        );
        out.push(Target {
            what: format!("scx_rustland hackbench time <= {other}'s"),
            got: match (ours, theirs) {
                (Some(a), Some(b)) => format!("{a:.2}x against {b:.2}x"),
                _ => "not measured".into(),
            },
            met: ours.zip(theirs).map(|(a, b)| a <= b),
        });
    }
    out.extend([
        bound("scx_rustland", "switch", "switches", 0.95, false),
        bound("scx_rustland", "hogs", "hog throughput", 1.0, false),
        bound(
            "scx_rustland",
            "cyc_avg",
            "cyclictest average under hogs",
            1.0,
            true,
        ),
        bound(
            "scx_rustland",
            "cyc_p99",
            "cyclictest p99 under hogs",
            1.5,
            true,
        ),
        bound(
            "scx_rustland",
            "cyc_max",
            "cyclictest max under hogs",
            1.5,
            true,
        ),
        zero("watchdog exits", rustland.and_then(|r| r.ejections)),
        zero(
            "scheduler page faults after start",
            rustland.and_then(|r| r.pgfaults_after_start),
        ),
        bound("scx_rlfifo", "hackbench", "hackbench time", 1.10, true),
    ]);
    out
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

        let t = targets(&rows, &[]);
        assert!(t.iter().all(|t| t.met.is_none()), "{t:?}");
    }

    #[test]
    fn targets_judge_ratios_and_the_compared_schedulers() {
        let log = LOG
            .replace("scx_a", "scx_rustland")
            .replace("scx_b scx_b", "up_rustland up_rustland");
        let log = format!(
            "{log}guest| @@RL bench sample up_rustland up_rustland hackbench 1 time_s=3.0 wall_s=3.1 attached=1\n\
             guest| @@RL bench sample scx_rlfifo scx_rlfifo hackbench 1 time_s=3.4 wall_s=3.5 attached=1\n"
        );
        let rows = summarize(&parse_log(&log));
        let t = targets(&rows, &["up_rustland".to_string(), "other".to_string()]);
        let find = |what: &str| {
            t.iter()
                .find(|t| t.what == what)
                .unwrap_or_else(|| panic!("no target {what:?} in {t:?}"))
        };
        // The default phase's hackbench mean is 3.0 s: 3.3 s is 1.10x, 3.4 s 1.13x, up_rustland's 3.0 s 1.00x.
        assert_eq!(
            find("scx_rustland hackbench time <= 1.05x").met,
            Some(false)
        );
        let vs = find("scx_rustland hackbench time <= up_rustland's");
        assert_eq!(
            (vs.got.as_str(), vs.met),
            ("1.10x against 1.00x", Some(false))
        );
        assert_eq!(find("scx_rlfifo hackbench time <= 1.10x").met, Some(false));
        // cyclictest: 150 µs against 100 µs is 1.50x (average <= 1.0x missed), max 2700 against 900 is 3.00x.
        assert_eq!(
            find("scx_rustland cyclictest average under hogs <= 1.00x").met,
            Some(false)
        );
        assert_eq!(
            find("scx_rustland cyclictest max under hogs <= 1.50x").met,
            Some(false)
        );
        // No switch or hogs sample: not measured, neither met nor missed.
        assert_eq!(find("scx_rustland switches >= 0.95x").met, None);
        assert_eq!(find("scx_rustland hog throughput >= 1.00x").met, None);
        assert_eq!(find("scx_rustland watchdog exits = 0").met, Some(true));
        // A compared scheduler of another kind is not a target.
        assert!(!t.iter().any(|t| t.what.contains("other")), "{t:?}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(1234.4), "1234");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        assert_eq!(fmt_num(0.12345), "0.123");
    }
}
