//! How a run ended ([`Outcome`]), the process exit code for it ([`exit_code`]) and the final report the binary
//! prints.

use std::io::{self, Write};

use rustland_core::ExitInfo;

use crate::error_chain::ErrorChain;
use crate::session::AttachError;

/// Process exit codes of the scheduler binaries.
pub mod exit_code {
    /// Clean end: stopped by a signal, or the kernel side ended without an error.
    pub const SUCCESS: u8 = 0;
    /// The scheduler failed while running: an error exit from the kernel side (stall, BPF error), a policy panic,
    /// or a connector failure. `Restart=on-failure` applies.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's code).
    pub const USAGE: u8 = 2;
    /// This machine cannot run the scheduler: not root, no sched_ext in the kernel, or another sched_ext
    /// scheduler is already enabled. Restarting will not help.
    pub const UNSUPPORTED: u8 = 3;
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stopped on request (a signal, or the shutdown handle).
    Stopped {
        /// The signal that asked for it, if one did.
        signal: Option<&'static str>,
    },
    /// The kernel side ended the scheduler.
    KernelExit {
        /// What the kernel recorded.
        info: ExitInfo,
        /// The kernel's debug dump, for error exits.
        dump: Option<String>,
    },
    /// The policy panicked; the scheduler was detached.
    PolicyPanic {
        /// The policy's name.
        policy: &'static str,
        /// The panic message.
        message: String,
    },
    /// The scheduler could not be attached.
    AttachFailed(AttachError),
    /// The run loop or detaching failed.
    Failed(String),
}

impl Outcome {
    /// The process exit code for this outcome (see [`exit_code`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Stopped { .. } => exit_code::SUCCESS,
            Outcome::KernelExit { info, .. } if !info.is_error() => exit_code::SUCCESS,
            Outcome::AttachFailed(AttachError::Unsupported(_)) => exit_code::UNSUPPORTED,
            Outcome::KernelExit { .. }
            | Outcome::PolicyPanic { .. }
            | Outcome::AttachFailed(AttachError::Failed(_))
            | Outcome::Failed(_) => exit_code::FAILURE,
        }
    }

    /// Writes the final report: an `EXIT: <reason>` line on `out` (stdout) for a scheduler that ran, an
    /// `error: ...` line on `err` (stderr) otherwise; the kernel's debug dump goes to `err`.
    pub fn report(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        match self {
            Outcome::Stopped { signal: Some(sig) } => writeln!(out, "EXIT: received {sig}"),
            Outcome::Stopped { signal: None } => writeln!(out, "EXIT: shutdown requested"),
            Outcome::KernelExit { info, dump } => {
                if let Some(dump) = dump.as_deref().filter(|d| !d.trim().is_empty()) {
                    writeln!(err, "kernel debug dump:\n{}", dump.trim_end())?;
                }
                if info.is_error() {
                    writeln!(out, "EXIT: error: {info} (exit code {:#x})", info.code)
                } else {
                    writeln!(out, "EXIT: {info}")
                }
            }
            Outcome::PolicyPanic { policy, message } => {
                writeln!(
                    out,
                    "EXIT: policy '{policy}' panicked: {message}; scheduler detached"
                )
            }
            Outcome::AttachFailed(e) => writeln!(err, "error: {}", ErrorChain(e)),
            Outcome::Failed(e) => writeln!(out, "EXIT: error: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_errors_map_to_exit_codes() {
        let unsupported = Outcome::AttachFailed(AttachError::Unsupported("not root".into()));
        assert_eq!(unsupported.exit_code(), exit_code::UNSUPPORTED);
        let failed = Outcome::AttachFailed(AttachError::Failed("verifier said no".into()));
        assert_eq!(failed.exit_code(), exit_code::FAILURE);
        let mut err = Vec::new();
        unsupported.report(&mut Vec::new(), &mut err).unwrap();
        assert_eq!(String::from_utf8(err).unwrap(), "error: not root\n");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("loading failed")]
    struct Load(#[source] std::io::Error);

    #[test]
    fn an_attach_failure_reports_its_cause() {
        let cause = std::io::Error::other("libbpf: prog 'enqueue': -EACCES");
        let failed = Outcome::AttachFailed(AttachError::Failed(Box::new(Load(cause))));
        let mut err = Vec::new();
        failed.report(&mut Vec::new(), &mut err).unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: loading failed: libbpf: prog 'enqueue': -EACCES\n"
        );
    }
}
