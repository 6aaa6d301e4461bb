//! What the rustland scheduler binaries share, so each binary is only its policy's options and a `main`:
//!
//! - [`cli`]: the common command-line options ([`cli::CommonArgs`], flattened into each binary's parser),
//!   `--version` text with the framework version and git commit, parsing that turns bad input into exit code 2.
//! - [`stats`]: statistics served through the scx_stats crate (JSON over a UNIX socket), the `--stats` line
//!   printer, the `--monitor` client and `--help-stats`.
//! - [`lifecycle`]: signals ([`Signals`]), the attach / run / detach loop with transparent restarts after CPU
//!   hotplug, policy panics caught and reported, [`Outcome`]s and exit codes.
//! - [`logging`]: `tracing` to stderr.
//! - `scheduler` (feature `bpf`): the whole `main` of a binary over the live BPF connector.
//!
//! The library never installs a global allocator and never touches signals unless a binary calls
//! [`Signals::install`].

pub mod cli;
pub mod lifecycle;
pub mod logging;
#[cfg(feature = "bpf")]
pub mod scheduler;
pub mod stats;

pub use cli::CommonArgs;
pub use lifecycle::{exit_code, run, AttachError, Outcome, RunConfig, Session, Signals};
pub use stats::{Metrics, Snapshot, StatsHub};
