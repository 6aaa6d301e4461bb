//! The generic run loop that moves events from a [`Connector`] through a [`Policy`] and back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{Connector, Context, Counters, Delivery, Dispatch, Event, ExitInfo, Policy, RunError};

/// A cloneable, thread-safe "please stop" flag for a [`RunLoop`].
///
/// Setting it is async-signal-safe in spirit (one atomic store), so a signal-handling thread can call
/// [`ShutdownHandle::request`]. The loop notices it at the start of its next round.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle(Arc<AtomicBool>);

impl ShutdownHandle {
    /// A new handle, not requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The shared flag, e.g. for `signal_hook::flag::register`.
    pub fn as_flag(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

/// Batch bounds of the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopConfig {
    /// At most this many events are taken from the connector per round.
    pub max_events: usize,
    /// At most this many dispatches are sent per round.
    pub max_dispatches: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            max_events: 512,
            max_dispatches: 512,
        }
    }
}

/// Why the run loop stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Someone requested it through the [`ShutdownHandle`].
    Shutdown,
    /// The kernel side stopped (see [`ExitInfo::is_error`] and [`ExitInfo::should_restart`]).
    KernelExit(ExitInfo),
}

/// The run loop's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Rounds run.
    pub rounds: u64,
    /// Queued-task events handed to [`Policy::on_enqueue`].
    pub enqueued: u64,
    /// Exit events handed to [`Policy::on_exit`].
    pub exits: u64,
    /// Dispatches the connector accepted.
    pub dispatched: u64,
    /// Times the connector answered [`Delivery::Full`].
    pub full: u64,
    /// Held dispatches dropped because their task exited before they could be delivered.
    pub dropped_on_exit: u64,
}

/// What [`RunLoop::run`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Why the loop stopped.
    pub reason: StopReason,
    /// The loop's counters at the end.
    pub stats: LoopStats,
    /// The kernel side's counters at the end.
    pub counters: Counters,
}

/// Drives a [`Policy`] with events from a [`Connector`], one round at a time. See [`Policy`] for the call order.
///
/// The loop allocates nothing per task: events and dispatches are moved by value, and at most one undeliverable
/// dispatch is held (the loop stops asking the policy as soon as the connector is full).
pub struct RunLoop<P, C> {
    policy: P,
    connector: C,
    config: LoopConfig,
    shutdown: ShutdownHandle,
    held: Option<Dispatch>,
    stats: LoopStats,
}

impl<P: Policy, C: Connector> RunLoop<P, C> {
    /// A loop with the default [`LoopConfig`].
    pub fn new(policy: P, connector: C) -> Self {
        Self::with_config(policy, connector, LoopConfig::default())
    }

    /// A loop with explicit batch bounds. Bounds of 0 are raised to 1.
    pub fn with_config(policy: P, connector: C, config: LoopConfig) -> Self {
        let config = LoopConfig {
            max_events: config.max_events.max(1),
            max_dispatches: config.max_dispatches.max(1),
        };
        RunLoop {
            policy,
            connector,
            config,
            shutdown: ShutdownHandle::new(),
            held: None,
            stats: LoopStats::default(),
        }
    }

    /// Uses `handle` as this loop's stop flag (e.g. one already registered with a signal handler).
    pub fn with_shutdown(mut self, handle: ShutdownHandle) -> Self {
        self.shutdown = handle;
        self
    }

    /// A handle that stops this loop.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The connector, mutably (e.g. to read statistics that need `&mut`).
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// The loop's counters so far.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// How many tasks user space holds: the policy's queue plus a held dispatch.
    pub fn nr_held(&self) -> u64 {
        self.policy.nr_held() as u64 + u64::from(self.held.is_some())
    }

    /// Takes the loop apart, e.g. to read the simulator's report after a run.
    pub fn into_parts(self) -> (P, C) {
        (self.policy, self.connector)
    }

    /// Runs rounds until a shutdown is requested or the kernel side exits.
    pub fn run(&mut self) -> Result<RunReport, RunError> {
        self.run_with(|_| {})
    }

    /// Like [`RunLoop::run`], calling `after_round` after every round (for statistics requests and the like;
    /// it runs on the scheduler's hot path, so it must not block).
    pub fn run_with(&mut self, mut after_round: impl FnMut(&Self)) -> Result<RunReport, RunError> {
        loop {
            if let Some(reason) = self.step()? {
                return Ok(RunReport {
                    reason,
                    stats: self.stats,
                    counters: self.connector.counters(),
                });
            }
            after_round(self);
        }
    }

    /// Runs one round: check for a stop, take events, send dispatches, publish the queue length, yield.
    /// Returns `Some` when the loop must stop.
    pub fn step(&mut self) -> Result<Option<StopReason>, RunError> {
        if self.shutdown.is_requested() {
            return Ok(Some(StopReason::Shutdown));
        }
        if let Some(info) = self.connector.exit_info() {
            return Ok(Some(StopReason::KernelExit(info)));
        }
        self.stats.rounds += 1;
        self.drain_events()?;
        self.send_dispatches()?;
        let held = self.nr_held();
        self.connector.set_held(held);
        self.connector.yield_cpu()?;
        Ok(None)
    }

    fn drain_events(&mut self) -> Result<(), RunError> {
        for _ in 0..self.config.max_events {
            let Some(event) = self.connector.try_recv()? else {
                break;
            };
            let mut ctx = Context::new(&mut self.connector);
            match event {
                Event::Queued(task) => {
                    self.stats.enqueued += 1;
                    self.policy.on_enqueue(task, &mut ctx);
                }
                Event::Exited { pid } => {
                    self.stats.exits += 1;
                    if self.held.is_some_and(|d| d.pid() == pid) {
                        self.held = None;
                        self.stats.dropped_on_exit += 1;
                    }
                    self.policy.on_exit(pid, &mut ctx);
                }
            }
        }
        Ok(())
    }

    fn send_dispatches(&mut self) -> Result<(), RunError> {
        let mut sent = 0;
        while sent < self.config.max_dispatches {
            let dispatch = match self.held.take() {
                Some(d) => d,
                None => {
                    let mut ctx = Context::new(&mut self.connector);
                    match self.policy.pick_next(&mut ctx) {
                        Some(d) => d,
                        None => break,
                    }
                }
            };
            match self.connector.try_dispatch(&dispatch)? {
                Delivery::Sent => {
                    self.stats.dispatched += 1;
                    sent += 1;
                }
                Delivery::Full => {
                    self.stats.full += 1;
                    self.held = Some(dispatch);
                    break;
                }
            }
        }
        Ok(())
    }
}
