//! The simulated kernel side behaves like the BPF side it models. Small policies defined here exercise one
//! mechanism each; every test asserts a property, not numbers copied from a run.

mod common;

use std::collections::BTreeMap;

use common::{config, group, Fcfs, Recorder, MS, S, US};
use rustland_core::{
    Context, CpuTarget, Dispatch, DispatchFlags, EnqueueFlags, ExitKind, Pid, Policy, QueuedTask,
    StopReason,
};
use rustland_sim::{simulate, SimConfig, TaskSpec, Workload, FIRST_PID};

fn mixed_workload() -> Workload {
    Workload::new()
        .with(TaskSpec::hog("hog").count(3))
        .with(TaskSpec::interactive("ui", 300 * US, 4 * MS))
        .with(TaskSpec::ping_pong("pipe", 80 * US))
        .with(TaskSpec::fork("storm", 2 * MS, 500 * US))
        .with(
            TaskSpec::periodic("tick", 100 * US, 3 * MS)
                .nice(-5)
                .cpus([1]),
        )
}

#[test]
fn same_seed_gives_identical_reports_and_another_seed_does_not() {
    let run = |seed| {
        let cfg = SimConfig {
            seed,
            ..config(2, 300 * MS)
        };
        simulate(Fcfs::with_slice(2 * MS), cfg, &mixed_workload())
            .unwrap()
            .report
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(
        a,
        run(2),
        "the seed must drive the interactive task's timing"
    );
}

/// Holds back one pid forever and dispatches everything else.
struct Withhold {
    victim: Pid,
    inner: Fcfs,
    held: Vec<QueuedTask>,
}

impl Policy for Withhold {
    fn name(&self) -> &'static str {
        "withhold"
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        if task.pid == self.victim {
            self.held.push(task);
        } else {
            self.inner.on_enqueue(task, ctx);
        }
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        self.inner.pick_next(ctx)
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.inner.nr_held() + self.held.len()
    }
}

#[test]
fn watchdog_names_the_task_a_policy_never_dispatches() {
    let workload = Workload::new()
        .with(TaskSpec::hog("busy").count(2))
        .with(TaskSpec::periodic("victim", MS, MS));
    let victim = FIRST_PID + 2;
    let cfg = SimConfig {
        watchdog_timeout_ns: S,
        ..config(2, 30 * S)
    };
    let policy = Withhold {
        victim,
        inner: Fcfs::with_slice(5 * MS),
        held: Vec::new(),
    };
    let out = simulate(policy, cfg, &workload).unwrap();
    let exit = &out.report.exit;
    assert_eq!(exit.kind, ExitKind::Stall);
    assert!(exit.is_error());
    assert!(exit.message.contains(&victim.to_string()), "{exit}");
    assert!(exit.message.contains("victim"), "{exit}");
    assert!(matches!(out.run.reason, StopReason::KernelExit(ref e) if e.kind == ExitKind::Stall));
    // It fires soon after the timeout, not at the end of the run.
    assert!(
        out.report.elapsed_ns > S && out.report.elapsed_ns < 2 * S,
        "{}",
        out.report.elapsed_ns
    );
}

#[test]
fn watchdog_fires_even_when_nothing_else_happens() {
    // The only task is withheld: no event at all would advance time without the scheduler's tick.
    let workload = Workload::new().with(TaskSpec::hog("lonely"));
    let cfg = SimConfig {
        watchdog_timeout_ns: 100 * MS,
        idle_fast_path: false,
        ..config(1, 10 * S)
    };
    let policy = Withhold {
        victim: FIRST_PID,
        inner: Fcfs::default(),
        held: Vec::new(),
    };
    let out = simulate(policy, cfg, &workload).unwrap();
    assert_eq!(out.report.exit.kind, ExitKind::Stall);
}

