//! `rl-guest`: a tiny helper the VM tests run inside the guest (busybox has no `chrt` that knows SCHED_EXT).
//!
//! `rl-guest ext CMD [ARGS...]`: switch this process to the `SCHED_EXT` policy, then run CMD in its place (its
//! children inherit the policy). Used by the `--partial` fault test: only such tasks may be scheduled by a
//! scheduler started with `--partial`.

// The one system call this helper exists for has no safe wrapper in a crate xtask builds with (nix and rustix
// know no SCHED_EXT); the tidy test allows `unsafe` here and in crates/bpf only.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The `SCHED_EXT` scheduling policy (include/uapi/linux/sched.h).
const SCHED_EXT: i32 = 7;

/// `struct sched_param` of the C library.
#[repr(C)]
struct SchedParam {
    sched_priority: i32,
}

extern "C" {
    fn sched_setscheduler(pid: i32, policy: i32, param: *const SchedParam) -> i32;
}

fn usage() -> ExitCode {
    eprintln!("usage: rl-guest ext CMD [ARGS...]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("ext"), Some(cmd)) = (args.first().map(String::as_str), args.get(1)) else {
        return usage();
    };
    let param = SchedParam { sched_priority: 0 };
    // SAFETY: plain syscall wrapper; `param` is a valid, initialised struct that outlives the call; pid 0 is
    // this process.
    let rc = unsafe { sched_setscheduler(0, SCHED_EXT, &param) };
    if rc != 0 {
        eprintln!(
            "rl-guest: cannot switch to SCHED_EXT: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::FAILURE;
    }
    let err = Command::new(cmd).args(&args[2..]).exec();
    eprintln!("rl-guest: cannot run {cmd}: {err}");
    ExitCode::FAILURE
}
