//! Statistics: what the scheduler thread hands out ([`Snapshot`]), what clients see ([`Metrics`], served as JSON
//! through the scx_stats crate), the `--stats` line, the `--monitor` client and `--help-stats`.
//!
//! The scheduler thread never blocks for statistics: [`StatsHub::serve`] only answers requests that are already
//! waiting, with a [`Snapshot`] that is `Copy` and allocation-free. Everything else (JSON, deltas, printing) runs
//! on the server's and the printer's own threads.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rustland_core::{Counters, Policy, ShutdownHandle};
use scx_stats::{Meta, StatsClient, StatsOps, StatsServer, StatsServerData, ToJson};
use serde::{Deserialize, Serialize};

/// At most this many policy figures are carried per snapshot; further ones are ignored.
pub const MAX_POLICY_FIGURES: usize = 16;

/// The figures a policy reports through [`Policy::metrics`], held without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyFigures {
    len: usize,
    items: [(&'static str, u64); MAX_POLICY_FIGURES],
}

impl PolicyFigures {
    /// Collects `policy`'s figures (the first [`MAX_POLICY_FIGURES`]).
    pub fn from_policy<P: Policy + ?Sized>(policy: &P) -> Self {
        let mut figures = PolicyFigures::default();
        policy.metrics(&mut |name, value| figures.push(name, value));
        figures
    }

    /// Adds one figure; ignored when full.
    pub fn push(&mut self, name: &'static str, value: u64) {
        if self.len < MAX_POLICY_FIGURES {
            self.items[self.len] = (name, value);
            self.len += 1;
        }
    }

    /// The figures, in the order the policy reported them.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.items[..self.len].iter().copied()
    }
}

/// Everything statistics are computed from, read on the scheduler thread. Counters are totals since the binary
/// started (summed over hotplug restarts); gauges are current values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The kernel side's counters and gauges.
    pub counters: Counters,
    /// `Policy::on_exit` calls so far.
    pub exits: u64,
    /// Page faults of the scheduler process since it first attached.
    pub pgfaults: u64,
    /// Number of possible CPUs.
    pub nr_cpus: u32,
    /// Hotplug restarts so far.
    pub restarts: u64,
    /// The policy's own figures.
    pub policy: PolicyFigures,
}

/// Counters summed over hotplug restarts: the finished sessions' totals plus the current session's.
pub fn add_counters(base: &Counters, current: &Counters) -> Counters {
    Counters {
        user_dispatches: base.user_dispatches + current.user_dispatches,
        kernel_dispatches: base.kernel_dispatches + current.kernel_dispatches,
        cancelled_dispatches: base.cancelled_dispatches + current.cancelled_dispatches,
        bounced_dispatches: base.bounced_dispatches + current.bounced_dispatches,
        congested_dispatches: base.congested_dispatches + current.congested_dispatches,
        fallback_dispatches: base.fallback_dispatches + current.fallback_dispatches,
        direct_wakeups: base.direct_wakeups + current.direct_wakeups,
        // Gauges describe the present only.
        nr_running: current.nr_running,
        nr_queued: current.nr_queued,
        nr_scheduled: current.nr_scheduled,
    }
}