#[test]
fn every_exit_reaches_on_exit_exactly_once() {
    let workload = Workload::new()
        .with(TaskSpec::fork("storm", 300 * US, 200 * US).count(2))
        .with(TaskSpec::hog("mortal").count(2).exit_after_ns(20 * MS));
    let out = simulate(
        Recorder::new(Fcfs::with_slice(MS)),
        config(2, 200 * MS),
        &workload,
    )
    .unwrap();
    let exited = out.report.tasks.iter().filter(|t| t.exited).count();
    assert!(exited > 100);
    common::assert_exits_delivered(&out.report, &out.policy.exits, 30 * MS);
    assert_eq!(out.report.totals.exited, exited as u64);
}

/// Dispatches every task twice (the second copy is stale).
struct Twice {
    queue: Vec<QueuedTask>,
    again: Option<Dispatch>,
}

impl Policy for Twice {
    fn name(&self) -> &'static str {
        "twice"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        if let Some(d) = self.again.take() {
            return Some(d);
        }
        let t = self.queue.pop()?;
        let d = t.dispatch(CpuTarget::Any, MS, t.vtime);
        self.again = Some(d);
        Some(d)
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len() + usize::from(self.again.is_some())
    }
}

#[test]
fn duplicate_and_unknown_dispatches_are_cancelled() {
    let workload = Workload::new().with(TaskSpec::hog("hog").count(3));
    let out = simulate(
        Twice {
            queue: Vec::new(),
            again: None,
        },
        config(1, 100 * MS),
        &workload,
    )
    .unwrap();
    let c = out.report.counters;
    assert!(c.user_dispatches > 10);
    // Every task was dispatched twice; one copy ran, the other was cancelled.
    assert_eq!(
        c.cancelled_dispatches,
        out.run.stats.dispatched - c.user_dispatches
    );
    assert!(c.cancelled_dispatches >= c.user_dispatches - 3);
    assert_eq!(out.report.exit.kind, ExitKind::Done);
}

/// Sends every task to one fixed CPU.
struct ToCpu {
    cpu: u32,
    queue: Vec<QueuedTask>,
    prev_cpus: BTreeMap<Pid, Vec<u32>>,
}

