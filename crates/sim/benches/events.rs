//! Simulated events per second: the simulator running the FIFO policy on mixed workloads.
//!
//! `cargo bench -p rustland-sim`; divan reports the throughput as items (kernel-side events) per second.
//! Target on a 2-core machine: at least 2 M events/s.

use divan::counter::ItemsCount;
use divan::Bencher;
use rustland_policy_fifo::Fifo;
use rustland_sim::{simulate, SimConfig, TaskSpec, Workload};

fn main() {
    divan::main();
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

fn mixed() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(4))
        .with(TaskSpec::interactive("ui", 200 * US, 2 * MS).count(4))
        .with(TaskSpec::periodic("tick", 50 * US, 500 * US).count(4))
        .with(TaskSpec::ping_pong("pipe", 20 * US).count(2))
        .with(TaskSpec::fork("fork", 200 * US, 100 * US))
}

fn sleepers() -> Workload {
    Workload::new().with(TaskSpec::periodic("tick", 10 * US, 100 * US).count(32))
}

fn crowd() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(100))
        .with(TaskSpec::periodic("tick", 50 * US, 2 * MS).count(500))
        .with(TaskSpec::interactive("ui", 100 * US, 5 * MS).count(200))
        .with(TaskSpec::hog("pinned").count(50).cpus([3]))
}

fn bench_workload(bencher: Bencher<'_, '_>, workload: Workload, cpus: u32, fast_path: bool) {
    let config = SimConfig {
        nr_cpus: cpus,
        duration_ns: 200 * MS,
        idle_fast_path: fast_path,
        ..SimConfig::default()
    };
    // Runs are deterministic: every iteration simulates exactly this many events.
    let events = simulate(Fifo::default(), config.clone(), &workload)
        .unwrap()
        .report
        .totals
        .events;
    bencher.counter(ItemsCount::new(events)).bench(|| {
        simulate(Fifo::default(), config.clone(), &workload)
            .unwrap()
            .report
            .totals
            .events
    });
}

#[divan::bench(args = [2, 8])]
fn mixed_fifo(bencher: Bencher<'_, '_>, cpus: u32) {
    bench_workload(bencher, mixed(), cpus, true);
}

#[divan::bench(args = [2, 8])]
fn sleepers_fifo_no_fast_path(bencher: Bencher<'_, '_>, cpus: u32) {
    bench_workload(bencher, sleepers(), cpus, false);
}

/// 850 tasks on 64 CPUs, some pinned: checks that nothing scales with the number of CPUs or queued tasks.
#[divan::bench(sample_count = 10)]
fn crowd_64_cpus_fifo(bencher: Bencher<'_, '_>) {
    bench_workload(bencher, crowd(), 64, true);
}
