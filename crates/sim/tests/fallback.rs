//! The fallback for an unresponsive user space, as the BPF side does it: a stopped scheduler leaves the machine
//! running, the episode lasts as long as user space is away, and tasks come back to the policy as they left it.
//! Every figure is in virtual time, so nothing here depends on the speed of the host.

mod common;

use std::collections::BTreeMap;

use common::{config, Fcfs, MS, S, US};
use rustland_core::{Context, Dispatch, ExitKind, Pid, Policy, QueuedTask, RunLoop, StopReason};
use rustland_policy_fifo::Fifo;
use rustland_policy_rr::RoundRobin;
use rustland_policy_vruntime::Vruntime;
use rustland_sim::{simulate, SimConfig, SimReport, Simulator, TaskSpec, UserStall, Workload};

/// Two CPU hogs, a 10 ms periodic waker and an interactive task on two CPUs: the scenario.
fn hogs_and_wakers() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("cyclic", 100 * US, 10 * MS))
        .with(TaskSpec::interactive("ui", 500 * US, 20 * MS))
}

const STALL: UserStall = UserStall {
    at_ns: S,
    for_ns: 3 * S,
};

/// Wraps a policy and records, with the time, every task it is handed and every dispatch it makes.
struct Timeline<P> {
    inner: P,
    enqueued: Vec<(u64, QueuedTask)>,
    dispatched: Vec<(u64, Dispatch)>,
}

impl<P: Policy> Policy for Timeline<P> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        self.enqueued.push((ctx.now_ns(), task));
        self.inner.on_enqueue(task, ctx);
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let d = self.inner.pick_next(ctx)?;
        self.dispatched.push((ctx.now_ns(), d));
        Some(d)
    }
    fn on_exit(&mut self, pid: Pid, ctx: &mut Context<'_>) {
        self.inner.on_exit(pid, ctx);
    }
    fn nr_held(&self) -> usize {
        self.inner.nr_held()
    }
}

/// What one run under a stall showed.
struct StalledRun<P> {
    policy: Timeline<P>,
    /// The report at the end.
    end: SimReport,
    /// The report after the last round before the stall, and after the first round after it.
    before: SimReport,
    after: SimReport,
    /// When each round ran, and how many user dispatches had been applied by then.
    rounds: Vec<(u64, u64)>,
}

fn run_stalled<P: Policy>(policy: P, cfg: SimConfig, workload: &Workload) -> StalledRun<P> {
    let stall = cfg.user_stalls[0];
    let timeline = Timeline {
        inner: policy,
        enqueued: Vec::new(),
        dispatched: Vec::new(),
    };
    let mut run = RunLoop::new(timeline, Simulator::new(cfg, workload).unwrap());
    let mut rounds = Vec::new();
    let (mut before, mut after) = (None, None);
    let report = run
        .run_with(|lp| {
            let sim = lp.connector();
            let now = rustland_core::Connector::now_ns(sim);
            rounds.push((now, sim.report().counters.user_dispatches));
            if now < stall.at_ns {
                before = Some(sim.report());
            } else if now >= stall.end_ns() && after.is_none() {
                after = Some(sim.report());
            }
        })
        .unwrap();
    assert!(matches!(report.reason, StopReason::KernelExit(_)));
    let (policy, sim) = run.into_parts();
    StalledRun {
        policy,
        end: sim.report(),
        before: before.expect("rounds before the stall"),
        after: after.expect("rounds after the stall"),
        rounds,
    }
}

