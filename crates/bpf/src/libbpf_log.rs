//! Capture of libbpf's output during open, load and attach, so that a failure can carry the verifier's log.
//!
//! libbpf prints through one process-wide callback; [`LogCapture`] installs ours for the duration of an attach and
//! puts the previous one back when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use libbpf_rs::PrintLevel;

/// What libbpf printed during the current open/load/attach, for [`crate::BpfError::Load`] and `Attach`.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());
/// Whether libbpf's messages are also logged.
static LIBBPF_VERBOSE: AtomicBool = AtomicBool::new(false);
/// Keep at most this much of libbpf's output (the end of a verifier log matters most, so the start is dropped).
const LIBBPF_LOG_MAX: usize = 1 << 20;

fn capture_libbpf(level: PrintLevel, msg: String) {
    if LIBBPF_VERBOSE.load(Ordering::Relaxed) || matches!(level, PrintLevel::Warn) {
        tracing::debug!(target: "libbpf", "{}", msg.trim_end());
    }
    let mut log = LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner());
    log.push_str(&msg);
    if log.len() > LIBBPF_LOG_MAX {
        let mut cut = log.len() - LIBBPF_LOG_MAX;
        while !log.is_char_boundary(cut) {
            cut += 1;
        }
        log.drain(..cut);
    }
}

/// Routes libbpf's output into [`LIBBPF_LOG`] while alive, and restores the previous printer when dropped.
pub(crate) struct LogCapture {
    previous: Option<(PrintLevel, libbpf_rs::PrintCallback)>,
}

impl LogCapture {
    /// Captures libbpf's output from now on, also logging it (at debug level) if `verbose`.
    pub(crate) fn start(verbose: bool) -> Self {
        LIBBPF_VERBOSE.store(verbose, Ordering::Relaxed);
        LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let level = if verbose {
            PrintLevel::Debug
        } else {
            PrintLevel::Info
        };
        LogCapture {
            previous: libbpf_rs::set_print(Some((level, capture_libbpf))),
        }
    }

    /// What libbpf printed since the capture started (or since the last `take`).
    pub(crate) fn take(&self) -> String {
        std::mem::take(&mut *LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        libbpf_rs::set_print(self.previous.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_log_keeps_the_end() {
        LIBBPF_LOG.lock().unwrap().clear();
        capture_libbpf(PrintLevel::Info, "a".repeat(LIBBPF_LOG_MAX));
        capture_libbpf(PrintLevel::Info, "verifier says no".into());
        let log = std::mem::take(&mut *LIBBPF_LOG.lock().unwrap());
        assert!(log.len() <= LIBBPF_LOG_MAX);
        assert!(log.ends_with("verifier says no"));
    }
}
