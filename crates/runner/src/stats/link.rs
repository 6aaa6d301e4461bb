//! The wait-free exchange between the scheduler thread and one thread that asks it for [`Snapshot`]s: a request
//! counter and a triple buffer of answers.
//!
//! Both ends are wait-free, so neither ever waits for the other to finish an operation. A lock-free channel does
//! not give that: its receiver spins until a sender that claimed a slot has written it, and the two sides may be
//! preempted at any point and need each other to run again. When that sender is the preempted scheduler thread,
//! the receiver can spin on its CPU for seconds (docs/reliability.md).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustland_core::ShutdownHandle;

use super::Snapshot;

/// How often a thread waiting for the scheduler thread's answer looks for it.
const POLL_EVERY: Duration = Duration::from_millis(2);

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

/// A link between the scheduler thread ([`StatsResponder`], held by a [`super::StatsHub`]) and a thread that asks
/// it for snapshots ([`StatsRequester`]).
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

impl StatsResponder {
    /// The number of the latest request, if it has not been answered yet. One atomic load.
    pub fn pending(&self) -> Option<u64> {
        let latest = self.requests.load(Ordering::Acquire);
        (latest != self.answered.get()).then_some(latest)
    }

    /// Answers every request up to number `request` (from [`StatsResponder::pending`]) with `snapshot`.
    /// Wait-free and allocation-free.
    pub fn answer(&self, request: u64, snapshot: Snapshot) {
        self.reply.borrow_mut().write((request, snapshot));
        self.answered.set(request);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_pending_until_answered() {
        let (responder, mut requester) = stats_link();
        assert_eq!(responder.pending(), None);
        let id = requester.request();
        assert_eq!(responder.pending(), Some(id));
        assert_eq!(requester.answer(id), None, "not answered yet");
        let snapshot = Snapshot {
            exits: 3,
            ..Snapshot::default()
        };
        responder.answer(id, snapshot);
        assert_eq!(responder.pending(), None);
        assert_eq!(requester.answer(id).map(|s| s.exits), Some(3));
    }

    #[test]
    fn a_requester_stops_waiting_when_the_scheduler_end_is_gone() {
        let (responder, mut requester) = stats_link();
        assert!(!requester.scheduler_gone());
        drop(responder);
        assert!(requester.scheduler_gone());
        assert_eq!(requester.ask(None), None);
    }
}
