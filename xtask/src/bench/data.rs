//! The benchmark's data: parsing the guest's `@@RL bench` lines, statistics
//! and the summary rows (mean, σ, ratio to the default scheduler).

use std::collections::BTreeMap;

/// The name the guest gives the kernel's own scheduler.
pub const DEFAULT: &str = "default";
/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on x86-64 Linux).
pub const USER_HZ: f64 = 100.0;

/// One workload run: `@@RL bench sample <phase> <sched> <workload> <rep> k=v...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Phase label (`warmup`, `warmup-scx`, `default`, a scheduler's name, `default-again`).
    pub phase: String,
    /// Scheduler (`default` for the kernel's).
    pub sched: String,
    /// Workload name (`hackbench`, `cyclictest`, `hogs`, `switch`).
    pub workload: String,
    /// Repetition, from 1.
    pub rep: u32,
    /// Numeric values by key (non-numeric values are dropped).
    pub values: BTreeMap<String, f64>,
}

/// A latency histogram: `@@RL bench hist <phase> <sched> <rep> <upper_us>:<n>... over:<n>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    /// Phase label.
    pub phase: String,
    /// Scheduler.
    pub sched: String,
    /// Repetition.
    pub rep: u32,
    /// (exclusive upper bound in µs, count) for power-of-two buckets.
    pub buckets: Vec<(u64, u64)>,
    /// Samples above the histogram's range.
    pub over: u64,
}

/// A phase's end state: `@@RL bench status <phase> <sched> k=v...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Phase label.
    pub phase: String,
    /// Scheduler.
    pub sched: String,
    /// Values as text.
    pub values: BTreeMap<String, String>,
}

impl Status {
    /// A value as a number, if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.values.get(key)?.parse().ok()
    }
}

/// Everything the guest reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchData {
    /// Workload samples in arrival order.
    pub samples: Vec<Sample>,
    /// cyclictest histograms.
    pub hists: Vec<Hist>,
    /// Phase end states.
    pub statuses: Vec<Status>,
}

fn key_values<'a>(words: &'a [&'a str]) -> impl Iterator<Item = (String, String)> + 'a {
    words
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
}

/// Parses the bench lines out of a VM log (other lines are ignored). A line
/// is recognised with or without the log's `guest| ` prefix.
pub fn parse_log(text: &str) -> BenchData {
    let mut data = BenchData::default();
    for line in text.lines() {
        let line = line.strip_prefix("guest| ").unwrap_or(line);
        let Some(payload) = line.strip_prefix("@@RL bench ") else {
            continue;
        };
        let words: Vec<&str> = payload.split_whitespace().collect();
        match words.as_slice() {
            ["sample", phase, sched, workload, rep, rest @ ..] => {
                let Ok(rep) = rep.parse() else { continue };
                let values = key_values(rest)
                    .filter_map(|(k, v)| v.parse::<f64>().ok().map(|v| (k, v)))
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                data.samples.push(Sample {
                    phase: phase.to_string(),
                    sched: sched.to_string(),
                    workload: workload.to_string(),
                    rep,
                    values,
                });
            }
            ["hist", phase, sched, rep, rest @ ..] => {
                let Ok(rep) = rep.parse() else { continue };
                let mut hist = Hist {
                    phase: phase.to_string(),
                    sched: sched.to_string(),
                    rep,
                    buckets: Vec::new(),
                    over: 0,
                };
                for word in rest {
                    let Some((k, v)) = word.split_once(':') else {
                        continue;
                    };
                    let Ok(v) = v.parse::<u64>() else { continue };
                    if k == "over" {
                        hist.over = v;
                    } else if let Ok(k) = k.parse::<u64>() {
                        hist.buckets.push((k, v));
                    }
                }
                data.hists.push(hist);
            }
            ["status", phase, sched, rest @ ..] => data.statuses.push(Status {
                phase: phase.to_string(),
                sched: sched.to_string(),
                values: key_values(rest).collect(),
            }),
            _ => {}
        }
    }
    data
}

/// Mean and sample standard deviation (σ is 0 for one value); None when empty.
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// A metric of the table: which workload and key, and whether lower is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Column id (also the JSON key).
    pub id: &'static str,
    /// Column header.
    pub title: &'static str,
    /// Workload whose samples hold it.
    pub workload: &'static str,
    /// Key in the sample.
    pub key: &'static str,
    /// Lower is better (times, latencies); else higher is (throughputs).
    pub lower_is_better: bool,
}

