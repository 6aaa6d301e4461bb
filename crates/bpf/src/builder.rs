//! [`Builder`]: the named options of the BPF dispatcher and their checks. [`Builder::attach`], which uses them,
//! is in the `attach` module.

use rustland_core::{DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS};

use crate::BpfError;

/// Longest ops name the kernel accepts, terminating NUL excluded (`SCX_OPS_NAME_LEN - 1`).
pub(crate) const OPS_NAME_MAX: usize = 127;
/// Bounds of [`Builder::default_slice_ns`]: those of every dispatch.
const SLICE_MIN_NS: u64 = rustland_core::Dispatch::MIN_SLICE_NS;
const SLICE_MAX_NS: u64 = rustland_core::Dispatch::MAX_SLICE_NS;
/// Upper bound of [`Builder::exit_dump_len`].
const EXIT_DUMP_MAX: u32 = 16 << 20;

/// Opens, loads and attaches the BPF dispatcher, with named options.
///
/// ```no_run
/// let connector = rustland_bpf::Builder::new("scx_example")
///     .partial(false)
///     .default_slice_ns(5_000_000)
///     .attach()?;
/// # Ok::<(), rustland_bpf::BpfError>(())
/// ```
///
/// The thread that calls [`Builder::attach`] is registered as the user-space scheduler: it must be the thread that
/// drives the returned connector (the BPF side parks it when it has nothing to do and wakes it up when it has).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builder {
    pub(crate) name: String,
    pub(crate) partial: bool,
    pub(crate) verbose: bool,
    pub(crate) exit_dump_len: u32,
    pub(crate) default_slice_ns: u64,
    pub(crate) builtin_idle: bool,
    pub(crate) numa_local_idle: bool,
    pub(crate) direct_wakeup_max_burst_ns: u64,
}

impl Builder {
    /// A builder for a scheduler called `name`; the kernel shows it as `<name>_<version>` in
    /// `/sys/kernel/sched_ext/root/ops`.
    pub fn new(name: &str) -> Self {
        Builder {
            name: name.to_string(),
            partial: false,
            verbose: false,
            exit_dump_len: 0,
            default_slice_ns: 5_000_000,
            builtin_idle: true,
            numa_local_idle: false,
            direct_wakeup_max_burst_ns: 0,
        }
    }

    /// Schedule only tasks whose policy is `SCHED_EXT` (default: every task). The scheduler process's own threads
    /// are moved to `SCHED_EXT` when it attaches.
    pub fn partial(mut self, on: bool) -> Self {
        self.partial = on;
        self
    }

    /// Trace the BPF side with `bpf_printk` and log libbpf's debug output.
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// Size of the kernel's debug dump after an error exit, in bytes (0: the kernel's default).
    pub fn exit_dump_len(mut self, bytes: u32) -> Self {
        self.exit_dump_len = bytes;
        self
    }

    /// Slice of the tasks the BPF side dispatches by itself (fast paths and fallback), in ns.
    pub fn default_slice_ns(mut self, ns: u64) -> Self {
        self.default_slice_ns = ns;
        self
    }

    /// Let the BPF side put a waking task straight on an idle CPU without asking user space (default: on).
    pub fn builtin_idle(mut self, on: bool) -> Self {
        self.builtin_idle = on;
        self
    }

    /// Prefer idle CPUs in the task's NUMA node (needs per-node idle tracking, Linux 6.15+; ignored with a warning
    /// on older kernels).
    pub fn numa_local_idle(mut self, on: bool) -> Self {
        self.numa_local_idle = on;
        self
    }

    /// Direct wakeups (default: off, 0). A task woken by an interrupt of its own CPU (a timer, a device) whose last
    /// run between two sleeps lasted at most `ns`, and which slept at least four times as long, goes straight to
    /// that CPU without asking user space, preempting the task running there (if that one ran at least 100 µs),
    /// which resumes right after it with the rest of its slice. The woken task's slice is `ns`; direct wakeups use
    /// at most a quarter of each CPU's time. This bounds wakeup latency of timer-driven and I/O-driven tasks under
    /// load by one context switch instead of a round trip through user space, at the price of the policy not
    /// seeing those wakeups (see crates/bpf/README.md). Accepted: 0, or
    /// [`DIRECT_WAKEUP_MIN_NS`]..=[`DIRECT_WAKEUP_MAX_NS`].
    pub fn direct_wakeups(mut self, max_burst_ns: u64) -> Self {
        self.direct_wakeup_max_burst_ns = max_burst_ns;
        self
    }

