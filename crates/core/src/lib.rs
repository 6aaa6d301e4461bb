//! The kernel-free heart of rustland: write a CPU scheduling policy in plain Rust.
//!
//! - [`Policy`]: what a policy implements (`on_enqueue`, `pick_next`, `on_exit`).
//! - [`Connector`]: what the kernel side offers (the live BPF dispatcher in `rustland-bpf`, or the simulator in
//!   `rustland-sim`).
//! - [`RunLoop`]: moves events from a connector through a policy and its dispatches back.
//!
//! This crate does no I/O and contains no `unsafe` code.

#![forbid(unsafe_code)]

mod connector;
mod error;
mod policy;
mod run_loop;
mod task;
pub mod testing;

pub use connector::{
    Connector, Counters, Delivery, ExitInfo, ExitKind, DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS,
};
pub use error::{ConfigError, ConnectorError, RunError};
pub use policy::{Context, Policy};
pub use run_loop::{LoopConfig, LoopStats, RunLoop, RunReport, ShutdownHandle, StopReason};
pub use task::{
    Comm, CpuTarget, Dispatch, DispatchFlags, EnqueueFlags, Event, Pid, QueuedTask, TaskRef,
    Weight, NICE0_WEIGHT,
};