/// The statistics a client receives: dispatch counts as deltas since that client's previous request, gauges as
/// current values, page faults and exits as totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, scx_stats_derive::Stats)]
#[stat(top, desc = "rustland scheduler statistics")]
pub struct Metrics {
    /// Name of the scheduler binary.
    #[stat(desc = "Name of the scheduler binary")]
    pub scheduler: String,
    /// Tasks dispatched on the policy's decision (delta).
    #[stat(desc = "Tasks dispatched on the policy's decision (delta)")]
    pub user: u64,
    /// Tasks dispatched by the BPF side without user space (delta).
    #[stat(
        desc = "Tasks dispatched by the BPF side without user space: idle CPU, per-CPU kthreads (delta)"
    )]
    pub kernel: u64,
    /// Stale dispatches dropped (delta).
    #[stat(
        desc = "Stale dispatches dropped because the task was re-queued or exited meanwhile (delta)"
    )]
    pub cancelled: u64,
    /// Dispatches redirected because the CPU was not allowed (delta).
    #[stat(
        desc = "Dispatches redirected because the target CPU was not allowed for the task (delta)"
    )]
    pub bounced: u64,
    /// Tasks that could not reach user space because the ring was full (delta).
    #[stat(desc = "Tasks dispatched by BPF because the ring to user space was full (delta)")]
    pub congested: u64,
    /// Tasks dispatched by BPF while user space did not respond (delta).
    #[stat(
        desc = "Tasks dispatched by BPF while the user-space scheduler did not respond (delta)"
    )]
    pub fallback: u64,
    /// Interrupt wakeups put on their CPU by BPF without user space (delta).
    #[stat(
        desc = "Short-burst tasks woken by an interrupt (timer, device) that BPF put on their CPU without user space (delta)"
    )]
    pub direct: u64,
    /// Possible CPUs.
    #[stat(desc = "Number of possible CPUs")]
    pub cpus: u64,
    /// Tasks running now (gauge).
    #[stat(desc = "Tasks running now (gauge)")]
    pub running: u64,
    /// Tasks waiting in the ring to user space now (gauge).
    #[stat(desc = "Tasks waiting in the ring to user space now (gauge)")]
    pub queued: u64,
    /// Tasks held by the user-space policy now (gauge).
    #[stat(desc = "Tasks held by the user-space policy now (gauge)")]
    pub scheduled: u64,
    /// Exit notifications handled since start.
    #[stat(desc = "Task exit notifications handled by the policy since start (total)")]
    pub exits: u64,
    /// Page faults of the scheduler since it attached; anything but 0 is a problem.
    #[stat(desc = "Page faults of the scheduler process since it attached (total; must stay 0)")]
    pub pgfaults: u64,
    /// Hotplug restarts since start.
    #[stat(desc = "Restarts after CPU hotplug since start (total)")]
    pub restarts: u64,
    /// The policy's own figures, as it reports them.
    #[stat(desc = "The policy's own figures, as it reports them")]
    pub policy: BTreeMap<String, u64>,
}

