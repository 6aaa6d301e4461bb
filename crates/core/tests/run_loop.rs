//! Behaviour of the run loop against a hand-driven connector.

use std::collections::VecDeque;

use rustland_core::testing::{queued_task, ManualConnector};
use rustland_core::{
    Context, CpuTarget, Dispatch, ExitInfo, ExitKind, LoopConfig, Pid, Policy, QueuedTask, RunLoop,
    StopReason,
};

/// Dispatches in arrival order and records every call.
#[derive(Default)]
struct Recorder {
    queue: VecDeque<QueuedTask>,
    picks: usize,
    exits: Vec<Pid>,
}

impl Policy for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push_back(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.queue.pop_front()?;
        self.picks += 1;
        Some(t.dispatch(CpuTarget::Any, 10_000, t.vtime))
    }
    fn on_exit(&mut self, pid: Pid, _ctx: &mut Context<'_>) {
        self.exits.push(pid);
        self.queue.retain(|t| t.pid != pid);
    }
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

fn pids(dispatched: &[Dispatch]) -> Vec<Pid> {
    dispatched.iter().map(|d| d.pid()).collect()
}

#[test]
fn a_round_delivers_events_and_dispatches_answers() {
    let mut conn = ManualConnector::new(2);
    for pid in 1..=3 {
        conn.push_task(queued_task(pid, pid as u64 * 10));
    }
    let mut rl = RunLoop::new(Recorder::default(), conn);
    assert_eq!(rl.step().unwrap(), None);
    let (policy, conn) = rl.into_parts();
    assert_eq!(pids(&conn.dispatched), vec![1, 2, 3]);
    // Each dispatch answers the sequence number of the task it dispatches.
    assert!(conn
        .dispatched
        .iter()
        .all(|d| d.enq_seq() == d.pid() as u64 * 10));
    assert_eq!(policy.nr_held(), 0);
    assert_eq!(conn.published_held, 0);
    assert_eq!(conn.yields, 1);
}

#[test]
fn an_undeliverable_dispatch_is_held_and_retried_first() {
    let mut conn = ManualConnector::new(1);
    for pid in 1..=3 {
        conn.push_task(queued_task(pid, 1));
    }
    conn.capacity = Some(1);
    let mut rl = RunLoop::new(Recorder::default(), conn);
    rl.step().unwrap();
    // One went out, the second is held by the loop, the third is still in the policy.
    assert_eq!(pids(&rl.connector().dispatched), vec![1]);
    assert_eq!(rl.policy().picks, 2);
    assert_eq!(
        rl.connector().published_held,
        2,
        "held dispatch counts as still held"
    );
    assert_eq!(rl.stats().full, 1);

    // Still full: nothing is lost and the policy is not asked again.
    rl.step().unwrap();
    assert_eq!(rl.policy().picks, 2);

    rl.connector_mut().capacity = None;
    rl.step().unwrap();
    assert_eq!(pids(&rl.connector().dispatched), vec![1, 2, 3]);
    assert_eq!(rl.nr_held(), 0);
}

#[test]
fn an_exit_drops_the_held_dispatch_of_that_task() {
    let mut conn = ManualConnector::new(1);
    conn.push_task(queued_task(7, 1));
    conn.capacity = Some(0);
    let mut rl = RunLoop::new(Recorder::default(), conn);
    rl.step().unwrap();
    assert_eq!(rl.nr_held(), 1);

    rl.connector_mut().push_exit(7);
    rl.connector_mut().capacity = None;
    rl.step().unwrap();
    assert!(rl.connector().dispatched.is_empty());
    assert_eq!(rl.policy().exits, vec![7]);
    assert_eq!(rl.stats().dropped_on_exit, 1);
    assert_eq!(rl.nr_held(), 0);
}

#[test]
fn batches_are_bounded() {
    let mut conn = ManualConnector::new(1);
    for pid in 0..10 {
        conn.push_task(queued_task(pid, 1));
    }
    let config = LoopConfig {
        max_events: 4,
        max_dispatches: 3,
    };
    let mut rl = RunLoop::with_config(Recorder::default(), conn, config);
    rl.step().unwrap();
    assert_eq!(rl.stats().enqueued, 4);
    assert_eq!(rl.connector().dispatched.len(), 3);
    assert_eq!(rl.connector().published_held, 1);
    for _ in 0..3 {
        rl.step().unwrap();
    }
    assert_eq!(rl.connector().dispatched.len(), 10);
    let order: Vec<Pid> = pids(&rl.connector().dispatched);
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn shutdown_handle_stops_the_loop_from_another_thread() {
    let rl_conn = ManualConnector::new(1);
    let mut rl = RunLoop::new(Recorder::default(), rl_conn);
    let handle = rl.shutdown_handle();
    let stopper = std::thread::spawn(move || handle.request());
    stopper.join().unwrap();
    let report = rl.run().unwrap();
    assert_eq!(report.reason, StopReason::Shutdown);
    assert_eq!(report.stats.rounds, 0);
}

#[test]
fn kernel_exit_ends_the_run_with_its_reason() {
    let mut conn = ManualConnector::new(1);
    conn.push_task(queued_task(1, 1));
    let mut rl = RunLoop::new(Recorder::default(), conn);
    assert_eq!(rl.step().unwrap(), None);
    let exit = ExitInfo {
        kind: ExitKind::Restart,
        code: 0,
        reason: "cpu hotplug".into(),
        message: String::new(),
    };
    rl.connector_mut().exit = Some(exit.clone());
    let report = rl.run().unwrap();
    assert_eq!(report.reason, StopReason::KernelExit(exit.clone()));
    assert_eq!(
        report.stats.rounds, 1,
        "no round runs once the kernel side has exited"
    );
    assert_eq!(report.counters.user_dispatches, 1);
    assert!(exit.should_restart() && !exit.is_error());
}

#[test]
fn run_with_calls_the_hook_after_every_round() {
    let conn = ManualConnector::new(1);
    let mut rl = RunLoop::new(Recorder::default(), conn);
    let handle = rl.shutdown_handle();
    let mut seen = 0;
    let report = rl
        .run_with(|l| {
            seen += 1;
            if l.stats().rounds == 5 {
                handle.request();
            }
        })
        .unwrap();
    assert_eq!(seen, 5);
    assert_eq!(report.stats.rounds, 5);
}