/// The checks of the scenario for one policy; returns (episode length, the longest wait of a hog, the
/// periodic task's largest wakeup latency during the episode) for the message of a failure elsewhere.
fn check_stall_is_covered<P: Policy>(policy: P) -> (u64, u64, u64) {
    let name = policy.name();
    let cfg = SimConfig {
        user_stalls: vec![STALL],
        ..config(2, 5 * S)
    };
    let fallback_ns = cfg.fallback_ns;
    let run = run_stalled(policy, cfg, &hogs_and_wakers());
    let report = &run.end;
    let c = report.counters;

    assert_eq!(report.exit.kind, ExitKind::Done, "{name}: {}", report.exit);
    assert_eq!(c.fallback_episodes, 1, "{name}");
    assert!(c.fallback_dispatches > 0, "{name}");

    // The scheduler ran no round while stopped.
    assert!(
        !run.rounds
            .iter()
            .any(|&(t, _)| t > STALL.at_ns && t < STALL.end_ns()),
        "{name}: a round ran during the stall"
    );

    // The episode began `fallback_ns` after the first task waited for the stopped scheduler (the periodic task
    // wakes within 10 ms of the stop), and ended as soon as the scheduler was back.
    let [episode] = report.fallback.episodes[..] else {
        panic!("{name}: {:?}", report.fallback.episodes)
    };
    let end = episode.end_ns.expect("the episode ended");
    assert!(
        episode.start_ns > STALL.at_ns && episode.start_ns <= STALL.at_ns + fallback_ns + 20 * MS,
        "{name}: began at {}",
        episode.start_ns
    );
    assert!(
        end >= STALL.end_ns() && end <= STALL.end_ns() + 100 * MS,
        "{name}: ended at {end}"
    );
    assert_eq!(c.fallback_last_ns, end - episode.start_ns, "{name}");
    assert_eq!(c.fallback_ns, c.fallback_last_ns, "{name}");
    // The hogs at least were in custody when user space stopped, and were taken back.
    assert!(
        (2..=c.fallback_dispatches).contains(&c.fallback_reclaimed),
        "{name}: {c:?}"
    );
    // In custody: records in the ring (less the stale ones) and tasks the policy holds.
    assert!(
        c.nr_custody <= c.nr_queued + c.nr_scheduled,
        "{name}: {c:?}"
    );

    // User dispatches resume: more of them are applied within 100 ms of the end of the stall.
    let applied_at = |t: u64| {
        run.rounds
            .iter()
            .take_while(|&&(at, _)| at <= t)
            .last()
            .map_or(0, |&(_, n)| n)
    };
    assert!(
        applied_at(STALL.end_ns() + 100 * MS) > applied_at(STALL.end_ns()),
        "{name}: no user dispatch after the stall"
    );
    assert!(
        run.after.counters.fallback_dispatches >= run.before.counters.fallback_dispatches,
        "{name}"
    );

    // The hogs kept progressing, each at its fair share, and none waited long.
    let hogs: Vec<Pid> = report
        .tasks
        .iter()
        .filter(|t| t.comm == "hog")
        .map(|t| t.pid)
        .collect();
    let runtime =
        |r: &SimReport, pid: Pid| r.tasks.iter().find(|t| t.pid == pid).unwrap().runtime_ns;
    let mut longest_wait = 0;
    for &pid in &hogs {
        let got = runtime(&run.after, pid) - runtime(&run.before, pid);
        let window = STALL.for_ns;
        assert!(
            got as f64 > 0.8 * window as f64,
            "{name}: hog {pid} ran {got} ns of {window} ns"
        );
        let hog = report.tasks.iter().find(|t| t.pid == pid).unwrap();
        assert!(
            (hog.max_wait_ns as f64) < 0.6 * window as f64,
            "{name}: hog {pid} waited {} ns",
            hog.max_wait_ns
        );
        longest_wait = longest_wait.max(hog.max_wait_ns);
    }

    // The periodic waker is served promptly during the episode.
    let cyclic = report.groups.iter().find(|g| g.name == "cyclic").unwrap();
    let latency = cyclic.fallback_latency;
    assert!(latency.count > 100, "{name}: {latency:?}");
    assert!(latency.max_ns < 30 * MS, "{name}: {latency:?}");

    // Records of tasks the fallback took were dropped before the policy saw them.
    assert!(c.stale_records > 0, "{name}");
    check_policy_sees_its_own_vtimes(name, &run.policy, episode.start_ns, end);

    (end - episode.start_ns, longest_wait, latency.max_ns)
}

