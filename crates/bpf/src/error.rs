//! Errors of the live connector.
//!
//! Each variant's message says what failed; the cause (scx_utils', libbpf's or the kernel's error, errno included)
//! is its [`source`](std::error::Error::source), so a caller that prints the chain shows the whole story, and one
//! that matches on the variant can still tell "this machine cannot run a scheduler" from a failure.

use std::error::Error;
use std::fmt::Write as _;

/// The cause of a failed open, load or attach: the error scx_utils or libbpf returned, with its own chain.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Why the BPF scheduler could not be opened, loaded, attached or driven.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The process lacks the privileges to load a sched_ext scheduler.
    #[error("loading a sched_ext scheduler needs root (or CAP_SYS_ADMIN and CAP_BPF)")]
    NotRoot,
    /// The running kernel has no sched_ext (or no BTF).
    #[error("this kernel has no sched_ext support ({detail}); boot a kernel built with CONFIG_SCHED_CLASS_EXT=y")]
    NoSchedExt {
        /// What is missing, e.g. `/sys/kernel/sched_ext not found`.
        detail: String,
    },
    /// Another sched_ext scheduler is attached.
    #[error("another sched_ext scheduler is already running: {name} (stop it first)")]
    AlreadyRunning {
        /// Its ops name, as `/sys/kernel/sched_ext/root/ops` shows it.
        name: String,
    },
    /// A builder option is out of range.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The BPF object could not be opened or prepared.
    #[error("opening the BPF program failed")]
    Open {
        /// What scx_utils or libbpf reported.
        #[source]
        source: Cause,
    },
    /// The kernel rejected the BPF program.
    #[error(
        "loading the BPF program failed{}",
        with_log("libbpf / verifier log", log)
    )]
    Load {
        /// What libbpf printed while loading, including the verifier's log.
        log: String,
        /// What scx_utils or libbpf reported (the errno of the failed system call at the end of the chain).
        #[source]
        source: Cause,
    },
    /// The kernel refused to enable the scheduler.
    #[error("attaching the scheduler failed{}", with_log("libbpf log", log))]
    Attach {
        /// What libbpf printed while attaching (often empty).
        log: String,
        /// What scx_utils or libbpf reported.
        #[source]
        source: Cause,
    },
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// `log` framed for a message, so that the cause a chain printer appends after it starts on a line of its own;
/// nothing if `log` is empty.
fn with_log(title: &str, log: &str) -> String {
    let log = log.trim_end();
    if log.is_empty() {
        return String::new();
    }
    format!("\n--- {title} ---\n{log}\n--- end of {title} ---")
}

/// The messages of `err` and of every error in its source chain, joined by `": "`.
pub(crate) fn chain_text(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let _ = write!(text, ": {e}");
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("Failed to load BPF program")]
    struct Outer(#[source] std::io::Error);

    fn load_error(log: &str) -> BpfError {
        BpfError::Load {
            log: log.into(),
            source: Box::new(Outer(std::io::Error::from_raw_os_error(libc::EINVAL))),
        }
    }

    #[test]
    fn the_cause_is_reachable_through_source() {
        let err = load_error("");
        let cause = err.source().expect("Load has a source");
        assert_eq!(cause.to_string(), "Failed to load BPF program");
        let errno = cause.source().expect("the chain goes on");
        let io = errno
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn the_chain_reads_from_what_failed_to_the_errno() {
        let text = chain_text(&load_error(""));
        assert!(text.starts_with("loading the BPF program failed: Failed to load BPF program: "));
        assert!(text.ends_with("(os error 22)"), "{text}");
    }

    #[test]
    fn the_verifier_log_stays_in_the_message() {
        let msg = load_error("R1 invalid mem access 'scalar'\n").to_string();
        assert!(msg
            .contains("--- libbpf / verifier log ---\nR1 invalid mem access 'scalar'\n--- end of"));
        assert_eq!(
            load_error("  \n").to_string(),
            "loading the BPF program failed"
        );
    }

    #[test]
    fn an_anyhow_error_keeps_its_chain_as_a_cause() {
        // What scx_utils' macros return converts without naming anyhow in our code.
        let from_scx = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EBUSY))
            .context("Failed to attach struct_ops BPF programs");
        let err = BpfError::Attach {
            log: String::new(),
            source: from_scx.into(),
        };
        assert_eq!(
            chain_text(&err),
            format!(
                "attaching the scheduler failed: Failed to attach struct_ops BPF programs: {}",
                std::io::Error::from_raw_os_error(libc::EBUSY)
            )
        );
    }
}
