//! The `main` of a scheduler binary over the live BPF connector (feature `bpf`).
//!
//! A binary parses its options (with [`CommonArgs`] flattened in), validates its policy's settings, declares
//! `rustland_bpf::memory::LockedArenaAllocator` as its `#[global_allocator]`, and hands over to [`main`].

use std::io::{self, Write};
use std::process::ExitCode;

use rustland_bpf::{memory, BpfConnector, BpfError, Builder};
use rustland_core::{ExitInfo, LoopConfig, Policy};

use crate::error_chain::ErrorChain;
use crate::lifecycle::{run, RunConfig};
use crate::outcome::exit_code;
use crate::session::{AttachError, Session};
use crate::signals::Signals;
use crate::stats::{self, StatsHub};
use crate::test_faults::TestFaults;
use crate::{logging, CommonArgs};

impl Session for BpfConnector {
    type Error = BpfError;

    fn exit_dump(&self) -> Option<String> {
        BpfConnector::exit_dump(self)
    }

    fn detach(self) -> Result<Option<ExitInfo>, BpfError> {
        BpfConnector::detach(self)
    }
}

/// Sorts BPF errors into "this machine cannot run a sched_ext scheduler" and other failures.
pub fn classify(err: BpfError) -> AttachError {
    match err {
        BpfError::NotRoot | BpfError::NoSchedExt { .. } | BpfError::AlreadyRunning { .. } => {
            AttachError::Unsupported(Box::new(err))
        }
        other => AttachError::Failed(Box::new(other)),
    }
}

/// What a binary tells [`main`] besides its policy.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerSpec<'a> {
    /// The binary's name (`scx_rlfifo`, ...): stats prefix and sched_ext ops name prefix.
    pub name: &'static str,
    /// The parsed common options.
    pub common: &'a CommonArgs,
    /// The slice the BPF side gives tasks it dispatches itself (ns).
    pub default_slice_ns: u64,
    /// The scheduler's direct-wakeup burst limit (ns; 0: off) unless `--direct-wakeup-us` overrides it: see
    /// [`Builder::direct_wakeups`].
    pub direct_wakeup_ns: u64,
}

fn policy_figure_names<P: Policy>(policy: &P) -> Vec<&'static str> {
    let mut names = Vec::new();
    policy.metrics(&mut |name, _| names.push(name));
    names
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(io::stderr(), "error: {message}");
    ExitCode::from(code)
}

/// [`fail`] with an error and its whole source chain.
fn fail_with(code: u8, err: &(dyn std::error::Error + 'static)) -> ExitCode {
    fail(code, ErrorChain(err))
}

/// Runs a scheduler binary to its end: `--help-stats`, `--monitor`, or the scheduler itself (environment check,
/// memory discipline, signals, statistics, attach/run/restart, final `EXIT:` report). Returns the process's exit
/// code (see [`exit_code`]).
pub fn main<P: Policy>(spec: SchedulerSpec<'_>, mut new_policy: impl FnMut() -> P) -> ExitCode {
    let common = spec.common;
    logging::init(common.verbose);

    if common.help_stats {
        let names = policy_figure_names(&new_policy());
        return match stats::write_help_stats(&mut io::stdout().lock(), spec.name, &names) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail_with(exit_code::FAILURE, &e),
        };
    }

    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            return fail(
                exit_code::FAILURE,
                format_args!("cannot install signal handlers: {}", ErrorChain(&e)),
            )
        }
    };

    if let Some(every) = common.monitor_interval() {
        return match stats::monitor(
            &common.stats_socket,
            every,
            signals.handle(),
            &mut io::stdout(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail_with(exit_code::FAILURE, &e),
        };
    }

    let builder = Builder::new(spec.name)
        .partial(common.partial)
        .verbose(common.verbose > 0)
        .exit_dump_len(common.exit_dump_len)
        .default_slice_ns(spec.default_slice_ns)
        .direct_wakeups(common.direct_wakeup_ns(spec.direct_wakeup_ns));
    // The binaries' own option ranges keep this from failing; if it does, it is still a usage error.
    if let Err(e) = builder.validate() {
        return fail_with(exit_code::USAGE, &e);
    }

    let faults = match TestFaults::from_env() {
        Ok(faults) => faults,
        Err(e) => return fail(exit_code::USAGE, e),
    };

    // One clear line when this machine cannot run a sched_ext scheduler, before touching anything.
    if let Err(e) = rustland_bpf::check_environment() {
        let outcome = crate::Outcome::AttachFailed(classify(e));
        let _ = outcome.report(&mut io::stdout(), &mut io::stderr());
        return ExitCode::from(outcome.exit_code());
    }

    memory::mark_scheduler_thread();
    let memory_lock = match memory::lock_memory() {
        Ok(lock) => lock,
        Err(e) => {
            return fail(
                exit_code::FAILURE,
                format_args!("memory discipline: {}", ErrorChain(&e)),
            )
        }
    };

    let hub = StatsHub::start(
        spec.name,
        &common.stats_socket,
        common.stats_interval(),
        signals.handle(),
    );
    let config = RunConfig {
        name: spec.name,
        signals: &signals,
        stats: &hub,
        loop_config: LoopConfig::default(),
    };
    let outcome = run(
        &config,
        || builder.attach().map_err(classify),
        || faults.wrap(new_policy()),
        || memory_lock.page_faults(),
    );
    let _ = outcome.report(&mut io::stdout().lock(), &mut io::stderr().lock());
    let _ = io::stdout().flush();
    // Restores compact_unevictable_allowed.
    drop(memory_lock);
    ExitCode::from(outcome.exit_code())
}