impl Metrics {
    /// Metrics for the interval from `prev` (or the start, when `None`) to `cur`.
    pub fn between(scheduler: &str, prev: Option<&Snapshot>, cur: &Snapshot) -> Metrics {
        let zero = Snapshot::default();
        let p = &prev.unwrap_or(&zero).counters;
        let c = &cur.counters;
        // Counters never go backwards within one binary's life (restarts are summed), but stay safe anyway.
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        Metrics {
            scheduler: scheduler.to_string(),
            user: delta(c.user_dispatches, p.user_dispatches),
            kernel: delta(c.kernel_dispatches, p.kernel_dispatches),
            cancelled: delta(c.cancelled_dispatches, p.cancelled_dispatches),
            bounced: delta(c.bounced_dispatches, p.bounced_dispatches),
            congested: delta(c.congested_dispatches, p.congested_dispatches),
            fallback: delta(c.fallback_dispatches, p.fallback_dispatches),
            direct: delta(c.direct_wakeups, p.direct_wakeups),
            cpus: u64::from(cur.nr_cpus),
            running: c.nr_running,
            queued: c.nr_queued,
            scheduled: c.nr_scheduled,
            exits: cur.exits,
            pgfaults: cur.pgfaults,
            restarts: cur.restarts,
            policy: cur.policy.iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    /// The `--stats` line: `[<scheduler>] user=.. kernel=.. cancelled=.. bounced=.. congested=.. fallback=..
    /// direct=.. running=.. queued=.. scheduled=.. exits=.. pgfaults=..` followed by the policy's figures.
    pub fn format_line(&self) -> String {
        use std::fmt::Write as _;
        let mut line = format!(
            "[{}] user={} kernel={} cancelled={} bounced={} congested={} fallback={} direct={} running={} \
             queued={} scheduled={} exits={} pgfaults={}",
            self.scheduler,
            self.user,
            self.kernel,
            self.cancelled,
            self.bounced,
            self.congested,
            self.fallback,
            self.direct,
            self.running,
            self.queued,
            self.scheduled,
            self.exits,
            self.pgfaults,
        );
        for (key, value) in &self.policy {
            let _ = write!(line, " {key}={value}");
        }
        line
    }
}

/// What can go wrong with statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The statistics socket could not be created.
    #[error("cannot serve statistics at {path}: {message}")]
    Serve {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing the statistics out failed.
    #[error("writing statistics failed: {0}")]
    Io(#[from] io::Error),
}

type Request = ();
type Reply = Snapshot;

fn server_data(scheduler: &'static str) -> StatsServerData<Request, Reply> {
    let open = move |_: (&Sender<Request>, &Receiver<Reply>)| {
        // One reader per client connection: each client gets deltas since its own previous request.
        let mut prev: Option<Snapshot> = None;
        let read = move |_args: &BTreeMap<String, String>,
                         (req, res): (&Sender<Request>, &Receiver<Reply>)|
              -> anyhow::Result<serde_json::Value> {
            req.send(())?;
            let cur = res.recv()?;
            let metrics = Metrics::between(scheduler, prev.as_ref(), &cur);
            prev = Some(cur);
            metrics.to_json()
        };
        let read: Box<dyn scx_stats::StatsReader<Request, Reply>> = Box::new(read);
        Ok(read)
    };
    StatsServerData::new().add_meta(Metrics::meta()).add_ops(
        "top",
        StatsOps {
            open: Box::new(open),
            close: None,
        },
    )
}

/// Writes the `--help-stats` text: every statistic with its meaning, the `--stats` line format, and the names of
/// the policy's own figures.
pub fn write_help_stats(
    out: &mut dyn Write,
    scheduler: &str,
    policy_figures: &[&str],
) -> io::Result<()> {
    let mut text = Vec::new();
    server_data("help")
        .describe_meta(&mut text, None)
        .map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(&text)?;
    writeln!(out)?;
    writeln!(
        out,
        "--stats SECS prints one line per interval, for example:\n  [{scheduler}] user=... kernel=... cancelled=... \
         bounced=... congested=... fallback=... running=... queued=... scheduled=... exits=... pgfaults=... \
         <policy figures>"
    )?;
    if policy_figures.is_empty() {
        writeln!(out, "Policy figures: none")?;
    } else {
        writeln!(out, "Policy figures: {}", policy_figures.join(", "))?;
    }
    writeln!(
        out,
        "The same statistics are served as JSON through the scx_stats protocol; read them with --monitor SECS."
    )
}

/// The scheduler thread's end of a link with one thread that asks it for statistics (see [`stats_link`]).
pub struct StatsResponder {
    requests: Arc<AtomicU64>,
    answered: Cell<u64>,
    reply: RefCell<triple_buffer::Input<(u64, Snapshot)>>,
}

/// The asking thread's end of a link with the scheduler thread (see [`stats_link`]).
pub struct StatsRequester {
    requests: Arc<AtomicU64>,
    reply: triple_buffer::Output<(u64, Snapshot)>,
}

/// How often a thread waiting for the scheduler thread's answer looks for it.
const POLL_EVERY: Duration = Duration::from_millis(2);

/// A link between the scheduler thread ([`StatsResponder`], held by a [`StatsHub`]) and a thread that asks it for
/// snapshots ([`StatsRequester`]): a request counter and a triple buffer of answers. Both ends are wait-free, so
/// neither ever waits for the other to finish an operation: a lock-free channel does not give that (a receiver
/// spins until a sender that claimed a slot has written it), and the two sides may be preempted at any point and
/// need each other to run again (see [`StatsHub`]).
pub fn stats_link() -> (StatsResponder, StatsRequester) {
    let requests = Arc::new(AtomicU64::new(0));
    let (input, output) = triple_buffer::TripleBuffer::new(&(0, Snapshot::default())).split();
    (
        StatsResponder {
            requests: Arc::clone(&requests),
            answered: Cell::new(0),
            reply: RefCell::new(input),
        },
        StatsRequester {
            requests,
            reply: output,
        },
    )
}

impl StatsRequester {
    /// Asks the scheduler thread for a snapshot; returns the request's number, for [`StatsRequester::answer`].
    pub fn request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The answer to request `id` (or to a later one), if the scheduler thread has given it.
    pub fn answer(&mut self, id: u64) -> Option<Snapshot> {
        let (answered, snapshot) = *self.reply.read();
        (answered >= id).then_some(snapshot)
    }

    /// Whether the scheduler's end is gone.
    pub fn scheduler_gone(&self) -> bool {
        Arc::strong_count(&self.requests) == 1
    }

    /// Asks for a snapshot and waits for it, sleeping between looks. `None` if the scheduler's end goes away or
    /// `stop` is requested first.
    pub fn ask(&mut self, stop: Option<&ShutdownHandle>) -> Option<Snapshot> {
        let id = self.request();
        loop {
            if let Some(snapshot) = self.answer(id) {
                return Some(snapshot);
            }
            if self.scheduler_gone() || stop.is_some_and(ShutdownHandle::is_requested) {
                return None;
            }
            thread::sleep(POLL_EVERY);
        }
    }
}

/// The scheduler-side end of statistics: the scx_stats server on the UNIX socket and, with `--stats`, a printer
/// thread. Lives for the whole run, across hotplug restarts.
///
/// The scheduler thread shares no lock, and no structure in which it could wait for another thread, with the
/// threads that ask it for statistics ([`stats_link`]): it only loads a counter and publishes a snapshot in a
/// triple buffer. The scx_stats server's own channel is relayed by a small thread. Not a channel: a channel's
/// receive spins while a sender that claimed a slot has not written it, and when that sender is the preempted
/// scheduler thread the receiver can spin on its CPU for seconds (docs/reliability.md).
pub struct StatsHub {
    _server: Option<StatsServer<Request, Reply>>,
    links: Vec<StatsResponder>,
}

impl StatsHub {
    /// Starts serving statistics for `scheduler` at `socket` (a failure is logged and statistics are then only
    /// printed), and, when `print_every` is set, a thread printing a [`Metrics::format_line`] to stdout every
    /// interval until `stop` is requested.
    pub fn start(
        scheduler: &'static str,
        socket: &Path,
        print_every: Option<Duration>,
        stop: &ShutdownHandle,
    ) -> StatsHub {
        let mut links = Vec::with_capacity(2);
        let server = match StatsServer::new(server_data(scheduler))
            .set_path(socket)
            .launch()
        {
            Ok(server) => {
                let (responder, mut requester) = stats_link();
                let (server_reply, server_requests) = server.channels();
                let relay = thread::Builder::new()
                    .name("stats-relay".into())
                    .spawn(move || {
                        // Ends when the server goes away (its channel disconnects) or the scheduler side does.
                        while server_requests.recv().is_ok() {
                            let Some(snapshot) = requester.ask(None) else {
                                return;
                            };
                            if server_reply.send(snapshot).is_err() {
                                return;
                            }
                        }
                    });
                match relay {
                    Ok(_) => {
                        links.push(responder);
                        tracing::debug!("serving statistics at {}", socket.display());
                        Some(server)
                    }
                    Err(e) => {
                        tracing::warn!("cannot start the statistics relay: {e}");
                        None
                    }
                }
            }
            Err(e) => {
                let err = StatsError::Serve {
                    path: socket.to_path_buf(),
                    message: format!("{e:#}"),
                };
                tracing::warn!("{err}");
                None
            }
        };
        if let Some(every) = print_every {
            let (responder, requester) = stats_link();
            links.push(responder);
            let stop = stop.clone();
            let spawned = thread::Builder::new()
                .name("stats-printer".into())
                .spawn(move || print_loop(scheduler, every, &stop, requester));
            if let Err(e) = spawned {
                tracing::warn!("cannot start the statistics printer: {e}");
            }
        }
        StatsHub {
            _server: server,
            links,
        }
    }

    /// A hub that serves nothing (for tests and for runs without statistics).
    pub fn disabled() -> StatsHub {
        StatsHub {
            _server: None,
            links: Vec::new(),
        }
    }

    /// A hub answering the given links only (for tests of the scheduler side).
    pub fn from_links(links: Vec<StatsResponder>) -> StatsHub {
        StatsHub {
            _server: None,
            links,
        }
    }

    /// Answers every request already waiting, with one snapshot taken by `snapshot` (called only if a request is
    /// waiting). Never blocks, never waits for another thread and never allocates; call it from the scheduler
    /// thread between rounds.
    pub fn serve(&self, snapshot: impl FnOnce() -> Snapshot) {
        let mut snapshot = Some(snapshot);
        let mut taken: Option<Snapshot> = None;
        for link in &self.links {
            let pending = link.requests.load(Ordering::Acquire);
            if pending == link.answered.get() {
                continue;
            }
            let snap = match taken {
                Some(snap) => snap,
                None => {
                    let take = snapshot.take().expect("snapshot taken at most once");
                    *taken.insert(take())
                }
            };
            link.reply.borrow_mut().write((pending, snap));
            link.answered.set(pending);
        }
    }
}

/// Sleeps up to `total`, in short steps, returning early (false) when `stop` is requested.
fn sleep_unless_stopped(total: Duration, stop: &ShutdownHandle) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if stop.is_requested() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

fn print_loop(
    scheduler: &'static str,
    every: Duration,
    stop: &ShutdownHandle,
    mut requester: StatsRequester,
) {
    let mut prev: Option<Snapshot> = None;
    let stdout = io::stdout();
    while sleep_unless_stopped(every, stop) {
        // Wait for the scheduler thread to answer (it may be between runs, e.g. restarting), without outliving a
        // stop request.
        let Some(cur) = requester.ask(Some(stop)) else {
            return;
        };
        let line = Metrics::between(scheduler, prev.as_ref(), &cur).format_line();
        prev = Some(cur);
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return;
        }
    }
}

/// The `--monitor` client: prints the running scheduler's statistics every `every` until `stop` is requested.
/// Waits (and says so once on stderr) while no scheduler serves statistics at `socket`, and reconnects when the
/// scheduler restarts.
pub fn monitor(
    socket: &Path,
    every: Duration,
    stop: &ShutdownHandle,
    out: &mut dyn Write,
) -> Result<(), StatsError> {
    // An idle scheduler may answer only once per heartbeat (1 s): leave it a few.
    let timeout_ms = Some(every.as_millis().clamp(3000, 10_000) as u64);
    let mut said_waiting = false;
    while !stop.is_requested() {
        let mut client = match StatsClient::new().set_path(socket).connect(timeout_ms) {
            Ok(client) => client,
            Err(e) => {
                if !said_waiting {
                    tracing::warn!(
                        "waiting for a scheduler serving statistics at {} ({e})",
                        socket.display()
                    );
                    said_waiting = true;
                }
                sleep_unless_stopped(Duration::from_millis(500).min(every), stop);
                continue;
            }
        };
        said_waiting = false;
        // The first answer covers the time since the scheduler started: use it as the baseline only.
        if let Err(e) = client.request::<Metrics>("stats", vec![]) {
            tracing::warn!("statistics request failed: {e:#}");
            continue;
        }
        while sleep_unless_stopped(every, stop) {
            match client.request::<Metrics>("stats", vec![]) {
                Ok(metrics) => {
                    writeln!(out, "{}", metrics.format_line())?;
                    out.flush()?;
                }
                Err(e) => {
                    tracing::warn!("lost the scheduler's statistics ({e:#}); reconnecting");
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(user: u64, running: u64, exits: u64) -> Snapshot {
        Snapshot {
            counters: Counters {
                user_dispatches: user,
                nr_running: running,
                ..Counters::default()
            },
            exits,
            nr_cpus: 2,
            ..Snapshot::default()
        }
    }

    #[test]
    fn counters_become_deltas_and_gauges_stay() {
        let a = snapshot(100, 2, 5);
        let b = snapshot(130, 1, 9);
        let m = Metrics::between("scx_x", Some(&a), &b);
        assert_eq!((m.user, m.running, m.exits, m.cpus), (30, 1, 9, 2));
        let first = Metrics::between("scx_x", None, &a);
        assert_eq!(first.user, 100);
    }

    #[test]
    fn restarts_sum_counters_but_not_gauges() {
        let before = Counters {
            user_dispatches: 10,
            nr_queued: 7,
            ..Counters::default()
        };
        let after = Counters {
            user_dispatches: 3,
            nr_queued: 1,
            ..Counters::default()
        };
        let sum = add_counters(&before, &after);
        assert_eq!((sum.user_dispatches, sum.nr_queued), (13, 1));
    }

    #[test]
    fn line_has_the_contract_keys_in_order_then_policy_figures() {
        let mut s = snapshot(4, 1, 2);
        s.counters.kernel_dispatches = 8;
        s.policy.push("zeta", 3);
        s.policy.push("alpha", 1);
        let line = Metrics::between("scx_rlfifo", None, &s).format_line();
        let mut tokens = line.split(' ');
        assert_eq!(tokens.next(), Some("[scx_rlfifo]"));
        let keys: Vec<&str> = tokens
            .map(|t| t.split_once('=').expect("key=value").0)
            .collect();
        assert_eq!(
            keys,
            [
                "user",
                "kernel",
                "cancelled",
                "bounced",
                "congested",
                "fallback",
                "direct",
                "running",
                "queued",
                "scheduled",
                "exits",
                "pgfaults",
                "alpha",
                "zeta"
            ]
        );
        assert!(line.contains(" user=4 kernel=8 "), "{line}");
    }

    #[test]
    fn policy_figures_are_bounded() {
        let mut f = PolicyFigures::default();
        for _ in 0..MAX_POLICY_FIGURES + 5 {
            f.push("x", 1);
        }
        assert_eq!(f.iter().count(), MAX_POLICY_FIGURES);
    }

    #[test]
    fn help_stats_lists_every_field_and_policy_figures() {
        let mut out = Vec::new();
        write_help_stats(&mut out, "scx_x", &["vtime_now", "slice_ns"]).unwrap();
        let text = String::from_utf8(out).unwrap();
        for key in [
            "user",
            "kernel",
            "cancelled",
            "bounced",
            "congested",
            "fallback",
            "cpus",
            "running",
            "queued",
            "scheduled",
            "exits",
            "pgfaults",
            "restarts",
            "policy",
        ] {
            assert!(
                text.contains(&format!("  {key} ")),
                "{key} missing from:\n{text}"
            );
        }
        assert!(text.contains("must stay 0"));
        assert!(text.contains("Policy figures: vtime_now, slice_ns"));
    }

    #[test]
    fn hub_answers_only_pending_requests_and_snapshots_once() {
        let (first, mut first_asks) = stats_link();
        let (second, mut second_asks) = stats_link();
        let hub = StatsHub::from_links(vec![first, second]);
        hub.serve(|| panic!("no request is pending, no snapshot may be taken"));
        let id = first_asks.request();
        assert_eq!(first_asks.answer(id), None, "not answered before serve()");
        let mut calls = 0;
        hub.serve(|| {
            calls += 1;
            snapshot(1, 0, 0)
        });
        assert_eq!(calls, 1);
        assert_eq!(first_asks.answer(id).unwrap().counters.user_dispatches, 1);
        // Answered once: the next serve() takes no snapshot until someone asks again.
        hub.serve(|| panic!("the request was answered already"));
        // Two requesters at once share one snapshot.
        let (a, b) = (first_asks.request(), second_asks.request());
        hub.serve(|| {
            calls += 1;
            snapshot(7, 0, 0)
        });
        assert_eq!(calls, 2);
        assert_eq!(first_asks.answer(a).unwrap().counters.user_dispatches, 7);
        assert_eq!(second_asks.answer(b).unwrap().counters.user_dispatches, 7);
    }

    #[test]
    fn a_requester_stops_waiting_when_the_scheduler_end_is_gone() {
        let (responder, mut requester) = stats_link();
        assert!(!requester.scheduler_gone());
        drop(responder);
        assert!(requester.scheduler_gone());
        assert_eq!(requester.ask(None), None);
    }

    /// A full round trip through the scx_stats server and client on a socket in a temporary directory, the
    /// scheduler side answering from a thread like the run loop does.
    #[test]
    fn server_gives_each_client_its_own_deltas() {
        let dir = std::env::temp_dir().join(format!("rustland-stats-test-{}", std::process::id()));
        let socket = dir.join("stats");
        let stop = ShutdownHandle::new();
        let hub = StatsHub::start("scx_test", &socket, None, &stop);
        let answering = stop.clone();
        let scheduler = thread::spawn(move || {
            let mut user = 0;
            while !answering.is_requested() {
                hub.serve(|| {
                    user += 10;
                    snapshot(user, 1, 0)
                });
                thread::sleep(Duration::from_millis(1));
            }
        });
        let mut a = StatsClient::new()
            .set_path(&socket)
            .connect(Some(60_000))
            .unwrap();
        let mut b = StatsClient::new()
            .set_path(&socket)
            .connect(Some(60_000))
            .unwrap();
        let a1: Metrics = a.request("stats", vec![]).unwrap();
        let b1: Metrics = b.request("stats", vec![]).unwrap();
        let a2: Metrics = a.request("stats", vec![]).unwrap();
        stop.request();
        scheduler.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(a1.scheduler, "scx_test");
        assert_eq!(a1.user, 10, "first answer counts from the start");
        assert_eq!(b1.user, 20, "b's first answer counts from the start too");
        assert_eq!(
            a2.user, 20,
            "a's second answer is the delta since a's first (10 -> 30)"
        );
        assert_eq!(a2.running, 1);
    }
}
