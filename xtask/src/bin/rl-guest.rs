//! `rl-guest`: a tiny helper the VM tests run inside the guest, for what busybox cannot do.
//!
//! - `rl-guest ext CMD [ARGS...]`: switch this process to the `SCHED_EXT` policy (busybox has no `chrt` that knows
//!   it), then run CMD in its place (its children inherit the policy). Used by the `--partial` fault test: only
//!   such tasks may be scheduled by a scheduler started with `--partial`.
//! - `rl-guest fifo CMD [ARGS...]`: the same with `SCHED_FIFO` at priority 10, a real-time task that runs before
//!   every task of sched_ext (the `starve` scenario: it starves the user-space scheduler's CPU).
//! - `rl-guest sleepers N SECS`: N threads that sleep for SECS seconds, then exit (the `threads` scenario: the
//!   fallback's cost must not grow with the number of threads on the machine).
//! - `rl-guest burst N SPIN_MS FIFO PID`: N threads that each open the named pipe FIFO for reading, which blocks
//!   until a writer opens it, and then each run on the CPU for SPIN_MS. Two seconds after they started, the main
//!   thread (now `SCHED_FIFO`) stops process PID (SIGSTOP) and at once opens the pipe for writing, which wakes all N
//!   in that one system call; four seconds later it lets PID go on (SIGCONT). The `custody` scenario: hundreds of
//!   tasks become runnable at once and wait in the stopped scheduler's custody, with no other task scheduled in
//!   between.

// The one system call this helper exists for has no safe wrapper in a crate xtask builds with (nix and rustix
// know no SCHED_EXT); the tidy test allows `unsafe` here and in crates/bpf only.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The `SCHED_EXT` scheduling policy (include/uapi/linux/sched.h).
const SCHED_EXT: i32 = 7;
/// The `SCHED_FIFO` real-time policy.
const SCHED_FIFO: i32 = 1;

/// `struct sched_param` of the C library.
#[repr(C)]
struct SchedParam {
    sched_priority: i32,
}

extern "C" {
    fn sched_setscheduler(pid: i32, policy: i32, param: *const SchedParam) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

/// SIGSTOP and SIGCONT (x86-64 and arm64 share these numbers).
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// Sends `sig` to process `pid`.
fn signal(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall wrapper with two integers.
    if unsafe { kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: rl-guest ext|fifo CMD [ARGS...]\n       rl-guest sleepers N SECS\n       rl-guest burst N SPIN_MS FIFO PID"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers = |from: usize, count: usize| -> Option<Vec<u64>> {
        let nums: Vec<u64> = args
            .get(from..)?
            .iter()
            .map(|a| a.parse().ok())
            .collect::<Option<_>>()?;
        (nums.len() == count).then_some(nums)
    };
    match args.first().map(String::as_str) {
        Some("ext") if args.len() >= 2 => run_with_policy(SCHED_EXT, 0, &args[1], &args[2..]),
        Some("fifo") if args.len() >= 2 => run_with_policy(SCHED_FIFO, 10, &args[1], &args[2..]),
        Some("sleepers") => match numbers(1, 2) {
            Some(n) => sleepers(n[0], Duration::from_secs(n[1])),
            None => usage(),
        },
        Some("burst") if args.len() == 5 => {
            match (args[1].parse(), args[2].parse(), args[4].parse()) {
                (Ok(n), Ok(spin_ms), Ok(pid)) => burst(
                    n,
                    Duration::from_millis(spin_ms),
                    PathBuf::from(&args[3]),
                    pid,
                ),
                _ => usage(),
            }
        }
        _ => usage(),
    }
}

/// Switches this process to `policy` at `priority`, then runs `cmd` in its place.
fn run_with_policy(policy: i32, priority: i32, cmd: &str, args: &[String]) -> ExitCode {
    let param = SchedParam {
        sched_priority: priority,
    };
    // SAFETY: plain syscall wrapper; `param` is a valid, initialised struct that outlives the call; pid 0 is
    // this process.
    let rc = unsafe { sched_setscheduler(0, policy, &param) };
    if rc != 0 {
        eprintln!(
            "rl-guest: cannot switch to scheduling policy {policy}: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::FAILURE;
    }
    let err = Command::new(cmd).args(args).exec();
    eprintln!("rl-guest: cannot run {cmd}: {err}");
    ExitCode::FAILURE
}

/// Starts `n` threads with small stacks running `body`.
fn spawn_all(
    n: u64,
    body: impl Fn() + Send + Sync + 'static,
) -> Result<Vec<thread::JoinHandle<()>>, ExitCode> {
    let body = Arc::new(body);
    let mut threads = Vec::new();
    for i in 0..n {
        let body = Arc::clone(&body);
        match thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || body())
        {
            Ok(t) => threads.push(t),
            Err(e) => {
                eprintln!("rl-guest: thread {i} of {n}: {e}");
                return Err(ExitCode::FAILURE);
            }
        }
    }
    println!("rl-guest: {n} threads started");
    Ok(threads)
}

fn join_all(threads: Vec<thread::JoinHandle<()>>) -> ExitCode {
    for t in threads {
        let _ = t.join();
    }
    ExitCode::SUCCESS
}

fn sleepers(n: u64, secs: Duration) -> ExitCode {
    match spawn_all(n, move || thread::sleep(secs)) {
        Ok(threads) => join_all(threads),
        Err(code) => code,
    }
}

fn burst(n: u64, spin: Duration, fifo: PathBuf, pid: i32) -> ExitCode {
    let readers = fifo.clone();
    let threads = match spawn_all(n, move || {
        // Blocks until a writer opens the pipe; one open for writing wakes every thread waiting here.
        let _open = File::open(&readers);
        let start = Instant::now();
        while start.elapsed() < spin {
            std::hint::spin_loop();
        }
    }) {
        Ok(threads) => threads,
        Err(code) => return code,
    };
    // From here this thread is real-time, so it never waits in the custody of the scheduler it stops: preempted
    // between the stop and the open, it would wait out the fallback's limit, and the threads it then woke would go
    // to the fallback at once instead of into custody.
    let param = SchedParam { sched_priority: 10 };
    // SAFETY: `param` outlives the call; pid 0 is the calling thread.
    if unsafe { sched_setscheduler(0, SCHED_FIFO, &param) } != 0 {
        eprintln!(
            "rl-guest: cannot make the waking thread SCHED_FIFO: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::FAILURE;
    }
    thread::sleep(Duration::from_secs(2));
    if let Err(e) = signal(pid, SIGSTOP) {
        eprintln!("rl-guest: cannot stop {pid}: {e}");
        return ExitCode::FAILURE;
    }
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo);
    println!("rl-guest: {n} threads woken with {pid} stopped");
    thread::sleep(Duration::from_secs(4));
    drop(writer);
    if let Err(e) = signal(pid, SIGCONT) {
        eprintln!("rl-guest: cannot let {pid} go on: {e}");
        return ExitCode::FAILURE;
    }
    join_all(threads)
}