/// After the episode, each task the policy is handed carries the vtime of the policy's last dispatch of it before
/// the episode (the fallback's order is its own); and the policy never gets the same record twice.
fn check_policy_sees_its_own_vtimes<P>(name: &str, policy: &Timeline<P>, start: u64, end: u64) {
    let mut last_vtime: BTreeMap<Pid, u64> = BTreeMap::new();
    for &(_, d) in policy.dispatched.iter().filter(|(t, _)| *t < start) {
        last_vtime.insert(d.pid(), d.vtime());
    }
    let mut seen = BTreeMap::new();
    let mut checked = 0;
    for &(t, task) in &policy.enqueued {
        assert!(
            seen.insert((task.pid, task.enq_seq), t).is_none(),
            "{name}: record {task:?} handed over twice"
        );
        if t >= end {
            if let Some(&vtime) = last_vtime.get(&task.pid) {
                assert_eq!(
                    task.vtime, vtime,
                    "{name}: pid {} came back with another vtime",
                    task.pid
                );
                checked += 1;
            }
            // Only the first record after the episode: later ones carry newer dispatches.
            last_vtime.remove(&task.pid);
        }
    }
    assert!(
        checked >= 2,
        "{name}: only {checked} tasks came back to the policy"
    );
}

#[test]
fn a_stopped_fifo_scheduler_is_covered_by_the_fallback() {
    let (episode, wait, latency) = check_stall_is_covered(Fifo::default());
    eprintln!("fifo: episode {episode} ns, hog wait {wait} ns, periodic latency {latency} ns");
}

#[test]
fn a_stopped_rr_scheduler_is_covered_by_the_fallback() {
    let (episode, wait, latency) = check_stall_is_covered(RoundRobin::default());
    eprintln!("rr: episode {episode} ns, hog wait {wait} ns, periodic latency {latency} ns");
}

#[test]
fn a_stopped_vruntime_scheduler_is_covered_by_the_fallback() {
    let (episode, wait, latency) = check_stall_is_covered(Vruntime::default());
    eprintln!("vruntime: episode {episode} ns, hog wait {wait} ns, periodic latency {latency} ns");
}

#[test]
fn without_a_stall_there_is_no_episode_and_nothing_changes() {
    let workload = hogs_and_wakers()
        .with(TaskSpec::ping_pong("pipe", 80 * US))
        .with(TaskSpec::fork("storm", 2 * MS, 500 * US));
    fn check<P: Policy>(make: impl Fn() -> P, workload: &Workload) {
        let run = |fallback_ns| {
            let cfg = SimConfig {
                fallback_ns,
                ..config(2, 2 * S)
            };
            simulate(make(), cfg, workload).unwrap().report
        };
        let report = run(SimConfig::default().fallback_ns);
        let c = report.counters;
        let name = make().name();
        assert_eq!(report.exit.kind, ExitKind::Done, "{name}");
        assert_eq!(
            (
                c.fallback_episodes,
                c.fallback_dispatches,
                c.fallback_ns,
                c.stale_records
            ),
            (0, 0, 0, 0),
            "{name}"
        );
        assert!(report.fallback.episodes.is_empty());
        assert!(!report.render(name).contains("fallback:"));
        // A fallback that could never begin gives the very same run.
        assert_eq!(report, run(3600 * S), "{name}");
    }
    check(Fifo::default, &workload);
    check(RoundRobin::default, &workload);
    check(Vruntime::default, &workload);
}

/// Takes every task and dispatches none: user space is alive (it reads its records) but makes no progress on them.
#[derive(Default)]
struct Hoarder {
    held: Vec<QueuedTask>,
}

impl Policy for Hoarder {
    fn name(&self) -> &'static str {
        "hoarder"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.held.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        None
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.held.len()
    }
}

#[test]
fn a_live_scheduler_that_dispatches_nothing_gets_short_episodes() {
    // Each episode ends as soon as the scheduler reads the record that wakes it (its wake-up delay later); the
    // tasks it hoards run anyway, each after waiting about `fallback_ns`, and the watchdog never fires.
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(3))
        .with(TaskSpec::periodic("tick", 200 * US, 5 * MS));
    let cfg = SimConfig {
        idle_fast_path: false,
        watchdog_timeout_ns: S,
        ..config(2, 3 * S)
    };
    let fallback_ns = cfg.fallback_ns;
    let report = simulate(Hoarder::default(), cfg, &workload).unwrap().report;
    let c = report.counters;
    assert_eq!(report.exit.kind, ExitKind::Done, "{}", report.exit);
    assert_eq!(c.user_dispatches, 0);
    assert!(c.fallback_episodes >= 5, "{c:?}");
    assert!(c.fallback_last_ns < MS, "{c:?}");
    for e in &report.fallback.episodes {
        assert!(e.end_ns.is_some_and(|end| end - e.start_ns < MS), "{e:?}");
    }
    // Every task ran, and none waited much longer than the fallback's delay (plus a slice or two: each episode
    // takes the hoarded tasks back, and each goes to the hoarder again when its slice ends).
    for t in &report.tasks {
        assert!(t.runtime_ns > 0, "{t:?}");
        assert!(t.max_wait_ns < fallback_ns + 50 * MS, "{t:?}");
    }
}

