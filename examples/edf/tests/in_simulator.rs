//! The EDF policy on a simulated machine, compared with the bundled FIFO policy.

use rustland_example_edf::Edf;
use rustland_policy_fifo::Fifo;
use rustland_sim::{simulate, SimConfig, SimReport, TaskSpec, Workload};

const MS: u64 = 1_000_000;

/// Two CPU hogs and a heavy (nice -10) task that runs 0.5 ms every 4 ms, on one CPU for two seconds.
fn hogs_and_a_player() -> (SimConfig, Workload) {
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("player", MS / 2, 4 * MS).nice(-10));
    let config = SimConfig {
        nr_cpus: 1,
        duration_ns: 2_000 * MS,
        ..SimConfig::default()
    };
    (config, workload)
}

fn group<'a>(report: &'a SimReport, name: &str) -> &'a rustland_sim::GroupReport {
    report
        .groups
        .iter()
        .find(|g| g.name == name)
        .expect("group exists")
}

#[test]
fn the_heavy_periodic_task_waits_less_than_under_fifo() {
    let (config, workload) = hogs_and_a_player();
    let edf = simulate(Edf::default(), config.clone(), &workload)
        .unwrap()
        .report;
    let fifo = simulate(Fifo::default(), config, &workload).unwrap().report;
    let (edf_p99, fifo_p99) = (
        group(&edf, "player").latency.p99_ns,
        group(&fifo, "player").latency.p99_ns,
    );
    assert!(
        edf_p99 < fifo_p99,
        "player p99 wakeup latency: edf {edf_p99} ns, fifo {fifo_p99} ns"
    );
}

#[test]
fn no_task_starves() {
    let (config, workload) = hogs_and_a_player();
    let report = simulate(Edf::default(), config, &workload).unwrap().report;
    assert!(!report.exit.is_error(), "run ended with {}", report.exit);
    for task in &report.tasks {
        assert!(task.runtime_ns > 0, "{} never ran", task.comm);
    }
    // The two hogs share what the player leaves evenly.
    let fairness = report.totals.fairness.expect("two hogs");
    assert!(fairness > 0.95, "hog fairness {fairness}");
}

/// The desktop workload shipped with the simulator, run under EDF and the three bundled policies; prints the
/// side-by-side table (`cargo test -p rustland-example-edf compare -- --nocapture`).
#[test]
fn compare_with_the_bundled_policies() {
    use rustland_policy_rr::RoundRobin;
    use rustland_policy_vruntime::Vruntime;

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crates/sim/workloads/desktop.toml"
    );
    let workload = Workload::from_file(std::path::Path::new(path)).unwrap();
    let mut config = SimConfig::default();
    workload.sim.apply(&mut config);
    let runs = [
        (
            "edf",
            simulate(Edf::default(), config.clone(), &workload)
                .unwrap()
                .report,
        ),
        (
            "fifo",
            simulate(Fifo::default(), config.clone(), &workload)
                .unwrap()
                .report,
        ),
        (
            "rr",
            simulate(RoundRobin::default(), config.clone(), &workload)
                .unwrap()
                .report,
        ),
        (
            "vruntime",
            simulate(Vruntime::default(), config, &workload)
                .unwrap()
                .report,
        ),
    ];
    let table: Vec<(&str, &SimReport)> = runs.iter().map(|(name, r)| (*name, r)).collect();
    println!("{}", rustland_sim::render_comparison(&table));
    for (name, report) in &runs {
        assert!(!report.exit.is_error(), "{name} stalled: {}", report.exit);
    }
}
