//! Running a scheduler from attach to exit: the attach / run / detach loop with transparent restarts after CPU
//! hotplug and policy panics caught and reported.

use std::panic::{self, AssertUnwindSafe};

use rustland_core::{Counters, LoopConfig, Policy, RunLoop, StopReason};

use crate::error_chain::ErrorChain;
use crate::outcome::Outcome;
use crate::session::{AttachError, Session};
use crate::signals::Signals;
use crate::stats::{add_counters, PolicyFigures, Snapshot, StatsHub};

/// What [`run`] needs besides the attach and policy factories.
pub struct RunConfig<'a> {
    /// The binary's name, e.g. `scx_rustland`.
    pub name: &'static str,
    /// The shutdown flag (see [`Signals`]).
    pub signals: &'a Signals,
    /// Where statistics requests come from.
    pub stats: &'a StatsHub,
    /// Batch bounds of the run loop.
    pub loop_config: LoopConfig,
}

/// Totals over hotplug restarts.
#[derive(Default)]
struct Totals {
    counters: Counters,
    exits: u64,
    restarts: u64,
    pgfaults: u64,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Runs a scheduler until a signal, an exit of the kernel side, or a policy panic.
///
/// Each pass: `attach()` a session, build a fresh policy with `new_policy()`, drive them with a [`RunLoop`] that
/// answers statistics requests between rounds, then detach. When the kernel side asks for a restart (CPU
/// hotplug), a line containing `restarting` is printed on stdout and the next pass begins with the same stop
/// flag. A panic in the policy is caught, the scheduler detached, and the panic reported.
///
/// `pgfaults` returns the process's page faults since memory discipline was set up; statistics report only those
/// taken while a session was attached and running (not while loading or re-loading the BPF program).
pub fn run<S, P>(
    config: &RunConfig<'_>,
    mut attach: impl FnMut() -> Result<S, AttachError>,
    mut new_policy: impl FnMut() -> P,
    pgfaults: impl Fn() -> u64,
) -> Outcome
where
    S: Session,
    P: Policy,
{
    let shutdown = config.signals.handle().clone();
    let mut totals = Totals::default();
    loop {
        if shutdown.is_requested() {
            return Outcome::Stopped {
                signal: config.signals.received(),
            };
        }
        let mut session = match attach() {
            Ok(session) => session,
            Err(e) => return Outcome::AttachFailed(e),
        };
        // Page faults count only while a session schedules the machine: faults while opening and loading the
        // BPF program (first start or hotplug restart) happen while no task depends on us.
        let session_base = pgfaults();
        let policy = new_policy();
        let policy_name = policy.name();
        tracing::info!(
            "{} attached (policy {policy_name}, {} CPUs)",
            config.name,
            session.nr_cpus()
        );

        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut rl = RunLoop::with_config(policy, &mut session, config.loop_config)
                .with_shutdown(shutdown.clone());
            let report = rl.run_with(|rl| {
                config.stats.serve(|| Snapshot {
                    counters: add_counters(&totals.counters, &rl.connector().counters()),
                    exits: totals.exits + rl.stats().exits,
                    pgfaults: totals.pgfaults + pgfaults().saturating_sub(session_base),
                    nr_cpus: rl.connector().nr_cpus(),
                    restarts: totals.restarts,
                    policy: PolicyFigures::from_policy(rl.policy()),
                })
            });
            (report, rl.stats())
        }));

        let session_faults = pgfaults().saturating_sub(session_base);
        let dump = match &result {
            Ok((Ok(report), _)) => match &report.reason {
                StopReason::KernelExit(info) if info.is_error() => session.exit_dump(),
                _ => None,
            },
            _ => None,
        };
        let detached = session.detach();
        if let Err(e) = &detached {
            tracing::warn!("detaching failed: {e}");
        }

        let (report, loop_stats) = match result {
            Err(payload) => {
                return Outcome::PolicyPanic {
                    policy: policy_name,
                    message: panic_message(payload.as_ref()),
                }
            }
            Ok((Err(e), _)) => return Outcome::Failed(ErrorChain(&e).to_string()),
            Ok((Ok(report), stats)) => (report, stats),
        };
        match report.reason {
            StopReason::Shutdown => {
                if let Ok(Some(info)) = &detached {
                    tracing::debug!("kernel side reported on detach: {info}");
                }
                if let Err(e) = detached {
                    return Outcome::Failed(format!("detaching failed: {}", ErrorChain(&e)));
                }
                return Outcome::Stopped {
                    signal: config.signals.received(),
                };
            }
            StopReason::KernelExit(info) if info.should_restart() => {
                totals.counters = add_counters(&totals.counters, &report.counters);
                totals.exits += loop_stats.exits;
                totals.restarts += 1;
                totals.pgfaults += session_faults;
                println!(
                    "{}: restarting after the kernel asked for it: {info}",
                    config.name
                );
                tracing::info!("restart #{}", totals.restarts);
            }
            StopReason::KernelExit(info) => return Outcome::KernelExit { info, dump },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::exit_code;
    use rustland_core::{
        Comm, Connector, ConnectorError, Context, CpuTarget, Delivery, Dispatch, EnqueueFlags,
        Event, ExitInfo, ExitKind, Pid, QueuedTask, Weight,
    };
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// What happened to the fake sessions, shared with the test.
    #[derive(Default)]
    struct Log {
        attached: u32,
        detached: u32,
        dispatched: u64,
    }

    /// A session that queues one task per round and ends with `exit` after `rounds` rounds.
    struct FakeSession {
        log: Rc<RefCell<Log>>,
        rounds_left: u32,
        exit: Option<ExitInfo>,
        ended: Option<ExitInfo>,
        next_pid: Pid,
        /// Bumped once per round, to play page faults taken while scheduling.
        faults: Option<Rc<std::cell::Cell<u64>>>,
    }

    impl Connector for FakeSession {
        fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
            if self.ended.is_some() {
                return Ok(None);
            }
            self.next_pid += 1;
            Ok(Some(Event::Queued(QueuedTask {
                pid: self.next_pid,
                prev_cpu: 0,
                nr_cpus_allowed: 2,
                flags: EnqueueFlags::WAKEUP,
                start_ns: 0,
                stop_ns: 0,
                exec_runtime_ns: 0,
                weight: Weight::NICE0,
                vtime: 0,
                enq_seq: 1,
                comm: Comm::new("t"),
            })))
        }
        fn try_dispatch(&mut self, _: &Dispatch) -> Result<Delivery, ConnectorError> {
            self.log.borrow_mut().dispatched += 1;
            Ok(Delivery::Sent)
        }
        fn set_held(&mut self, _: u64) {}
        fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
            if let Some(faults) = &self.faults {
                faults.set(faults.get() + 1);
            }
            if self.rounds_left == 0 {
                self.ended = self.exit.take();
            } else {
                self.rounds_left -= 1;
            }
            Ok(())
        }
        fn pick_idle_cpu(&mut self, _: Pid, _: u32) -> Option<u32> {
            None
        }
        fn now_ns(&self) -> u64 {
            0
        }
        fn nr_cpus(&self) -> u32 {
            2
        }
        fn exit_info(&self) -> Option<ExitInfo> {
            self.ended.clone()
        }
        fn counters(&self) -> Counters {
            Counters {
                user_dispatches: self.log.borrow().dispatched,
                ..Counters::default()
            }
        }
    }

    impl Session for FakeSession {
        type Error = std::io::Error;
        fn exit_dump(&self) -> Option<String> {
            Some("dump: task 42 stalled".into())
        }
        fn detach(self) -> Result<Option<ExitInfo>, Self::Error> {
            self.log.borrow_mut().detached += 1;
            Ok(self.ended)
        }
    }

    /// Dispatches everything it gets; panics on the `panic_at`-th dispatch if set.
    struct Fifo {
        queue: VecDeque<QueuedTask>,
        picked: u32,
        panic_at: Option<u32>,
    }

    impl Policy for Fifo {
        fn name(&self) -> &'static str {
            "fake-fifo"
        }
        fn on_enqueue(&mut self, task: QueuedTask, _: &mut Context<'_>) {
            self.queue.push_back(task);
        }
        fn pick_next(&mut self, _: &mut Context<'_>) -> Option<Dispatch> {
            let task = self.queue.pop_front()?;
            self.picked += 1;
            if Some(self.picked) == self.panic_at {
                panic!("bad policy");
            }
            Some(task.dispatch(CpuTarget::Any, 10_000, task.vtime))
        }
        fn on_exit(&mut self, _: Pid, _: &mut Context<'_>) {}
        fn nr_held(&self) -> usize {
            self.queue.len()
        }
    }

    fn exit(kind: ExitKind, reason: &str) -> ExitInfo {
        ExitInfo {
            kind,
            code: 0,
            reason: reason.into(),
            message: String::new(),
        }
    }

    /// Runs with sessions that end with `exits` in turn (None: never ends by itself, a shutdown is requested
    /// after its rounds).
    fn run_fake(
        exits: Vec<Option<ExitInfo>>,
        panic_at: Option<u32>,
    ) -> (Outcome, Rc<RefCell<Log>>) {
        let log = Rc::new(RefCell::new(Log::default()));
        let signals = Signals::none();
        let hub = StatsHub::disabled();
        let config = RunConfig {
            name: "scx_fake",
            signals: &signals,
            stats: &hub,
            loop_config: LoopConfig::default(),
        };
        let mut exits = VecDeque::from(exits);
        let handle = signals.handle().clone();
        let attach_log = Rc::clone(&log);
        let outcome = run(
            &config,
            || {
                attach_log.borrow_mut().attached += 1;
                let exit = exits
                    .pop_front()
                    .expect("attached more often than expected");
                if exit.is_none() {
                    // This session never ends on its own: stop it the way a signal would.
                    handle.request();
                }
                Ok(FakeSession {
                    log: Rc::clone(&attach_log),
                    rounds_left: 3,
                    exit,
                    ended: None,
                    next_pid: 0,
                    faults: None,
                })
            },
            || Fifo {
                queue: VecDeque::new(),
                picked: 0,
                panic_at,
            },
            || 0,
        );
        (outcome, log)
    }

    #[test]
    fn shutdown_stops_with_success() {
        let (outcome, log) = run_fake(vec![None], None);
        assert!(
            matches!(outcome, Outcome::Stopped { signal: None }),
            "{outcome:?}"
        );
        assert_eq!(outcome.exit_code(), exit_code::SUCCESS);
        assert_eq!((log.borrow().attached, log.borrow().detached), (1, 1));
    }

    #[test]
    fn hotplug_restarts_and_the_stop_flag_still_works_afterwards() {
        let restart = exit(ExitKind::Restart, "hotplug");
        let (outcome, log) = run_fake(vec![Some(restart.clone()), Some(restart), None], None);
        assert!(matches!(outcome, Outcome::Stopped { .. }), "{outcome:?}");
        assert_eq!((log.borrow().attached, log.borrow().detached), (3, 3));
    }

    #[test]
    fn kernel_error_exit_fails_with_the_dump() {
        let stall = ExitInfo {
            code: 1026,
            ..exit(ExitKind::Stall, "runnable task stall")
        };
        let (outcome, log) = run_fake(vec![Some(stall)], None);
        assert_eq!(outcome.exit_code(), exit_code::FAILURE);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        outcome.report(&mut out, &mut err).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("EXIT: error: runnable task stall"), "{out}");
        assert!(String::from_utf8(err).unwrap().contains("task 42 stalled"));
        assert_eq!(log.borrow().detached, 1);
    }

    #[test]
    fn clean_kernel_exit_is_success() {
        let (outcome, _) = run_fake(
            vec![Some(exit(ExitKind::Unregistered, "disabled by sysrq-S"))],
            None,
        );
        assert_eq!(outcome.exit_code(), exit_code::SUCCESS);
        let mut out = Vec::new();
        outcome.report(&mut out, &mut Vec::new()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "EXIT: disabled by sysrq-S\n"
        );
    }

    #[test]
    fn policy_panic_detaches_and_reports() {
        // Keep the test output quiet: the panic is expected.
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let (outcome, log) = run_fake(vec![Some(exit(ExitKind::Done, "never reached"))], Some(2));
        panic::set_hook(hook);
        match &outcome {
            Outcome::PolicyPanic { policy, message } => {
                assert_eq!((*policy, message.as_str()), ("fake-fifo", "bad policy"));
            }
            other => panic!("expected a policy panic, got {other:?}"),
        }
        assert_eq!(outcome.exit_code(), exit_code::FAILURE);
        assert_eq!(
            log.borrow().detached,
            1,
            "the scheduler must be detached after a panic"
        );
    }

    #[test]
    fn page_faults_count_only_while_attached_and_sum_over_restarts() {
        let (responder, mut requester) = crate::stats::stats_link();
        let hub = StatsHub::from_links(vec![responder]);
        let signals = Signals::none();
        let config = RunConfig {
            name: "scx_fake",
            signals: &signals,
            stats: &hub,
            loop_config: LoopConfig::default(),
        };
        let log = Rc::new(RefCell::new(Log::default()));
        let faults = Rc::new(std::cell::Cell::new(0u64));
        let request_id = std::cell::Cell::new(0u64);
        let mut attached = 0;
        let outcome = run(
            &config,
            || {
                attached += 1;
                // Loading the BPF program faults a lot; that must not count.
                faults.set(faults.get() + 500);
                let exit = if attached == 1 {
                    exit(ExitKind::Restart, "hotplug")
                } else {
                    // Ask for statistics during the second session.
                    request_id.set(requester.request());
                    exit(ExitKind::Done, "done")
                };
                Ok(FakeSession {
                    log: Rc::clone(&log),
                    rounds_left: 3,
                    exit: Some(exit),
                    ended: None,
                    next_pid: 0,
                    faults: Some(Rc::clone(&faults)),
                })
            },
            || Fifo {
                queue: VecDeque::new(),
                picked: 0,
                panic_at: None,
            },
            || faults.get(),
        );
        assert_eq!(outcome.exit_code(), exit_code::SUCCESS, "{outcome:?}");
        let snap = requester
            .answer(request_id.get())
            .expect("the request was answered between rounds");
        // The first session ran 4 rounds (one fault each); the second had run one round when it answered.
        assert_eq!(snap.pgfaults, 4 + 1);
        assert_eq!(snap.restarts, 1);
    }
}
