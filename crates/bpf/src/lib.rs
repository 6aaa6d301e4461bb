//! The kernel-facing half of rustland: our own sched_ext BPF dispatcher (`src/bpf/main.bpf.c`) and
//! [`BpfConnector`], the live implementation of [`rustland_core::Connector`] over it, so that any
//! [`rustland_core::Policy`] runs as the real CPU scheduler of a Linux machine.
//!
//! ```no_run
//! use rustland_bpf::Builder;
//!
//! rustland_bpf::check_environment()?;
//! let connector = Builder::new("scx_example").attach()?;
//! // RunLoop::new(policy, connector).run() ... then:
//! if let Some(exit) = connector.detach()? {
//!     println!("EXIT: {exit}");
//! }
//! # Ok::<(), rustland_bpf::BpfError>(())
//! ```
//!
//! How the two halves talk: the BPF side hands runnable tasks to user space through a BPF ring buffer and takes
//! dispatch decisions back through a user ring buffer; neither direction makes a system call. Tasks that must not
//! wait for user space (a waking task with an idle CPU, per-CPU and memory-management kthreads) are dispatched by the
//! BPF side itself; if user space stops answering, the BPF side dispatches the tasks it holds until it answers
//! again. Every path is counted in [`rustland_core::Counters`].
//!
//! This is the only crate of the workspace with `unsafe` code and libbpf.

mod connector;
mod env;
mod error;
mod exit;
pub mod memory;
mod records;

#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    missing_docs
)]
#[allow(clippy::all)]
mod bpf_intf {
    include!(concat!(env!("OUT_DIR"), "/bpf_intf.rs"));
}

#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    missing_docs
)]
#[allow(clippy::all, unsafe_op_in_unsafe_fn)]
mod bpf_skel {
    include!(concat!(env!("OUT_DIR"), "/bpf_skel.rs"));
}

pub use connector::{BpfConnector, Builder, DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS};
pub use env::{check_environment, running_scheduler};
pub use error::BpfError;