/// The columns of the summary table, in order.
pub const METRICS: &[Metric] = &[
    Metric {
        id: "hackbench",
        title: "hackbench s",
        workload: "hackbench",
        key: "time_s",
        lower_is_better: true,
    },
    Metric {
        id: "cyc_avg",
        title: "cyclictest avg µs",
        workload: "cyclictest",
        key: "avg_us",
        lower_is_better: true,
    },
    Metric {
        id: "cyc_p99",
        title: "cyclictest p99 µs",
        workload: "cyclictest",
        key: "p99_us",
        lower_is_better: true,
    },
    Metric {
        id: "cyc_max",
        title: "cyclictest max µs",
        workload: "cyclictest",
        key: "max_us",
        lower_is_better: true,
    },
    Metric {
        id: "switch",
        title: "switches/s",
        workload: "switch",
        key: "ops_s",
        lower_is_better: false,
    },
    Metric {
        id: "hogs",
        title: "hog ops/s",
        workload: "hogs",
        key: "ops_s",
        lower_is_better: false,
    },
    Metric {
        id: "fairness",
        title: "hog fairness",
        workload: "hogs",
        key: "jain",
        lower_is_better: false,
    },
];

/// A cell: mean ± σ over the repetitions and the ratio of the mean to the
/// default scheduler's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
    /// Number of samples.
    pub n: usize,
    /// mean / default's mean (None for the baseline or a zero baseline).
    pub ratio: Option<f64>,
}

/// The scheduler's own cost over a phase.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SchedCost {
    /// CPU time of the scheduler process per second of wall time, in ms/s.
    pub cpu_ms_per_s: f64,
    /// CPU time per thousand dispatches (user + kernel), in ms; None without dispatches.
    pub cpu_ms_per_kdispatch: Option<f64>,
    /// Dispatches per second.
    pub dispatches_per_s: f64,
    /// CPU time per thousand context switches of the whole machine, in ms: a cost that any scheduler has, so
    /// that schedulers whose statistics give no dispatch count (other projects') compare too. None when the
    /// samples do not count switches.
    pub cpu_ms_per_kswitch: Option<f64>,
}

/// One row of the summary: a measured phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Phase label.
    pub phase: String,
    /// Scheduler.
    pub sched: String,
    /// One cell per entry of [`METRICS`] (None: no sample).
    pub cells: Vec<Option<Cell>>,
    /// The scheduler's cost (None for the default scheduler).
    pub cost: Option<SchedCost>,
    /// Page faults of the scheduler after its start (end - start of the phase).
    pub pgfaults_after_start: Option<f64>,
    /// sched_ext disable/stall lines in the kernel log during the phase.
    pub ejections: Option<f64>,
    /// Samples taken while the scheduler was not attached.
    pub detached_samples: usize,
    /// The phase's status line said the scheduler never attached.
    pub failed_to_attach: bool,
}

fn values(data: &BenchData, phase: &str, workload: &str, key: &str) -> Vec<f64> {
    data.samples
        .iter()
        .filter(|s| s.phase == phase && s.workload == workload)
        .filter_map(|s| s.values.get(key).copied())
        .collect()
}

/// The measured phases in order (the warm-ups, `warmup` and `warmup-scx`, left out).
pub fn phases(data: &BenchData) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let all = data
        .samples
        .iter()
        .map(|s| (&s.phase, &s.sched))
        .chain(data.statuses.iter().map(|s| (&s.phase, &s.sched)));
    for (phase, sched) in all {
        if !phase.starts_with("warmup") && !out.iter().any(|(p, _)| p == phase) {
            out.push((phase.clone(), sched.clone()));
        }
    }
    out
}