impl Policy for ToCpu {
    fn name(&self) -> &'static str {
        "to-cpu"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.prev_cpus
            .entry(task.pid)
            .or_default()
            .push(task.prev_cpu);
        self.queue.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.queue.pop()?;
        Some(t.dispatch(CpuTarget::Cpu(self.cpu), MS, t.vtime))
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[test]
fn dispatches_to_a_forbidden_cpu_bounce_to_an_allowed_one() {
    // More hogs than CPUs, so slices expire and every task keeps coming back to the policy.
    let workload = Workload::new()
        .with(TaskSpec::hog("free").count(3))
        .with(TaskSpec::hog("pinned").count(3).cpus([2, 3]));
    let policy = ToCpu {
        cpu: 0,
        queue: Vec::new(),
        prev_cpus: BTreeMap::new(),
    };
    let out = simulate(policy, config(4, 200 * MS), &workload).unwrap();
    assert!(out.report.counters.bounced_dispatches > 0);
    let pinned: Vec<_> = out
        .report
        .tasks
        .iter()
        .filter(|t| t.comm == "pinned")
        .collect();
    for t in &pinned {
        let cpus = &out.policy.prev_cpus[&t.pid];
        assert!(
            cpus.iter().all(|c| [2, 3].contains(c)),
            "pinned task ran on {cpus:?}"
        );
        // Bounced tasks are not starved.
        assert!(t.cpu_share > 0.3, "{t:?}");
    }
    // Together they keep their two CPUs busy.
    assert!(pinned.iter().map(|t| t.cpu_share).sum::<f64>() > 1.8);
}

#[test]
fn a_full_ring_sends_tasks_to_the_shared_queue_and_they_still_run() {
    let workload = Workload::new().with(TaskSpec::periodic("sleeper", 200 * US, MS).count(40));
    let cfg = SimConfig {
        ring_capacity: 2,
        idle_fast_path: false,
        ..config(2, 200 * MS)
    };
    let out = simulate(Fcfs::with_slice(MS), cfg, &workload).unwrap();
    let c = out.report.counters;
    assert!(c.congested_dispatches > 0);
    assert_eq!(
        c.fallback_dispatches, 0,
        "user space never stops responding here"
    );
    assert_eq!(out.report.exit.kind, ExitKind::Done);
    assert!(out.report.tasks.iter().all(|t| t.completed > 0));
}

#[test]
fn the_idle_fast_path_is_switchable() {
    let workload = Workload::new().with(TaskSpec::periodic("sleeper", 100 * US, 2 * MS).count(2));
    let run = |fast| {
        let cfg = SimConfig {
            idle_fast_path: fast,
            ..config(4, 100 * MS)
        };
        simulate(Recorder::new(Fcfs::with_slice(MS)), cfg, &workload).unwrap()
    };
    let on = run(true);
    assert!(on.report.counters.kernel_dispatches > 50);
    // Idle CPUs abound: the policy sees (almost) nothing.
    assert!(on.policy.enqueued.len() < 5);
    let off = run(false);
    assert_eq!(off.report.counters.kernel_dispatches, 0);
    assert_eq!(
        off.policy.enqueued.len() as u64,
        off.report.counters.user_dispatches + off.report.counters.nr_queued
    );
    assert!(off
        .policy
        .enqueued
        .iter()
        .any(|t| t.flags.contains(EnqueueFlags::WAKEUP)));
}

/// Records the vtime each dispatch set and checks the next enqueue brings it back.
struct VtimeEcho {
    queue: Vec<QueuedTask>,
    last: BTreeMap<Pid, u64>,
    mismatches: u64,
    checked: u64,
    counter: u64,
}

impl Policy for VtimeEcho {
    fn name(&self) -> &'static str {
        "vtime-echo"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        let expected = self.last.get(&task.pid).copied().unwrap_or(0);
        self.checked += 1;
        if task.vtime != expected {
            self.mismatches += 1;
        }
        self.queue.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.queue.pop()?;
        self.counter += 7;
        self.last.insert(t.pid, self.counter);
        Some(t.dispatch(CpuTarget::Any, MS, self.counter))
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[test]
fn vtime_makes_the_round_trip() {
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(3))
        .with(TaskSpec::interactive("ui", US, MS));
    let policy = VtimeEcho {
        queue: Vec::new(),
        last: BTreeMap::new(),
        mismatches: 0,
        checked: 0,
        counter: 0,
    };
    let cfg = SimConfig {
        idle_fast_path: false,
        ..config(2, 100 * MS)
    };
    let out = simulate(policy, cfg, &workload).unwrap();
    assert!(out.policy.checked > 50);
    assert_eq!(out.policy.mismatches, 0);
}

#[test]
fn expired_slices_come_back_preempted_with_fresh_sequence_numbers() {
    let workload = Workload::new().with(TaskSpec::hog("hog").count(2));
    let out = simulate(
        Recorder::new(Fcfs::with_slice(MS)),
        config(1, 500 * MS),
        &workload,
    )
    .unwrap();
    let enq = &out.policy.enqueued;
    assert!(
        enq.iter()
            .filter(|t| t.flags.contains(EnqueueFlags::PREEMPTED))
            .count()
            > 20
    );
    for pid in [FIRST_PID, FIRST_PID + 1] {
        let seqs: Vec<u64> = enq
            .iter()
            .filter(|t| t.pid == pid)
            .map(|t| t.enq_seq)
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] > w[0]),
            "enq_seq must increase: {seqs:?}"
        );
    }
    // A hog never sleeps, so its exec runtime keeps growing across preemptions.
    let runtimes: Vec<u64> = enq
        .iter()
        .filter(|t| t.pid == FIRST_PID)
        .map(|t| t.exec_runtime_ns)
        .collect();
    assert!(runtimes.windows(2).all(|w| w[1] > w[0]), "{runtimes:?}");
    // Slices are honoured: two hogs alternate, each gets about half.
    let shares = common::shares(&out.report, "hog");
    assert!(shares.iter().all(|s| (0.4..0.6).contains(s)), "{shares:?}");
}

