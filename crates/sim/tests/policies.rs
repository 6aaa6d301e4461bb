//! Properties of the bundled policies (fifo, rr, vruntime), checked in the simulator.

mod common;

use common::{config, group, Recorder, MS, S, US};
use rustland_core::{CpuTarget, ExitKind, Policy};
use rustland_policy_fifo::Fifo;
use rustland_policy_rr::RoundRobin;
use rustland_policy_vruntime::Vruntime;
use rustland_sim::{simulate, SimConfig, SimReport, TaskSpec, Workload};

#[test]
fn fifo_dispatches_in_arrival_order() {
    let workload = Workload::new()
        .with(TaskSpec::periodic("sleeper", 300 * US, 700 * US).count(6))
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::interactive("ui", 100 * US, MS));
    // Without the idle fast path the policy sees every wakeup.
    let cfg = SimConfig {
        idle_fast_path: false,
        ..config(2, 500 * MS)
    };
    let out = simulate(Recorder::new(Fifo::default()), cfg, &workload).unwrap();
    let arrived: Vec<_> = out
        .policy
        .enqueued
        .iter()
        .map(|t| (t.pid, t.enq_seq))
        .collect();
    let dispatched: Vec<_> = out
        .policy
        .dispatched
        .iter()
        .map(|d| (d.pid(), d.enq_seq()))
        .collect();
    assert!(dispatched.len() > 1000, "{}", dispatched.len());
    assert_eq!(dispatched[..], arrived[..dispatched.len()]);
    // The shared queue keeps that order too: vtimes of dispatches to it increase.
    let vtimes: Vec<u64> = out
        .policy
        .dispatched
        .iter()
        .filter(|d| d.target() == CpuTarget::Any)
        .map(|d| d.vtime())
        .collect();
    assert!(vtimes.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(out.report.counters.cancelled_dispatches, 0);
}

#[test]
fn rr_gives_equal_hogs_equal_shares_of_one_cpu() {
    for n in [2u32, 3, 5] {
        let workload = Workload::new().with(TaskSpec::hog("hog").count(n));
        let report = simulate(RoundRobin::default(), config(1, 10 * S), &workload)
            .unwrap()
            .report;
        assert_eq!(report.exit.kind, ExitKind::Done);
        let total: u64 = report.tasks.iter().map(|t| t.runtime_ns).sum();
        assert!(
            total as f64 > 0.9 * (10 * S) as f64,
            "the CPU should be busy: {total}"
        );
        let fair = 1.0 / n as f64;
        for t in &report.tasks {
            let share = t.runtime_ns as f64 / total as f64;
            assert!(
                (share - fair).abs() <= 0.05 * fair,
                "{n} hogs: pid {} got {share:.4}, fair {fair:.4}",
                t.pid
            );
        }
    }
}

#[test]
fn vruntime_splits_a_cpu_by_weight() {
    let workload = Workload::new()
        .with(TaskSpec::hog("heavy").weight(200))
        .with(TaskSpec::hog("light").weight(100));
    let report = simulate(Vruntime::default(), config(1, 10 * S), &workload)
        .unwrap()
        .report;
    let heavy = group(&report, "heavy").runtime_ns as f64;
    let light = group(&report, "light").runtime_ns as f64;
    let ratio = heavy / light;
    assert!((1.8..=2.2).contains(&ratio), "heavy/light = {ratio:.3}");
    // Weight-adjusted, that split is fair.
    assert!(report.totals.fairness.unwrap() > 0.99);
}

fn desktop() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(4))
        .with(TaskSpec::interactive("ui", 200 * US, 5 * MS))
}

fn run_desktop<P: Policy>(policy: P) -> SimReport {
    let report = simulate(
        policy,
        SimConfig {
            seed: 3,
            ..config(2, 5 * S)
        },
        &desktop(),
    )
    .unwrap()
    .report;
    assert_eq!(report.exit.kind, ExitKind::Done);
    report
}

#[test]
fn vruntime_wakes_an_interactive_task_faster_than_fifo_and_rr() {
    let ui = |r: &SimReport| group(r, "ui").latency;
    let vr = ui(&run_desktop(Vruntime::default()));
    let fifo = ui(&run_desktop(Fifo::default()));
    let rr = ui(&run_desktop(RoundRobin::default()));
    assert!(vr.count > 100, "{vr:?}");
    assert!(vr.p99_ns < fifo.p99_ns, "vruntime {vr:?} vs fifo {fifo:?}");
    assert!(vr.p99_ns < rr.p99_ns, "vruntime {vr:?} vs rr {rr:?}");
}

/// Two hogs and an interactive task, and for `storm_ns` two fork streams that together want 3 CPUs of the 2.
fn fork_storm(storm_ns: u64) -> Workload {
    let every = 100 * US;
    Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(
            TaskSpec::fork("fork", every, 150 * US)
                .count(2)
                .max_forks(storm_ns / every),
        )
        .with(TaskSpec::interactive("ui", 100 * US, 10 * MS))
}

#[test]
fn vruntime_starves_nobody_under_an_overloading_fork_storm() {
    check_nobody_starves_in_a_storm(Vruntime::default());
}

#[test]
fn fifo_and_rr_starve_nobody_under_an_overloading_fork_storm() {
    check_nobody_starves_in_a_storm(Fifo::default());
    check_nobody_starves_in_a_storm(RoundRobin::default());
}