/// Builds the summary rows; ratios are to the first phase run under the
/// default scheduler (`default`).
pub fn summarize(data: &BenchData) -> Vec<Row> {
    let baseline: Vec<Option<f64>> = METRICS
        .iter()
        .map(|m| mean_sd(&values(data, DEFAULT, m.workload, m.key)).map(|(mean, _)| mean))
        .collect();
    phases(data)
        .into_iter()
        .map(|(phase, sched)| {
            let cells = METRICS
                .iter()
                .zip(&baseline)
                .map(|(m, base)| {
                    let v = values(data, &phase, m.workload, m.key);
                    let (mean, sd) = mean_sd(&v)?;
                    let ratio = match base {
                        Some(b) if phase != DEFAULT && *b != 0.0 => Some(mean / b),
                        _ => None,
                    };
                    Some(Cell {
                        mean,
                        sd,
                        n: v.len(),
                        ratio,
                    })
                })
                .collect();
            let status = data.statuses.iter().find(|s| s.phase == phase);
            let is_default = sched == DEFAULT;
            let cost = (!is_default).then(|| sched_cost(data, &phase));
            let pgfaults_after_start = status
                .filter(|_| !is_default)
                .and_then(|s| Some(s.num("pgfaults_end")? - s.num("pgfaults_start")?));
            Row {
                detached_samples: data
                    .samples
                    .iter()
                    .filter(|s| s.phase == phase && s.values.get("attached") == Some(&0.0))
                    .count(),
                failed_to_attach: status.and_then(|s| s.num("attached")) == Some(0.0),
                ejections: status
                    .filter(|_| !is_default)
                    .and_then(|s| s.num("ejections")),
                phase,
                sched,
                cells,
                cost,
                pgfaults_after_start,
            }
        })
        .collect()
}

/// The scheduler's CPU time and dispatches summed over a phase's samples.
pub fn sched_cost(data: &BenchData, phase: &str) -> SchedCost {
    let (mut ticks, mut wall, mut dispatches) = (0.0, 0.0, 0.0);
    let (mut switch_ticks, mut switches) = (0.0, 0.0);
    for s in data.samples.iter().filter(|s| s.phase == phase) {
        let get = |k: &str| s.values.get(k).copied().unwrap_or(0.0);
        ticks += get("sched_ticks");
        wall += get("wall_s");
        dispatches += get("user") + get("kernel");
        if let Some(c) = s.values.get("ctxt") {
            switch_ticks += get("sched_ticks");
            switches += c;
        }
    }
    let cpu_ms = ticks / USER_HZ * 1000.0;
    SchedCost {
        cpu_ms_per_s: if wall > 0.0 { cpu_ms / wall } else { 0.0 },
        cpu_ms_per_kdispatch: (dispatches > 0.0).then(|| cpu_ms / (dispatches / 1000.0)),
        dispatches_per_s: if wall > 0.0 { dispatches / wall } else { 0.0 },
        cpu_ms_per_kswitch: (switches > 0.0)
            .then(|| switch_ticks / USER_HZ * 1000.0 / (switches / 1000.0)),
    }
}