/// Once all four tasks are in, dispatches everything to the shared queue with vtime decreasing in pid order.
struct ReverseVtime {
    queue: Vec<QueuedTask>,
    released: bool,
}

impl Policy for ReverseVtime {
    fn name(&self) -> &'static str {
        "reverse-vtime"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        self.released |= self.queue.len() == 4;
        if !self.released || self.queue.is_empty() {
            return None;
        }
        self.queue.sort_by_key(|t| t.pid);
        let t = self.queue.remove(0);
        Some(t.dispatch(CpuTarget::Any, 10 * MS, 1_000 - t.pid as u64))
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[test]
fn the_shared_queue_runs_tasks_in_vtime_order() {
    // One CPU kept busy by a task started first, so the three sleepers pile up in the shared queue.
    let workload = Workload::new()
        .with(TaskSpec::periodic("first", 5 * MS, S))
        .with(TaskSpec::periodic("sleeper", MS, S).count(3).start_ns(MS));
    let cfg = SimConfig {
        idle_fast_path: false,
        ..config(1, 50 * MS)
    };
    let out = simulate(
        ReverseVtime {
            queue: Vec::new(),
            released: false,
        },
        cfg,
        &workload,
    )
    .unwrap();
    let g = out
        .report
        .groups
        .iter()
        .position(|g| g.name == "sleeper")
        .unwrap();
    let lat: Vec<u64> = out
        .report
        .tasks
        .iter()
        .filter(|t| t.group == g)
        .map(|t| t.latency.max_ns)
        .collect();
    // Higher pid = lower vtime = runs first = shorter wait.
    assert!(lat[2] < lat[1] && lat[1] < lat[0], "{lat:?}");
}

/// Dispatches every task to its previous CPU with a 20 ms slice, asking to preempt for one pid.
struct ToPrev {
    queue: Vec<QueuedTask>,
    urgent: Option<Pid>,
}

impl Policy for ToPrev {
    fn name(&self) -> &'static str {
        "to-prev"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.queue.pop()?;
        let d = t.dispatch(CpuTarget::Cpu(t.prev_cpu), 20 * MS, t.vtime);
        Some(if Some(t.pid) == self.urgent {
            d.with_flags(DispatchFlags::PREEMPT)
        } else {
            d
        })
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[test]
fn preempting_dispatches_cut_wakeup_latency() {
    // Everything on CPU 1; CPU 0 stays free for the scheduler.
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(2).cpus([1]))
        .with(TaskSpec::periodic("urgent", 50 * US, 3 * MS).cpus([1]));
    let run = |urgent| {
        let policy = ToPrev {
            queue: Vec::new(),
            urgent,
        };
        simulate(policy, config(2, S), &workload).unwrap().report
    };
    let (plain, preempt) = (run(None), run(Some(FIRST_PID + 2)));
    let (p, q) = (
        group(&plain, "urgent").latency,
        group(&preempt, "urgent").latency,
    );
    assert!(q.p99_ns * 10 < p.p99_ns, "preempting {q:?} vs plain {p:?}");
    assert!(
        preempt
            .tasks
            .iter()
            .filter(|t| t.comm == "hog")
            .map(|t| t.preemptions)
            .sum::<u64>()
            > 100
    );
}

#[test]
fn ping_pong_partners_alternate() {
    let workload = Workload::new().with(TaskSpec::ping_pong("pipe", 100 * US));
    let out = simulate(Fcfs::with_slice(MS), config(2, 100 * MS), &workload).unwrap();
    let r = &out.report.tasks;
    assert_eq!(r.len(), 2);
    assert!(r[0].completed > 50);
    // Strict alternation: the first side can be at most one turn ahead.
    assert!(
        r[0].completed == r[1].completed || r[0].completed == r[1].completed + 1,
        "{r:?}"
    );
}

#[test]
fn an_idle_machine_is_idle_and_a_full_one_is_busy() {
    let idle = simulate(Fcfs::default(), config(2, 100 * MS), &Workload::new())
        .unwrap()
        .report;
    assert_eq!(idle.totals.utilisation, 0.0);
    assert_eq!(idle.exit.kind, ExitKind::Done);
    let busy = Workload::new().with(TaskSpec::hog("hog").count(3));
    let full = simulate(Fcfs::with_slice(5 * MS), config(2, 100 * MS), &busy)
        .unwrap()
        .report;
    assert!(
        full.totals.utilisation > 0.95,
        "{}",
        full.totals.utilisation
    );
    assert!(full.totals.utilisation <= 1.0);
}

#[test]
fn bundled_workload_files_parse_and_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let w = Workload::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = SimConfig::default();
        w.sim.apply(&mut cfg);
        cfg.duration_ns = cfg.duration_ns.min(100 * MS);
        let out = simulate(Fcfs::with_slice(MS), cfg, &w).unwrap();
        assert_eq!(out.report.exit.kind, ExitKind::Done, "{}", path.display());
        assert!(out.report.totals.runtime_ns > 0, "{}", path.display());
    }
}

