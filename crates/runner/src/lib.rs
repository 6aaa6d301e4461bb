//! What the rustland scheduler binaries share, so each binary is only its policy's options and a `main`:
//!
//! - [`cli`]: the common command-line options ([`cli::CommonArgs`], flattened into each binary's parser),
//!   `--version` text with the framework version and git commit, parsing that turns bad input into exit code 2.
//! - [`stats`]: statistics served through the scx_stats crate (JSON over a UNIX socket), the `--stats` line
//!   printer, the `--monitor` client and `--help-stats`.
//! - [`lifecycle`]: the attach / run / detach loop ([`run`]) with transparent restarts after CPU hotplug and policy
//!   panics caught and reported.
//! - [`session`]: what the loop needs from an attached scheduler ([`Session`]) and [`AttachError`].
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP as the stop flag ([`Signals`]).
//! - [`outcome`]: how a run ended ([`Outcome`]), exit codes and the final report.
//! - [`error_chain`]: fatal errors printed with their whole source chain.
//! - [`logging`]: `tracing` to stderr.
//! - `scheduler` (feature `bpf`): the whole `main` of a binary over the live BPF connector.
//!
//! The library never installs a global allocator and never touches signals unless a binary calls
//! [`Signals::install`].

pub mod cli;
pub mod error_chain;
pub mod lifecycle;
pub mod logging;
pub mod outcome;
#[cfg(feature = "bpf")]
pub mod scheduler;
pub mod session;
pub mod signals;
pub mod stats;
pub mod test_faults;

pub use cli::CommonArgs;
pub use error_chain::ErrorChain;
pub use lifecycle::{run, RunConfig};
pub use outcome::{exit_code, Outcome};
pub use session::{AttachError, Session};
pub use signals::Signals;
pub use stats::{Metrics, Snapshot, StatsHub};
