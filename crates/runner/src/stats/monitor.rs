//! The `--monitor` client: connects to a running scheduler's statistics socket and prints its [`Metrics`] line
//! every interval, reconnecting when the scheduler restarts.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rustland_core::ShutdownHandle;
use scx_stats::StatsClient;

use super::{sleep_unless_stopped, Metrics, StatsError};

/// The `--monitor` client: prints the running scheduler's statistics every `every` until `stop` is requested.
/// Waits (and says so once on stderr) while no scheduler serves statistics at `socket`, and reconnects when the
/// scheduler restarts.
pub fn monitor(
    socket: &Path,
    every: Duration,
    stop: &ShutdownHandle,
    out: &mut dyn Write,
) -> Result<(), StatsError> {
    // An idle scheduler may answer only once per heartbeat (1 s): leave it a few.
    let timeout_ms = Some(every.as_millis().clamp(3000, 10_000) as u64);
    let mut said_waiting = false;
    while !stop.is_requested() {
        let mut client = match StatsClient::new().set_path(socket).connect(timeout_ms) {
            Ok(client) => client,
            Err(e) => {
                if !said_waiting {
                    tracing::warn!(
                        "waiting for a scheduler serving statistics at {} ({e})",
                        socket.display()
                    );
                    said_waiting = true;
                }
                sleep_unless_stopped(Duration::from_millis(500).min(every), stop);
                continue;
            }
        };
        said_waiting = false;
        // The first answer covers the time since the scheduler started: use it as the baseline only.
        if let Err(e) = client.request::<Metrics>("stats", vec![]) {
            tracing::warn!("statistics request failed: {e:#}");
            continue;
        }
        while sleep_unless_stopped(every, stop) {
            match client.request::<Metrics>("stats", vec![]) {
                Ok(metrics) => {
                    writeln!(out, "{}", metrics.format_line())?;
                    out.flush()?;
                }
                Err(e) => {
                    tracing::warn!("lost the scheduler's statistics ({e:#}); reconnecting");
                    break;
                }
            }
        }
    }
    Ok(())
}