#[test]
fn with_a_kernel_tick_slices_end_on_tick_boundaries() {
    let workload = Workload::new().with(TaskSpec::hog("hog").count(2));
    let run = |tick| {
        let cfg = SimConfig {
            kernel_tick_ns: tick,
            sched_cost_per_event_ns: 0,
            sched_cost_per_dispatch_ns: 0,
            ..config(1, 400 * MS)
        };
        simulate(Recorder::new(Fcfs::with_slice(MS)), cfg, &workload).unwrap()
    };
    let exact = run(0);
    let ticked = run(4 * MS);
    // Every stop of a preempted hog falls on a tick.
    let stops: Vec<u64> = ticked
        .policy
        .enqueued
        .iter()
        .filter(|t| t.flags.contains(EnqueueFlags::PREEMPTED))
        .map(|t| t.stop_ns)
        .collect();
    assert!(stops.len() > 20);
    assert!(stops.iter().all(|s| s % (4 * MS) == 0), "{stops:?}");
    // 1 ms slices last a whole tick: about a quarter of the switches.
    let (e, t) = (
        exact.report.counters.user_dispatches,
        ticked.report.counters.user_dispatches,
    );
    assert!(t * 3 < e, "exact {e} vs ticked {t}");
}

/// A policy that does everything a policy may do, at random: holds tasks for a while, dispatches in random order
/// to random (also invalid) CPUs or the shared queue, with random slices (0 included) and preemption, claims idle
/// CPUs it then ignores, and re-sends old dispatches (stale copies).
struct Chaos {
    rng: u64,
    queue: Vec<QueuedTask>,
    sent: Vec<Dispatch>,
    nr_cpus: u32,
}

impl Chaos {
    fn next(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }
}

