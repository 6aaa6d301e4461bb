//! A tiny FIFO scheduler over the live connector, for trying the BPF side by hand or in a VM.
//!
//! ```text
//! fifo_smoke [--stats SECS] [--run SECS] [--partial] [--verbose] [--no-builtin-idle] [--numa]
//! ```
//!
//! Prints a `[fifo_smoke] user=.. kernel=.. ...` line every `--stats` seconds, restarts after a CPU hotplug
//! (printing a line with `restarting`), and stops after `--run` seconds or, without `--run`, when its standard input
//! reaches end of file (Ctrl-D on a terminal; with nothing feeding stdin, e.g. `< /dev/null`, give `--run`),
//! printing `EXIT: ...`. Exit status: 0 after a requested stop, 1 after a kernel-side error exit or a failure.
//!
//! It installs no signal handler: only the runner's binaries own the process's signals. Ctrl-C kills it, and the
//! kernel detaches the scheduler when the process dies (without an `EXIT:` line).

use std::collections::VecDeque;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustland_bpf::memory::{self, LockedArenaAllocator};
use rustland_bpf::{BpfConnector, Builder};
use rustland_core::{
    Connector, Context, CpuTarget, Dispatch, Pid, Policy, QueuedTask, RunLoop, ShutdownHandle,
    StopReason,
};

#[global_allocator]
static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

/// First come, first served; an idle CPU if there is one, else the shared queue in arrival order.
struct Fifo {
    queue: VecDeque<QueuedTask>,
    order: u64,
}

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "fifo-smoke"
    }

    fn on_enqueue(&mut self, task: QueuedTask, _ctx: &mut Context<'_>) {
        self.queue.push_back(task);
    }

    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let task = self.queue.pop_front()?;
        let target = ctx
            .pick_idle_cpu(&task)
            .map_or(CpuTarget::Any, CpuTarget::Cpu);
        self.order += 1;
        Some(task.dispatch(target, 5_000_000, self.order))
    }

    fn on_exit(&mut self, pid: Pid, _ctx: &mut Context<'_>) {
        self.queue.retain(|t| t.pid != pid);
    }

    fn nr_held(&self) -> usize {
        self.queue.len()
    }
}

struct Args {
    stats: Option<Duration>,
    run: Option<Duration>,
    partial: bool,
    verbose: bool,
    builtin_idle: bool,
    numa: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        stats: None,
        run: None,
        partial: false,
        verbose: false,
        builtin_idle: true,
        numa: false,
    };
    let mut it = std::env::args().skip(1);
    let secs = |v: Option<String>, flag: &str| -> Result<Duration, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        let s: f64 = v
            .parse()
            .map_err(|_| format!("{flag}: {v:?} is not a number"))?;
        if !(s > 0.0 && s < 1e6) {
            return Err(format!("{flag}: {v} is out of range"));
        }
        Ok(Duration::from_secs_f64(s))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--stats" => args.stats = Some(secs(it.next(), "--stats")?),
            "--run" => args.run = Some(secs(it.next(), "--run")?),
            "--partial" => args.partial = true,
            "--verbose" | "-v" => args.verbose = true,
            "--no-builtin-idle" => args.builtin_idle = false,
            "--numa" => args.numa = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn print_stats(lp: &RunLoop<Fifo, BpfConnector>, prev: &mut rustland_core::Counters, faults: u64) {
    let c = lp.connector().counters();
    println!(
        "[fifo_smoke] user={} kernel={} cancelled={} bounced={} congested={} fallback={} running={} queued={} \
         scheduled={} exits={} pgfaults={}",
        c.user_dispatches - prev.user_dispatches,
        c.kernel_dispatches - prev.kernel_dispatches,
        c.cancelled_dispatches - prev.cancelled_dispatches,
        c.bounced_dispatches - prev.bounced_dispatches,
        c.congested_dispatches - prev.congested_dispatches,
        c.fallback_dispatches - prev.fallback_dispatches,
        c.nr_running,
        c.nr_queued,
        c.nr_scheduled,
        lp.stats().exits,
        faults,
    );
    *prev = c;
}

/// Requests the stop once standard input reaches end of file (or fails), from a thread of its own.
fn stop_at_end_of_stdin(shutdown: ShutdownHandle) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdin-watcher".into())
        .spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            shutdown.request();
        })
        .map(drop)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fifo_smoke: {e}");
            return ExitCode::from(2);
        }
    };

    let shutdown = ShutdownHandle::new();
    // Started before the memory is locked, like every thread of a scheduler process (see `memory::lock_memory`).
    if args.run.is_none() {
        if let Err(e) = stop_at_end_of_stdin(shutdown.clone()) {
            eprintln!("fifo_smoke: cannot start the stdin watcher: {e}");
            return ExitCode::FAILURE;
        }
    }

    memory::mark_scheduler_thread();
    let lock = match memory::lock_memory() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fifo_smoke: {e}");
            return ExitCode::FAILURE;
        }
    };

    let builder = Builder::new("fifo_smoke")
        .partial(args.partial)
        .verbose(args.verbose)
        .builtin_idle(args.builtin_idle)
        .numa_local_idle(args.numa);
    let started = Instant::now();
    loop {
        let connector = match builder.attach() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fifo_smoke: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("fifo_smoke: attached as {}", connector.ops_name());
        let policy = Fifo {
            queue: VecDeque::with_capacity(8192),
            order: 0,
        };
        let mut lp = RunLoop::new(policy, connector).with_shutdown(shutdown.clone());
        let mut last = Instant::now();
        let mut prev = rustland_core::Counters::default();
        let stop = shutdown.clone();
        let result = lp.run_with(|lp| {
            if let Some(every) = args.stats {
                if last.elapsed() >= every {
                    last = Instant::now();
                    print_stats(lp, &mut prev, lock.page_faults());
                }
            }
            if args.run.is_some_and(|r| started.elapsed() >= r) {
                stop.request();
            }
        });
        let (_, connector) = lp.into_parts();
        let dump = connector.exit_dump();
        let exit = connector.detach();
        match (result, exit) {
            (Err(e), _) => {
                eprintln!("fifo_smoke: run loop failed: {e}");
                return ExitCode::FAILURE;
            }
            (Ok(_), Err(e)) => {
                eprintln!("fifo_smoke: detach failed: {e}");
                return ExitCode::FAILURE;
            }
            (Ok(report), Ok(info)) => match report.reason {
                StopReason::Shutdown => {
                    let why = info.map_or_else(|| "requested".to_string(), |i| i.to_string());
                    println!("EXIT: {why}");
                    return ExitCode::SUCCESS;
                }
                StopReason::KernelExit(info) if info.should_restart() => {
                    println!("fifo_smoke: {info}; restarting");
                }
                StopReason::KernelExit(info) => {
                    if let Some(dump) = dump.filter(|_| info.is_error()) {
                        eprintln!("{dump}");
                    }
                    println!("EXIT: {info}");
                    return if info.is_error() {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    };
                }
            },
        }
    }
}