#[test]
fn a_stall_longer_than_the_watchdog_timeout_does_not_stall_the_run() {
    // Without the fallback, tasks queued to a stopped scheduler would wait the whole stall.
    let cfg = SimConfig {
        watchdog_timeout_ns: S,
        user_stalls: vec![UserStall {
            at_ns: 200 * MS,
            for_ns: 3 * S,
        }],
        ..config(2, 4 * S)
    };
    let out = simulate(Fcfs::with_slice(5 * MS), cfg, &hogs_and_wakers()).unwrap();
    assert_eq!(out.report.exit.kind, ExitKind::Done, "{}", out.report.exit);
    assert_eq!(out.report.counters.fallback_episodes, 1);
    assert!(out.report.totals.max_wait_ns < S);
}

#[test]
fn a_scheduler_back_less_than_a_second_ago_is_judged_sooner() {
    // Two stalls 500 ms apart: the second episode begins a tenth of `fallback` after the second stall starts (a
    // scheduler that is only starved returns now and then; each return must not cost every task `fallback` again),
    // and one 2 s later waits the whole `fallback` again.
    let stall = |at_ns| UserStall {
        at_ns,
        for_ns: 500 * MS,
    };
    let cfg = SimConfig {
        user_stalls: vec![stall(S), stall(2 * S), stall(5 * S)],
        ..config(2, 6 * S)
    };
    let fallback_ns = cfg.fallback_ns;
    let out = simulate(Fifo::default(), cfg, &hogs_and_wakers()).unwrap();
    let episodes = &out.report.fallback.episodes;
    assert_eq!(episodes.len(), 3, "{episodes:?}");
    let delay = |i: usize, at: u64| episodes[i].start_ns - at;
    assert!(delay(0, S) > fallback_ns, "{episodes:?}");
    // (The clock starts at the last applied dispatch or, when custody was empty, the next task handed over: the
    // periodic task wakes every 10 ms.)
    assert!(
        delay(1, 2 * S) <= fallback_ns / 10 + 10 * MS,
        "{episodes:?}"
    );
    assert!(delay(2, 5 * S) > fallback_ns, "{episodes:?}");
}

#[test]
fn a_waker_pinned_to_one_cpu_preempts_a_hog_during_an_episode() {
    // cyclictest's measuring thread pins itself to one CPU. During an episode the fallback must preempt the hog on
    // that CPU for it, as for a waker that may run anywhere: waiting for the hog's slice to end instead made the
    // VM's 10 ms waker late by a slice at every period.
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("cyclic", 100 * US, 10 * MS).cpus([0]));
    let cfg = SimConfig {
        user_stalls: vec![STALL],
        ..config(2, 5 * S)
    };
    let slice = cfg.default_slice_ns;
    for report in [
        simulate(Fifo::default(), cfg.clone(), &workload)
            .unwrap()
            .report,
        simulate(Vruntime::default(), cfg.clone(), &workload)
            .unwrap()
            .report,
    ] {
        assert_eq!(report.counters.fallback_episodes, 1);
        let cyclic = report.groups.iter().find(|g| g.name == "cyclic").unwrap();
        let latency = cyclic.fallback_latency;
        assert!(latency.count > 100, "{latency:?}");
        // A hog is preempted once it has run a quarter of a slice; it is never waited for to the end of one.
        assert!(latency.p50_ns <= slice / 4, "slice {slice} ns: {latency:?}");
        assert!(latency.p99_ns < slice / 2, "slice {slice} ns: {latency:?}");
    }
}