impl Policy for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        self.nr_cpus = ctx.nr_cpus();
        self.queue.push(task);
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        if self.next(10) == 0 && !self.sent.is_empty() {
            let i = self.next(self.sent.len() as u64) as usize;
            return Some(self.sent[i]);
        }
        if self.queue.is_empty() || self.next(8) == 0 {
            return None;
        }
        let i = self.next(self.queue.len() as u64) as usize;
        let task = self.queue.swap_remove(i);
        let target = match self.next(4) {
            0 => CpuTarget::Any,
            1 => ctx
                .pick_idle_cpu(&task)
                .map_or(CpuTarget::Any, CpuTarget::Cpu),
            _ => CpuTarget::Cpu(self.next(u64::from(self.nr_cpus) + 2) as u32),
        };
        if self.next(6) == 0 {
            let _ = ctx.pick_idle_cpu(&task); // claimed and not used
        }
        let slice = [0, 50 * US, 3 * MS][self.next(3) as usize];
        let mut d = task.dispatch(target, slice, self.next(1000));
        if self.next(5) == 0 {
            d = d.with_flags(DispatchFlags::PREEMPT);
        }
        if self.sent.len() < 64 {
            self.sent.push(d);
        } else {
            let j = self.next(64) as usize;
            self.sent[j] = d;
        }
        Some(d)
    }
    fn on_exit(&mut self, pid: Pid, _ctx: &mut Context<'_>) {
        self.queue.retain(|t| t.pid != pid);
    }
    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

#[test]
fn accounting_invariants_hold_under_a_chaotic_policy() {
    // How often the mechanisms under test were exercised: cancelled, bounced, congested, full.
    let mut seen = [0u64; 4];
    for seed in 1..=6u64 {
        let cfg = SimConfig {
            seed,
            ring_capacity: 1 + seed as usize % 3,
            dispatch_capacity: 3,
            kernel_tick_ns: if seed % 2 == 0 { MS } else { 0 },
            idle_fast_path: seed % 3 != 0,
            ..config(3, 300 * MS)
        };
        let workload = mixed_workload()
            .with(TaskSpec::hog("pinned").cpus([2]).exit_after_ns(50 * MS))
            .with(
                TaskSpec::interactive("late", 20 * US, 500 * US)
                    .count(3)
                    .start_ns(100 * MS),
            );
        let policy = Recorder::new(Chaos {
            rng: seed * 0x9E37_79B9 + 1,
            queue: Vec::new(),
            sent: Vec::new(),
            nr_cpus: 3,
        });
        let out = simulate(policy, cfg, &workload).unwrap();
        let r = &out.report;
        assert_eq!(r.exit.kind, ExitKind::Done, "seed {seed}: {}", r.exit);
        let c = r.counters;
        // Every dispatch the loop delivered was either applied or cancelled.
        assert_eq!(
            c.user_dispatches + c.cancelled_dispatches,
            out.run.stats.dispatched,
            "seed {seed}"
        );
        seen[0] += c.cancelled_dispatches;
        seen[1] += c.bounced_dispatches;
        seen[2] += c.congested_dispatches;
        seen[3] += out.run.stats.full;
        // CPU time is conserved: tasks and the scheduler never use more than the machine has.
        let machine = u64::from(r.nr_cpus) * r.elapsed_ns;
        assert!(
            r.totals.runtime_ns + r.totals.sched_cpu_ns <= machine,
            "seed {seed}"
        );
        for t in &r.tasks {
            assert!(t.runtime_ns <= t.lifetime_ns, "seed {seed}: {t:?}");
        }
        // The pinned task ran only where allowed.
        let pinned = r.tasks.iter().find(|t| t.comm == "pinned").unwrap().pid;
        assert!(out
            .policy
            .enqueued
            .iter()
            .filter(|t| t.pid == pinned && t.start_ns > 0)
            .all(|t| t.prev_cpu == 2));
        common::assert_exits_delivered(r, &out.policy.exits, 50 * MS);
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "cancelled, bounced, congested, full: {seen:?}"
    );
}

/// Never stops dispatching: every call re-sends the same (stale after the first) copy.
struct Spammer {
    first: Option<QueuedTask>,
}

impl Policy for Spammer {
    fn name(&self) -> &'static str {
        "spammer"
    }
    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.first.get_or_insert(task);
    }
    fn pick_next(&mut self, _ctx: &mut Context<'_>) -> Option<Dispatch> {
        let t = self.first?;
        Some(t.dispatch(CpuTarget::Any, MS, t.vtime))
    }
    fn on_exit(&mut self, _pid: Pid, _ctx: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        0
    }
}

