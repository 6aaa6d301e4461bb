//! Statistics: what the scheduler thread hands out ([`Snapshot`]), what clients see ([`Metrics`], served as JSON
//! through the scx_stats crate), the `--stats` line, the `--monitor` client and `--help-stats`.
//!
//! The scheduler thread never blocks for statistics: [`StatsHub::serve`] only answers requests that are already
//! waiting, with a [`Snapshot`] that is `Copy` and allocation-free. Everything else (JSON, deltas, printing) runs
//! on the server's and the printer's own threads.
//!
//! - [`snapshot`]: [`Snapshot`] and [`PolicyFigures`], taken on the scheduler thread.
//! - [`link`]: the wait-free request/answer exchange between the scheduler thread and one asking thread.
//! - [`metrics`]: [`Metrics`], the wire type clients receive, computed from two snapshots.
//! - [`mod@line`]: the `--stats` line and the thread that prints it.
//! - [`hub`]: [`StatsHub`], the scx_stats server on the UNIX socket, its relay thread and the printer.
//! - [`help`]: the `--help-stats` text.
//! - [`mod@monitor`]: the `--monitor` client.

use std::io;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use rustland_core::ShutdownHandle;

pub mod help;
pub mod hub;
pub mod line;
pub mod link;
pub mod metrics;
pub mod monitor;
pub mod snapshot;

pub use help::write_help_stats;
pub use hub::StatsHub;
pub use link::{stats_link, StatsRequester, StatsResponder};
pub use metrics::Metrics;
pub use monitor::monitor;
pub use snapshot::{add_counters, PolicyFigures, Snapshot, MAX_POLICY_FIGURES};

/// What can go wrong with statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The statistics socket could not be created.
    #[error("cannot serve statistics at {path}: {message}")]
    Serve {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing the statistics out failed.
    #[error("writing statistics failed")]
    Io(#[from] io::Error),
}

/// Sleeps up to `total`, in short steps, returning early (false) when `stop` is requested.
fn sleep_unless_stopped(total: Duration, stop: &ShutdownHandle) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if stop.is_requested() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}
