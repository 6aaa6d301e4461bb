//! Scratch run.
use rustland_policy_fifo::Fifo;
use rustland_sim::{simulate, SimConfig, TaskSpec, Workload};
fn main() {
    let w = Workload::new()
        .with(TaskSpec::hog("hog").count(4))
        .with(TaskSpec::interactive("ui", 200_000, 5_000_000))
        .with(TaskSpec::ping_pong("pipe", 50_000))
        .with(TaskSpec::fork("storm", 1_000_000, 300_000));
    let cfg = SimConfig { nr_cpus: 2, duration_ns: 2_000_000_000, ..SimConfig::default() };
    let t = std::time::Instant::now();
    let o = simulate(Fifo::default(), cfg, &w).unwrap();
    let el = t.elapsed();
    println!("{}", o.report.render("fifo"));
    println!("{:?} {:.2} Mev/s", o.run.stats, o.report.totals.events as f64 / el.as_secs_f64() / 1e6);
}
