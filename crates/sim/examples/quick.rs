//! Scratch run.
use rustland_policy_fifo::Fifo;
use rustland_policy_rr::RoundRobin;
use rustland_policy_vruntime::Vruntime;
use rustland_sim::{simulate, SimConfig, TaskSpec, Workload};
fn main() {
    let w = Workload::new()
        .with(TaskSpec::hog("hog").count(4))
        .with(TaskSpec::interactive("ui", 200_000, 5_000_000));
    for seed in 0..6 {
        let cfg = SimConfig { nr_cpus: 2, duration_ns: 5_000_000_000, seed, ..SimConfig::default() };
        let a = simulate(Vruntime::default(), cfg.clone(), &w).unwrap().report.groups[1].latency;
        let b = simulate(Fifo::default(), cfg.clone(), &w).unwrap().report.groups[1].latency;
        let c = simulate(RoundRobin::default(), cfg.clone(), &w).unwrap().report.groups[1].latency;
        println!("seed {seed}: vr {:?}\n  fifo {:?}\n  rr {:?}", a, b, c);
    }
}