    /// The ops name the kernel will show: `<name>_<version of this crate>`.
    pub fn ops_name(&self) -> String {
        format!("{}_{}", self.name, env!("CARGO_PKG_VERSION"))
    }

    /// Checks the options without touching the kernel.
    pub fn validate(&self) -> Result<(), BpfError> {
        let invalid = |option, reason: String| Err(BpfError::InvalidOption { option, reason });
        if self.name.is_empty() {
            return invalid("name", "must not be empty".into());
        }
        if let Some(c) = self
            .name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        {
            return invalid(
                "name",
                format!(
                    "{:?} contains {c:?}; use letters, digits, '_' and '.'",
                    self.name
                ),
            );
        }
        if self.ops_name().len() > OPS_NAME_MAX {
            return invalid(
                "name",
                format!(
                    "ops name {:?} is longer than {OPS_NAME_MAX} bytes",
                    self.ops_name()
                ),
            );
        }
        if !(SLICE_MIN_NS..=SLICE_MAX_NS).contains(&self.default_slice_ns) {
            return invalid(
                "default_slice_ns",
                format!(
                    "{} ns is outside {SLICE_MIN_NS}..={SLICE_MAX_NS} ns",
                    self.default_slice_ns
                ),
            );
        }
        let burst = self.direct_wakeup_max_burst_ns;
        if burst != 0 && !(DIRECT_WAKEUP_MIN_NS..=DIRECT_WAKEUP_MAX_NS).contains(&burst) {
            return invalid(
                "direct_wakeups",
                format!(
                    "a burst of {burst} ns is outside {DIRECT_WAKEUP_MIN_NS}..={DIRECT_WAKEUP_MAX_NS} ns (0 turns direct wakeups off)"
                ),
            );
        }
        if self.exit_dump_len > EXIT_DUMP_MAX {
            return invalid(
                "exit_dump_len",
                format!("{} bytes is more than {EXIT_DUMP_MAX}", self.exit_dump_len),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_name_carries_the_version() {
        let b = Builder::new("scx_rustland");
        assert!(b.validate().is_ok());
        assert_eq!(
            b.ops_name(),
            format!("scx_rustland_{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(b.ops_name().starts_with("scx_rustland_"));
    }

    #[test]
    fn bad_options_are_rejected_with_the_option_named() {
        let option_of = |b: Builder| match b.validate() {
            Err(BpfError::InvalidOption { option, .. }) => option,
            other => panic!("expected InvalidOption, got {other:?}"),
        };
        assert_eq!(option_of(Builder::new("")), "name");
        assert_eq!(option_of(Builder::new("has space")), "name");
        assert_eq!(option_of(Builder::new(&"x".repeat(200))), "name");
        assert_eq!(
            option_of(Builder::new("ok").default_slice_ns(0)),
            "default_slice_ns"
        );
        assert_eq!(
            option_of(Builder::new("ok").default_slice_ns(5_000_000_000)),
            "default_slice_ns"
        );
        assert_eq!(
            option_of(Builder::new("ok").exit_dump_len(u32::MAX)),
            "exit_dump_len"
        );
        for burst in [1, DIRECT_WAKEUP_MIN_NS - 1, DIRECT_WAKEUP_MAX_NS + 1] {
            assert_eq!(
                option_of(Builder::new("ok").direct_wakeups(burst)),
                "direct_wakeups"
            );
        }
        for burst in [0, DIRECT_WAKEUP_MIN_NS, 500_000, DIRECT_WAKEUP_MAX_NS] {
            assert!(Builder::new("ok").direct_wakeups(burst).validate().is_ok());
        }
    }

    #[test]
    fn options_are_kept() {
        let b = Builder::new("x")
            .partial(true)
            .verbose(true)
            .exit_dump_len(4096)
            .default_slice_ns(1_000_000)
            .builtin_idle(false)
            .numa_local_idle(true)
            .direct_wakeups(200_000);
        assert!(b.partial && b.verbose && !b.builtin_idle && b.numa_local_idle);
        assert_eq!(b.direct_wakeup_max_burst_ns, 200_000);
        assert_eq!((b.exit_dump_len, b.default_slice_ns), (4096, 1_000_000));
        assert!(b.validate().is_ok());
    }

    #[test]
    fn attach_checks_options_before_the_kernel() {
        // Works on any machine: validation fails before anything touches the kernel.
        assert!(matches!(
            Builder::new("").attach(),
            Err(BpfError::InvalidOption { .. })
        ));
    }
}
