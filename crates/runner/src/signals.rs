//! [`Signals`]: SIGINT, SIGTERM and SIGHUP as the run loop's stop flag.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustland_core::ShutdownHandle;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The stop flag for the run loop, set by SIGINT, SIGTERM or SIGHUP, remembering which signal came.
///
/// Installed once per process and shared by every run after a hotplug restart, so signals keep working after a
/// restart. A second signal while the first is being handled ends the process at once (exit code 1); the kernel
/// detaches the scheduler when the process dies.
#[derive(Clone, Debug)]
pub struct Signals {
    handle: ShutdownHandle,
    last: Arc<AtomicUsize>,
}

impl Signals {
    /// Installs the handlers. Only binaries call this (a library must not own the process's signals).
    pub fn install() -> io::Result<Signals> {
        let signals = Signals {
            handle: ShutdownHandle::new(),
            last: Arc::new(AtomicUsize::new(0)),
        };
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // Order matters: the conditional shutdown must see the flag before this delivery sets it.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                1,
                Arc::clone(signals.handle.as_flag()),
            )?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signals.last), sig as usize)?;
            signal_hook::flag::register(sig, Arc::clone(signals.handle.as_flag()))?;
        }
        Ok(signals)
    }

    /// Signals that are never delivered (for tests): the handle can still be requested by hand.
    pub fn none() -> Signals {
        Signals {
            handle: ShutdownHandle::new(),
            last: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The shutdown handle the signals set.
    pub fn handle(&self) -> &ShutdownHandle {
        &self.handle
    }

    /// The name of the last signal received, if any.
    pub fn received(&self) -> Option<&'static str> {
        match self.last.load(Ordering::Relaxed) as i32 {
            0 => None,
            SIGINT => Some("SIGINT"),
            SIGTERM => Some("SIGTERM"),
            SIGHUP => Some("SIGHUP"),
            _ => Some("a signal"),
        }
    }
}
