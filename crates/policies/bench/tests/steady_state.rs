//! The run loop and the bundled policies allocate nothing per task once warmed up (docs/architecture.md: "the run
//! loop allocates nothing per task"; policy collections are pre-sized). An allocation on that path is a possible
//! page fault or allocator lock in the process that schedules every task of the machine.
//!
//! Counting is per thread (`allocation_counter` counts the calling thread only), so parallel tests do not disturb
//! each other.

use rustland_core::testing::{queued_task, ManualConnector, PolicyCycler};
use rustland_core::{LoopConfig, Policy, QueuedTask, RunLoop};
use rustland_policy_fifo::Fifo;
use rustland_policy_rr::RoundRobin;
use rustland_policy_vruntime::Vruntime;

/// Tasks a policy holds while measured: more than any pre-sized collection's first growth would hide.
const TASKS: usize = 1_000;

fn allocations_per_cycle<P: Policy>(mut policy: P) -> u64 {
    let mut cycler = PolicyCycler::fill(&mut policy, TASKS);
    for _ in 0..20_000 {
        cycler.cycle(&mut policy);
    }
    allocation_counter::measure(|| {
        for _ in 0..10_000 {
            cycler.cycle(&mut policy);
        }
    })
    .count_total
}

#[test]
fn bundled_policies_do_not_allocate_in_steady_state() {
    assert_eq!(allocations_per_cycle(Fifo::default()), 0, "fifo");
    assert_eq!(allocations_per_cycle(RoundRobin::default()), 0, "rr");
    assert_eq!(allocations_per_cycle(Vruntime::default()), 0, "vruntime");
}

#[test]
fn the_run_loop_does_not_allocate_per_task() {
    let config = LoopConfig::default();
    let mut connector = ManualConnector::new(4);
    connector.events.reserve(TASKS);
    connector.dispatched.reserve(TASKS);
    // Every 7th round the channel fills up after 3 dispatches, so the held-dispatch path runs too.
    let mut run_loop = RunLoop::with_config(Vruntime::default(), connector, config);
    // Built up front: making a task's comm allocates, and that is the test's cost, not the loop's.
    let tasks: Vec<_> = (1..=64).map(|pid| queued_task(pid, 0)).collect();
    let mut seq = 0;
    let mut round = |run_loop: &mut RunLoop<Vruntime, ManualConnector>| {
        let connector = run_loop.connector_mut();
        connector.dispatched.clear();
        connector.capacity = Some(if seq % 7 == 0 { 3 } else { usize::MAX });
        for task in &tasks {
            seq += 1;
            connector.push_task(QueuedTask {
                enq_seq: seq,
                ..*task
            });
        }
        connector.now_ns += 1_000_000;
        assert_eq!(
            run_loop.step().expect("a manual connector does not fail"),
            None
        );
    };
    for _ in 0..200 {
        round(&mut run_loop);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..200 {
            round(&mut run_loop);
        }
    });
    assert_eq!(info.count_total, 0);
    assert!(
        run_loop.stats().full > 0,
        "the held-dispatch path was exercised"
    );
    assert!(run_loop.stats().dispatched > 20_000);
}