/// Latency distribution of a phase: buckets summed over its repetitions.
pub fn phase_hist(data: &BenchData, phase: &str) -> Vec<(u64, u64)> {
    let mut sum: BTreeMap<u64, u64> = BTreeMap::new();
    let mut over = 0;
    let mut top = 0;
    for h in data.hists.iter().filter(|h| h.phase == phase) {
        for &(b, n) in &h.buckets {
            *sum.entry(b).or_default() += n;
            top = top.max(b);
        }
        over += h.over;
    }
    if over > 0 {
        *sum.entry(top * 2).or_default() += over;
    }
    sum.into_iter().collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) const LOG: &str = "\
[    1.0] console noise
guest| @@RL bench sample warmup default hackbench 1 time_s=9.0 wall_s=9.1 sched_ticks=0 user=0 kernel=0 attached=1
guest| @@RL bench sample warmup-scx scx_a hackbench 1 time_s=9.0 wall_s=9.1 sched_ticks=0 user=0 kernel=0 attached=1
guest| @@RL bench status warmup-scx scx_a attached=1 ejections=0
guest| @@RL info phase default: default, 2 repetition(s)
guest| @@RL bench sample default default hackbench 1 time_s=2.0 wall_s=2.1 sched_ticks=0 user=0 kernel=0 attached=1
guest| @@RL bench sample default default hackbench 2 time_s=4.0 wall_s=4.1 sched_ticks=0 user=0 kernel=0 attached=1
guest| @@RL bench sample default default cyclictest 1 samples=100 avg_us=100 p99_us=300 max_us=900 wall_s=10
guest| @@RL bench hist default default 1 1:0 2:10 4:80 over:10
guest| @@RL bench status default default attached=1
guest| @@RL bench sample scx_a scx_a hackbench 1 time_s=3.3 wall_s=3.5 sched_ticks=20 user=1500 kernel=500 attached=1
guest| @@RL bench sample scx_a scx_a hackbench 2 time_s=3.3 wall_s=6.5 sched_ticks=30 user=2000 kernel=1000 attached=0
guest| @@RL bench sample scx_a scx_a cyclictest 1 avg_us=150 max_us=2700 time_s=nan
guest| @@RL bench status scx_a scx_a attached=1 ejections=0 pgfaults_start=12 pgfaults_end=12 exit=EXIT:_x
guest| @@RL bench status scx_b scx_b attached=0 reason=not_attached_after_30s
@@RL bench sample broken
";

    #[test]
    fn log_lines_are_parsed_and_noise_ignored() {
        let d = parse_log(LOG);
        assert_eq!(d.samples.len(), 8);
        assert_eq!(d.samples[2].workload, "hackbench");
        assert_eq!(d.samples[3].rep, 2);
        assert_eq!(d.samples[4].values["p99_us"], 300.0);
        // `nan` is dropped, numbers kept
        assert!(!d.samples[7].values.contains_key("time_s"));
        assert_eq!(d.hists[0].buckets, [(1, 0), (2, 10), (4, 80)]);
        assert_eq!(d.hists[0].over, 10);
        assert_eq!(d.statuses.len(), 4);
        assert_eq!(d.statuses[2].values["exit"], "EXIT:_x");
    }

    #[test]
    fn statistics() {
        assert_eq!(mean_sd(&[]), None);
        assert_eq!(mean_sd(&[5.0]), Some((5.0, 0.0)));
        let (m, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        assert!((sd - 2.138).abs() < 1e-3, "{sd}");
    }

    #[test]
    fn rows_carry_ratios_costs_and_health() {
        let d = parse_log(LOG);
        let rows = summarize(&d);
        assert_eq!(
            rows.iter().map(|r| r.phase.as_str()).collect::<Vec<_>>(),
            ["default", "scx_a", "scx_b"]
        );
        let hb = rows[0].cells[0].unwrap();
        assert_eq!((hb.mean, hb.n, hb.ratio), (3.0, 2, None));
        let hb = rows[1].cells[0].unwrap();
        assert!((hb.ratio.unwrap() - 1.1).abs() < 1e-9);
        let max = rows[1].cells[3].unwrap();
        assert_eq!(max.ratio, Some(3.0));
        let cost = rows[1].cost.unwrap();
        // 50 ticks = 500 ms over 10 s of windows; 5000 dispatches.
        assert!((cost.cpu_ms_per_s - 50.0).abs() < 1e-9);
        assert!((cost.cpu_ms_per_kdispatch.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(cost.cpu_ms_per_kswitch, None, "no sample counts switches");
        // Only the samples that count switches: 20 ticks (200 ms) over 4000 switches, the other sample's 30 ticks
        // left out.
        let log = LOG.replace(
            "sched_ticks=20 user=1500",
            "sched_ticks=20 ctxt=4000 user=1500",
        );
        let cost = sched_cost(&parse_log(&log), "scx_a");
        assert!((cost.cpu_ms_per_kswitch.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(rows[1].pgfaults_after_start, Some(0.0));
        assert_eq!(rows[1].detached_samples, 1);
        assert!(rows[2].failed_to_attach);
        assert!(rows[0].cost.is_none());
    }

    #[test]
    fn histograms_sum_over_repetitions_with_overflow_last() {
        let mut d = parse_log(LOG);
        d.hists.push(Hist {
            rep: 2,
            buckets: vec![(1, 1), (2, 1), (4, 1)],
            over: 0,
            ..d.hists[0].clone()
        });
        assert_eq!(
            phase_hist(&d, "default"),
            [(1, 1), (2, 11), (4, 81), (8, 10)]
        );
        assert!(phase_hist(&d, "scx_a").is_empty());
    }
}
