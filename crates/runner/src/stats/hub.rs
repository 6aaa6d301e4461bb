//! [`StatsHub`], the scheduler-side end of statistics: the scx_stats server on the UNIX socket (with the relay
//! thread between its channel and the scheduler thread) and, with `--stats`, the printer thread.

use std::path::Path;
use std::thread;
use std::time::Duration;

use rustland_core::ShutdownHandle;
use scx_stats::{Meta, StatsOpener, StatsOps, StatsReader, StatsServer, StatsServerData, ToJson};

use super::line::print_loop;
use super::{stats_link, Metrics, Snapshot, StatsError, StatsResponder};

/// What the scx_stats server's reader threads send to the relay: "a snapshot, please".
type Request = ();
/// What the relay sends back.
type Reply = Snapshot;

/// The scx_stats server's description of our statistics: the [`Metrics`] metadata and the `top` reader.
pub(super) fn server_data(scheduler: &'static str) -> StatsServerData<Request, Reply> {
    // Called once per client connection: each client gets deltas since its own previous request.
    let open = boxed_opener(move |_channels| {
        let mut prev: Option<Snapshot> = None;
        let read = boxed_reader(move |_args, (req, res)| {
            req.send(())?;
            let cur = res.recv()?;
            let metrics = Metrics::between(scheduler, prev.as_ref(), &cur);
            prev = Some(cur);
            metrics.to_json()
        });
        Ok(read)
    });
    StatsServerData::new()
        .add_meta(Metrics::meta())
        .add_ops("top", StatsOps { open, close: None })
}

// The two helpers below give the closures their argument and result types through the trait bound (scx_stats'
// channel and `Result` types, which this crate never names).

/// Boxes the callback that opens a reader for a new client connection.
fn boxed_opener(
    open: impl StatsOpener<Request, Reply> + 'static,
) -> Box<dyn StatsOpener<Request, Reply>> {
    Box::new(open)
}

/// Boxes the callback that answers one client request.
fn boxed_reader(
    read: impl StatsReader<Request, Reply> + 'static,
) -> Box<dyn StatsReader<Request, Reply>> {
    Box::new(read)
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
            let Some(request) = link.pending() else {
                continue;
            };
            let snap = match taken {
                Some(snap) => snap,
                None => {
                    let take = snapshot.take().expect("snapshot taken at most once");
                    *taken.insert(take())
                }
            };
            link.answer(request, snap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::test_snapshot;
    use scx_stats::StatsClient;

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
            test_snapshot(1, 0, 0)
        });
        assert_eq!(calls, 1);
        assert_eq!(first_asks.answer(id).unwrap().counters.user_dispatches, 1);
        // Answered once: the next serve() takes no snapshot until someone asks again.
        hub.serve(|| panic!("the request was answered already"));
        // Two requesters at once share one snapshot.
        let (a, b) = (first_asks.request(), second_asks.request());
        hub.serve(|| {
            calls += 1;
            test_snapshot(7, 0, 0)
        });
        assert_eq!(calls, 2);
        assert_eq!(first_asks.answer(a).unwrap().counters.user_dispatches, 7);
        assert_eq!(second_asks.answer(b).unwrap().counters.user_dispatches, 7);
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
                    test_snapshot(user, 1, 0)
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