/// The storm lasts 2 s and more than fills the machine, so waits grow with the backlog; but every task must still
/// get a CPU during the storm, not only after it.
fn check_nobody_starves_in_a_storm<P: Policy>(policy: P) {
    let storm = 2 * S;
    let cfg = SimConfig {
        watchdog_timeout_ns: 10 * S,
        ..config(2, 4 * S)
    };
    let report = simulate(policy, cfg, &fork_storm(storm)).unwrap().report;
    assert_eq!(report.exit.kind, ExitKind::Done, "{}", report.exit);
    assert_eq!(group(&report, "fork").exited, 2 * storm / (100 * US));
    for t in &report.tasks {
        assert!(
            t.max_wait_ns < storm,
            "{}[{}] waited {} ns to run",
            t.comm,
            t.pid,
            t.max_wait_ns
        );
    }
}

#[test]
fn vruntime_starves_nobody_under_a_steady_fork_stream() {
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::fork("fork", 500 * US, 200 * US).count(2))
        .with(TaskSpec::interactive("ui", 100 * US, 10 * MS));
    let cfg = SimConfig {
        watchdog_timeout_ns: S,
        ..config(2, 3 * S)
    };
    let report = simulate(Vruntime::default(), cfg, &workload)
        .unwrap()
        .report;
    assert_eq!(report.exit.kind, ExitKind::Done, "{}", report.exit);
    // The hogs keep a fair part of the machine: each at least a quarter of a CPU.
    for t in report.tasks.iter().filter(|t| t.comm == "hog") {
        assert!(t.cpu_share > 0.25, "hog {} got {:.3}", t.pid, t.cpu_share);
    }
    // Children get through: all but the youngest few finished, none waited long to start.
    let forks = group(&report, "fork");
    assert!(forks.tasks > 10_000);
    assert!(
        forks.exited + 20 >= forks.tasks,
        "{} of {} exited",
        forks.exited,
        forks.tasks
    );
    assert!(forks.latency.max_ns < 100 * MS, "{:?}", forks.latency);
    assert!(group(&report, "ui").latency.max_ns < 100 * MS);
}

/// 100k short-lived tasks, none of which may leave state behind in a policy.
fn short_lived() -> (SimConfig, Workload) {
    let workload = Workload::new()
        .with(TaskSpec::fork("short", 10 * US, 5 * US).max_forks(100_000))
        .with(TaskSpec::hog("hog"));
    // No fast path: every child goes through the policy.
    let cfg = SimConfig {
        idle_fast_path: false,
        ..config(2, 1_100 * MS)
    };
    (cfg, workload)
}

fn check_every_exit_reaches_the_policy<P: Policy>(policy: P) -> P {
    let (cfg, workload) = short_lived();
    let out = simulate(Recorder::new(policy), cfg, &workload).unwrap();
    let report = &out.report;
    assert_eq!(report.exit.kind, ExitKind::Done, "{}", report.exit);
    assert!(report.totals.exited >= 99_900, "{}", report.totals.exited);
    // The last child exits 100 ms before the end: every exit has reached the policy.
    common::assert_exits_delivered(report, &out.policy.exits, 0);
    assert_eq!(out.policy.exits.len() as u64, report.totals.exited);
    out.policy.inner
}

#[test]
fn vruntime_state_stays_bounded_after_100k_short_lived_tasks() {
    let policy = check_every_exit_reaches_the_policy(Vruntime::default());
    // Only live tasks may be tracked: the hog and the few children still alive at the end.
    assert!(policy.nr_tracked() <= 10, "tracked {}", policy.nr_tracked());
}

#[test]
fn fifo_and_rr_see_every_exit_of_100k_short_lived_tasks() {
    let fifo = check_every_exit_reaches_the_policy(Fifo::default());
    assert!(fifo.nr_held() <= 10);
    let rr = check_every_exit_reaches_the_policy(RoundRobin::default());
    assert!(rr.nr_held() <= 10);
}

#[test]
fn bundled_policies_are_deterministic() {
    let cfg = SimConfig {
        seed: 11,
        ..config(2, S)
    };
    let workload = desktop()
        .with(TaskSpec::fork("fork", MS, 300 * US))
        .with(TaskSpec::ping_pong("pipe", 50 * US));
    let vr = |_| {
        simulate(Vruntime::default(), cfg.clone(), &workload)
            .unwrap()
            .report
    };
    assert_eq!(vr(0), vr(1));
    let rr = |_| {
        simulate(RoundRobin::default(), cfg.clone(), &workload)
            .unwrap()
            .report
    };
    assert_eq!(rr(0), rr(1));
}

/// cyclictest under hogs as it runs in the VM: its measuring thread pins itself to one CPU.
fn pinned_waker_under_hogs() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("cyclic", 20 * US, MS).cpus([0]))
}

#[test]
fn vruntime_wakes_a_pinned_task_without_waiting_for_a_hogs_slice() {
    // The woken task's deadline is before the hog's on its CPU: that hog is preempted, whichever CPU the
    // user-space scheduler ran on, instead of waiting for the end of the hog's 5 ms slice.
    let report = simulate(
        Vruntime::default(),
        config(2, S),
        &pinned_waker_under_hogs(),
    )
    .unwrap()
    .report;
    let lat = group(&report, "cyclic").latency;
    assert!(lat.count > 500, "{lat:?}");
    assert!(lat.p99_ns < MS, "{lat:?}");
}

#[test]
fn fifo_lets_a_pinned_waker_wait_for_a_hogs_slice() {
    // FIFO does not preempt for a task that arrived later: the pinned waker waits for the hog on its CPU when
    // the scheduler ran elsewhere, so some wakeups take about a slice.
    let report = simulate(Fifo::default(), config(2, S), &pinned_waker_under_hogs())
        .unwrap()
        .report;
    let lat = group(&report, "cyclic").latency;
    assert!(lat.count > 100, "{lat:?}");
    assert!(lat.max_ns >= MS, "{lat:?}");
}