#[test]
fn a_policy_that_never_stops_dispatching_cannot_stop_the_clock() {
    let workload = Workload::new().with(TaskSpec::hog("hog").count(2));
    let cfg = SimConfig {
        dispatch_capacity: 4,
        sched_cost_per_event_ns: 0,
        sched_cost_per_dispatch_ns: 0,
        sched_wakeup_delay_ns: 0,
        watchdog_timeout_ns: 50 * MS,
        ..config(1, 10 * S)
    };
    let out = simulate(Spammer { first: None }, cfg, &workload).unwrap();
    // The spammer ignores every task after the first, so one stalls: the run ends there instead of hanging in
    // endless rounds at one instant.
    assert_eq!(out.report.exit.kind, ExitKind::Stall);
    assert!(out.report.counters.cancelled_dispatches > 100);
}

#[test]
fn a_lone_task_keeps_its_cpu_when_nothing_else_waits() {
    let workload = Workload::new().with(TaskSpec::hog("alone"));
    let cfg = SimConfig {
        idle_fast_path: false,
        default_slice_ns: 5 * MS,
        ..config(1, S)
    };
    let out = simulate(Recorder::new(Fcfs::with_slice(MS)), cfg, &workload).unwrap();
    // The policy placed it once; after that every expired slice is renewed by the kernel side.
    assert_eq!(out.policy.enqueued.len(), 1);
    let t = &out.report.tasks[0];
    assert_eq!(t.user_dispatches, 1);
    assert!(t.kernel_dispatches >= 190, "{t:?}");
    assert!(t.cpu_share > 0.99);
}

#[test]
fn a_waking_task_preempts_the_longest_runner_so_the_scheduler_runs_at_once() {
    let workload = Workload::new()
        .with(TaskSpec::hog("hog"))
        .with(TaskSpec::periodic("sleeper", 100 * US, 2 * MS));
    let run = |preempt_min_ns| {
        let cfg = SimConfig {
            preempt_min_ns,
            ..config(1, S)
        };
        simulate(Fcfs::with_slice(20 * MS), cfg, &workload)
            .unwrap()
            .report
    };
    let prompt = run(100 * US);
    let lat = group(&prompt, "sleeper").latency;
    // Wake-up delay plus one scheduler round, not the rest of the hog's slice.
    assert!(lat.p99_ns < 50 * US, "{lat:?}");
    assert!(prompt.tasks[0].preemptions > 100);
    // Without that preemption the sleeper waits for the hog's slice to end.
    let lazy = run(10 * S);
    let slow = group(&lazy, "sleeper").latency;
    assert!(slow.p50_ns > MS, "{slow:?}");
    assert_eq!(lazy.tasks[0].preemptions, 0);
}

#[test]
fn direct_wakeups_run_a_short_timer_sleeper_at_once_and_resume_the_hog() {
    // Two hogs keep both CPUs busy; the sleeper runs 50 us every 2 ms on CPU 0. Through user space each wakeup
    // costs the scheduler's round trip (here 200 us until it runs, as under TCG); a direct wakeup costs nothing.
    let workload = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("sleeper", 50 * US, 2 * MS).cpus([0]));
    let run = |direct_wakeup_max_ns| {
        let cfg = SimConfig {
            direct_wakeup_max_ns,
            sched_wakeup_delay_ns: 200 * US,
            ..config(2, S)
        };
        simulate(Fcfs::with_slice(20 * MS), cfg, &workload)
            .unwrap()
            .report
    };
    let off = run(0);
    assert_eq!(off.counters.direct_wakeups, 0);
    assert!(group(&off, "sleeper").latency.p50_ns >= 200 * US, "{off:?}");

    let on = run(500 * US);
    let sleeper = group(&on, "sleeper");
    // Every wakeup but the first (no burst known yet) goes straight to CPU 0.
    assert!(
        on.counters.direct_wakeups + 2 >= sleeper.latency.count,
        "{on:?}"
    );
    assert!(sleeper.latency.p99_ns < 10 * US, "{:?}", sleeper.latency);
    // The preempted hog resumes without going through user space (a kernel dispatch per direct wakeup), and the
    // hogs keep the CPUs busy.
    let hogs = group(&on, "hog");
    assert!(
        hogs.kernel_dispatches >= on.counters.direct_wakeups,
        "{hogs:?}"
    );
    assert!(on.totals.utilisation > 0.99, "{:?}", on.totals);
    assert!(on.counters.user_dispatches < off.counters.user_dispatches + 10);
}

