//! Errors of the live connector.

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
    #[error("opening the BPF program failed: {message}")]
    Open {
        /// The error chain.
        message: String,
    },
    /// The kernel rejected the BPF program.
    #[error("loading the BPF program failed: {message}\n--- libbpf / verifier log ---\n{log}")]
    Load {
        /// The error chain.
        message: String,
        /// What libbpf printed while loading, including the verifier's log.
        log: String,
    },
    /// The kernel refused to enable the scheduler.
    #[error("attaching the scheduler failed: {message}")]
    Attach {
        /// The error chain.
        message: String,
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
