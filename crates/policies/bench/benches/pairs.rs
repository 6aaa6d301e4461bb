//! One `pick_next` + `on_enqueue` pair per iteration, with 1k, 10k and 100k tasks queued.
//!
//! `cargo bench -p rustland-policy-bench` prints the time per pair and pairs per second ("item/s").

use divan::counter::ItemsCount;
use divan::Bencher;
use rustland_core::testing::PolicyCycler;
use rustland_core::Policy;
use rustland_policy_fifo::Fifo;
use rustland_policy_rr::RoundRobin;
use rustland_policy_vruntime::Vruntime;

fn main() {
    divan::main();
}

const QUEUED: [usize; 3] = [1_000, 10_000, 100_000];

fn pairs<P: Policy>(bencher: Bencher<'_, '_>, mut policy: P, queued: usize) {
    let mut cycler = PolicyCycler::fill(&mut policy, queued);
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| cycler.cycle(&mut policy));
}

#[divan::bench(args = QUEUED)]
fn fifo(bencher: Bencher<'_, '_>, queued: usize) {
    pairs(bencher, Fifo::default(), queued);
}

#[divan::bench(args = QUEUED)]
fn round_robin(bencher: Bencher<'_, '_>, queued: usize) {
    pairs(bencher, RoundRobin::default(), queued);
}

#[divan::bench(args = QUEUED)]
fn vruntime(bencher: Bencher<'_, '_>, queued: usize) {
    pairs(bencher, Vruntime::default(), queued);
}
