//! The system calls the live connector makes on its hot path besides the rings: waiting for the queued-task ring,
//! yielding the CPU, reading the clock and the current CPU. Each is one libc call; none allocates.

use std::io;

use rustland_core::ConnectorError;

/// Longest sleep of an idle scheduler in [`rustland_core::Connector::yield_cpu`]; the BPF heartbeat (100 ms) would
/// bound it otherwise. Longer than the BPF side lets records wait without waking the scheduler (5 ms after the first
/// at most, `DEFER_WAKEUP_MAX_NS`), so that the timeout does not end those waits early, and short enough that a
/// wakeup the ring missed costs little (docs/benchmarks.md, "Batched wakeups").
pub(crate) const IDLE_WAIT_MS: i32 = 20;

/// Waits until the queued-task ring (its map fd, `ring_fd`) has a record, `IDLE_WAIT_MS` pass, or a signal arrives.
///
/// `poll(2)` on the map, not `epoll_wait(2)` on the ring's epoll set: epoll decides to sleep from its ready list,
/// which only a wakeup fills, and the BPF side wakes user space only when it submits a record at the consumer
/// position it reads (adaptive wakeup). A record submitted while user space stores its new consumer position and
/// reads the producer position for a last check (a store and a load on each of two CPUs, with no full barrier on
/// the consumer's side) can be seen by neither side: no wakeup, and epoll sleeps with a record in the ring until
/// the timeout. `poll` registers on the ring's wait queue (a locked operation, a full barrier) and then checks for
/// data itself, so one of the two sides always sees the other's store. The BPF side also wakes a sleeping
/// scheduler through the ring from its heartbeat (records waiting while it does not run) and from its `exit`
/// callback (so it sees the exit info at once).
pub(crate) fn wait_readable(ring_fd: i32) -> Result<(), ConnectorError> {
    let mut fds = [libc::pollfd {
        fd: ring_fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one pollfd; the fd is the ring's map fd, which lives as long as the skeleton.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), 1, IDLE_WAIT_MS) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(ConnectorError::Os {
                op: "waiting for the queued-task ring",
                source: err,
            });
        }
    }
    Ok(())
}

/// Gives up the CPU (`sched_yield(2)`): the BPF side parks the scheduler until there is work for it.
pub(crate) fn yield_now() {
    // SAFETY: sched_yield has no preconditions; it cannot fail on Linux.
    unsafe { libc::sched_yield() };
}

/// `CLOCK_MONOTONIC` in ns, the clock the BPF side reads (`bpf_ktime_get_ns`).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec; CLOCK_MONOTONIC always exists (served by the vDSO, no syscall).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The CPU the calling thread runs on (-1 if unknown).
pub(crate) fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions (served by rseq or the vDSO).
    unsafe { libc::sched_getcpu() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_and_the_cpu_is_known() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
        assert!(current_cpu() >= 0);
    }
}