#[test]
fn direct_wakeups_leave_out_long_bursts_task_wakeups_and_busy_budgets() {
    let run = |workload: &Workload| {
        let cfg = SimConfig {
            direct_wakeup_max_ns: 500 * US,
            ..config(2, S)
        };
        simulate(Fcfs::with_slice(20 * MS), cfg, workload)
            .unwrap()
            .report
    };
    // A task that runs longer than the limit between sleeps.
    let long = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("long", 2 * MS, 10 * MS).cpus([0]));
    assert_eq!(run(&long).counters.direct_wakeups, 0);
    // A task that sleeps less than four times its burst.
    let busy = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::periodic("busy", 300 * US, 600 * US).cpus([0]));
    assert_eq!(run(&busy).counters.direct_wakeups, 0);
    // Ping-pong partners wake each other (task wakeups, not interrupts).
    let pipe = Workload::new()
        .with(TaskSpec::hog("hog").count(2))
        .with(TaskSpec::ping_pong("pipe", 50 * US));
    assert_eq!(run(&pipe).counters.direct_wakeups, 0);
    // Many short sleepers on one CPU: direct wakeups stop at a quarter of the CPU, the rest go through user space.
    let crowd = Workload::new().with(TaskSpec::hog("hog").count(2)).with(
        TaskSpec::periodic("crowd", 100 * US, 500 * US)
            .count(8)
            .cpus([0]),
    );
    let report = run(&crowd);
    let direct_ns = report.counters.direct_wakeups * 100 * US;
    assert!(
        report.counters.direct_wakeups > 100,
        "{:?}",
        report.counters
    );
    assert!(
        direct_ns <= S / 4 + 10 * MS,
        "{direct_ns} ns of direct runs in 1 s"
    );
    assert!(report.counters.user_dispatches > 100);
}

#[test]
fn a_task_woken_by_another_preempts_only_a_hog_for_the_scheduler() {
    // One CPU, a ping-pong pair: each partner runs 300 us, wakes the other and sleeps. The waker has run longer than
    // `preempt_min_ns` when it wakes its partner, but it is about to sleep: preempting it would only send it back
    // through user space.
    let workload = Workload::new().with(TaskSpec::ping_pong("pipe", 300 * US));
    let run = |task_wakeup_preempt_min_ns| {
        let cfg = SimConfig {
            task_wakeup_preempt_min_ns,
            idle_fast_path: false,
            ..config(1, S)
        };
        simulate(Fcfs::with_slice(20 * MS), cfg, &workload)
            .unwrap()
            .report
    };
    let preemptions =
        |r: &rustland_sim::SimReport| r.tasks.iter().map(|t| t.preemptions).sum::<u64>();
    let hogs_only = run(SimConfig::default().task_wakeup_preempt_min_ns);
    assert_eq!(preemptions(&hogs_only), 0, "{hogs_only:?}");
    // With the interrupt wakeups' threshold, every wakeup preempts its waker.
    let eager = run(100 * US);
    assert!(preemptions(&eager) > 100, "{eager:?}");
    // Fewer round trips: the pair gets through more work.
    let work = |r: &rustland_sim::SimReport| group(r, "pipe").cpu_share;
    assert!(
        work(&hogs_only) >= work(&eager),
        "{} < {}",
        work(&hogs_only),
        work(&eager)
    );
}
