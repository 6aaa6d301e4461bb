//! Opening, loading and attaching the BPF object: the options go into its read-only data and ops struct, the
//! kernel verifies and enables it, and the result becomes a [`BpfConnector`]: [`Builder::attach`].

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use libbpf_rs::{Link, OpenObject};
use scx_utils::{scx_ops_attach, scx_ops_load, scx_ops_open};

use crate::bpf_skel::{BpfSkel, BpfSkelBuilder};
use crate::builder::OPS_NAME_MAX;
use crate::error::{chain_text, Cause};
use crate::libbpf_log::LogCapture;
use crate::{env, BpfConnector, BpfError, Builder};

/// Heap storage of libbpf's `OpenObject`, which the skeleton borrows for its whole life. Freed by
/// [`BpfConnector`]'s `Drop` after the skeleton (or by [`ObjectStorage::free`] on a failed attach).
pub(crate) struct ObjectStorage(NonNull<MaybeUninit<OpenObject>>);

impl ObjectStorage {
    fn new() -> Self {
        ObjectStorage(NonNull::from(Box::leak(Box::new(MaybeUninit::uninit()))))
    }

    /// The storage as a `'static` borrow.
    ///
    /// # Safety
    /// Call once, and drop everything that borrows from the result before [`ObjectStorage::free`].
    unsafe fn borrow(&self) -> &'static mut MaybeUninit<OpenObject> {
        // SAFETY: the pointer comes from Box::leak and stays valid until `free`; the caller guarantees uniqueness.
        unsafe { &mut *self.0.as_ptr() }
    }

    /// Frees the storage.
    ///
    /// # Safety
    /// Nothing may borrow from the storage any more.
    pub(crate) unsafe fn free(self) {
        // SAFETY: the pointer comes from Box::leak and is freed once (self is consumed).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl Builder {
    /// Checks the options and the environment, then opens, loads and attaches the scheduler.
    pub fn attach(&self) -> Result<BpfConnector, BpfError> {
        self.validate()?;
        env::check_environment()?;
        open_load_attach(self)
    }
}

/// Opens, loads and attaches the scheduler described by `opts` (already validated), as the calling thread's.
fn open_load_attach(opts: &Builder) -> Result<BpfConnector, BpfError> {
    let object = ObjectStorage::new();
    match open_load_attach_in(opts, &object) {
        Ok((skel, link)) => BpfConnector::assemble(opts, skel, link, object),
        Err(e) => {
            // SAFETY: the skeleton (the only borrower) was dropped inside open_load_attach_in.
            unsafe { object.free() };
            Err(e)
        }
    }
}

/// The steps that may fail, with the skeleton borrowing `object`: on an error it is dropped here, before the caller
/// frees the storage.
fn open_load_attach_in(
    opts: &Builder,
    object: &ObjectStorage,
) -> Result<(BpfSkel<'static>, Link), BpfError> {
    let capture = LogCapture::start(opts.verbose);
    // Not `obj_builder.debug()`: it replaces libbpf's printer, and with it our log capture.
    let builder = BpfSkelBuilder::default();
    // SAFETY: borrowed once here; the skeleton that borrows it is either returned (and dropped before the
    // storage is freed, see Drop for BpfConnector) or dropped on the error paths below.
    let open_object = unsafe { object.borrow() };
    let mut skel = scx_ops_open!(
        builder,
        open_object,
        rustland,
        None::<libbpf_rs::libbpf_sys::bpf_object_open_opts>
    )
    .map_err(|e| BpfError::Open { source: e.into() })?;

    let rodata = skel
        .maps
        .rodata_data
        .as_mut()
        .ok_or_else(|| BpfError::Open {
            source: "the object has no .rodata map".into(),
        })?;
    // SAFETY: gettid has no preconditions.
    rodata.usersched_pid = unsafe { libc::gettid() };
    rodata.builtin_idle = opts.builtin_idle;
    rodata.debug = opts.verbose;
    rodata.partial_mode = opts.partial;
    rodata.slice_ns = opts.default_slice_ns;
    rodata.direct_wakeup_max_ns = opts.direct_wakeup_max_burst_ns;

    let mut flags = 0u64;
    if opts.partial {
        flags |= scx_utils::compat::read_enum("scx_ops_flags", "SCX_OPS_SWITCH_PARTIAL")
            .map_err(|e| BpfError::Open { source: e.into() })?;
    }
    if opts.numa_local_idle {
        match scx_utils::compat::read_enum("scx_ops_flags", "SCX_OPS_BUILTIN_IDLE_PER_NODE") {
            Ok(bit) => {
                flags |= bit;
                rodata.numa_local_idle = true;
            }
            Err(_) => {
                tracing::warn!("this kernel has no per-node idle tracking; numa_local_idle ignored")
            }
        }
    }

    let ops = skel.struct_ops.rustland_mut();
    ops.flags |= flags;
    ops.exit_dump_len = opts.exit_dump_len;
    let name = opts.ops_name();
    ops.name = [0; 128];
    for (dst, src) in ops.name.iter_mut().zip(name.bytes().take(OPS_NAME_MAX)) {
        *dst = src as i8;
    }

    let mut skel = scx_ops_load!(skel, rustland, uei).map_err(|e| BpfError::Load {
        log: capture.take(),
        source: e.into(),
    })?;

    if opts.partial {
        move_process_to_sched_ext();
    }

    let link = scx_ops_attach!(skel, rustland).map_err(|e| {
        let source: Cause = e.into();
        match env::running_scheduler() {
            Some(name) if chain_text(source.as_ref()).contains("already running") => {
                BpfError::AlreadyRunning { name }
            }
            _ => BpfError::Attach {
                log: capture.take(),
                source,
            },
        }
    })?;
    drop(capture);
    Ok((skel, link))
}

/// Partial mode: moves every thread of this process to `SCHED_EXT` (threads started later inherit it).
///
/// Only SCHED_EXT tasks are ours in partial mode. The scheduler thread must be one of them, or the BPF side never
/// runs it and the fallback dispatches everything. Its helper threads (statistics printer and server) must be too:
/// as normal tasks they run before any SCHED_EXT task, so one that waits for the scheduler thread without sleeping
/// starves it on that CPU until the watchdog ejects the scheduler (docs/reliability.md has the case).
fn move_process_to_sched_ext() {
    const SCHED_EXT: libc::c_int = 7;
    let tids: Vec<libc::pid_t> = match std::fs::read_dir("/proc/self/task") {
        Ok(dir) => dir
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list this process's threads: {e}; only the scheduler thread moves to SCHED_EXT");
            vec![0]
        }
    };
    let param = libc::sched_param { sched_priority: 0 };
    for tid in tids {
        // SAFETY: `tid` names a thread of this process (or 0, the calling thread); `param` is a valid sched_param.
        if unsafe { libc::sched_setscheduler(tid, SCHED_EXT, &param) } != 0 {
            tracing::warn!(
                "cannot move thread {tid} to SCHED_EXT: {}; partial mode may rely on the fallback",
                std::io::Error::last_os_error()
            );
        }
    }
}
