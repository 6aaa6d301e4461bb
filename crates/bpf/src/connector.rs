//! The builder that loads our BPF dispatcher and the live connector over it.

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use libbpf_rs::{
    Link, OpenObject, PrintLevel, ProgramInput, RingBuffer, RingBufferBuilder, UserRingBuffer,
};
use rustland_core::{
    Connector, ConnectorError, Counters, Delivery, Dispatch, Event, ExitInfo, Pid,
};
use scx_utils::{scx_ops_attach, scx_ops_load, scx_ops_open};

use crate::bpf_skel::{BpfSkel, BpfSkelBuilder};
use crate::exit::{c_str, exit_info};
use crate::records::{RawDispatch, RawPickIdleArg, RawQueuedTask};
use crate::{env, BpfError};

/// Longest ops name the kernel accepts, terminating NUL excluded (`SCX_OPS_NAME_LEN - 1`).
const OPS_NAME_MAX: usize = 127;
/// Bounds of [`Builder::default_slice_ns`]: those of every dispatch.
const SLICE_MIN_NS: u64 = rustland_core::Dispatch::MIN_SLICE_NS;
const SLICE_MAX_NS: u64 = rustland_core::Dispatch::MAX_SLICE_NS;
/// Bounds of [`Builder::direct_wakeups`] (besides 0), shared with the simulator and the command line.
pub use rustland_core::{DIRECT_WAKEUP_MAX_NS, DIRECT_WAKEUP_MIN_NS};
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
    name: String,
    partial: bool,
    verbose: bool,
    exit_dump_len: u32,
    default_slice_ns: u64,
    builtin_idle: bool,
    numa_local_idle: bool,
    direct_wakeup_max_burst_ns: u64,
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

    /// Checks the options and the environment, then opens, loads and attaches the scheduler.
    pub fn attach(&self) -> Result<BpfConnector, BpfError> {
        self.validate()?;
        env::check_environment()?;
        BpfConnector::open_load_attach(self)
    }
}

/// What libbpf printed during the current open/load, for [`BpfError::Load`].
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
struct LogCapture {
    previous: Option<(PrintLevel, libbpf_rs::PrintCallback)>,
}

impl LogCapture {
    fn start(verbose: bool) -> Self {
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

    fn take(&self) -> String {
        std::mem::take(&mut *LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        libbpf_rs::set_print(self.previous.take());
    }
}

/// Heap storage of libbpf's `OpenObject`, which the skeleton borrows for its whole life. Freed by
/// [`BpfConnector`]'s `Drop` after the skeleton (or by [`ObjectStorage::free`] on a failed attach).
struct ObjectStorage(NonNull<MaybeUninit<OpenObject>>);

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
    unsafe fn free(self) {
        // SAFETY: the pointer comes from Box::leak and is freed once (self is consumed).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// The live connector: our BPF dispatcher attached as the machine's sched_ext scheduler.
///
/// Dropping it detaches the scheduler; [`BpfConnector::detach`] does the same and reports how it ended.
pub struct BpfConnector {
    // Field order is drop order for the Option fields taken in Drop; see `Drop for BpfConnector`.
    link: Option<Link>,
    queued: Option<RingBuffer<'static>>,
    /// The queued-task ring's map fd (owned by the skeleton), which `yield_cpu` polls.
    queued_fd: i32,
    dispatched: Option<UserRingBuffer>,
    skel: Option<BpfSkel<'static>>,
    object: Option<ObjectStorage>,
    /// The record the ring callback decoded last (the ring is consumed one record at a time).
    slot: Rc<Cell<Option<RawQueuedTask>>>,
    /// Queued-task records received so far (for the `nr_queued` gauge).
    received: u64,
    /// What user space last published with `set_held`.
    published: u64,
    /// Dispatch records submitted so far, published to the BPF side (which compares it with what it drained).
    sent: u64,
    /// Partial mode: the idle-CPU query is not used (see `pick_idle_cpu`).
    partial: bool,
    nr_cpus: u32,
    /// `SCX_ECODE_ACT_RESTART` of the running kernel.
    restart_bit: u64,
    ops_name: String,
}

impl BpfConnector {
    fn open_load_attach(opts: &Builder) -> Result<BpfConnector, BpfError> {
        let object = ObjectStorage::new();
        let result = Self::open_load_attach_in(opts, &object);
        match result {
            Ok((skel, link)) => Self::assemble(opts, skel, link, object),
            Err(e) => {
                // SAFETY: the skeleton (the only borrower) was dropped inside open_load_attach_in.
                unsafe { object.free() };
                Err(e)
            }
        }
    }

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
        .map_err(|e| BpfError::Open { message: chain(&e) })?;

        let rodata = skel
            .maps
            .rodata_data
            .as_mut()
            .ok_or_else(|| BpfError::Open {
                message: "no .rodata map".into(),
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
                .map_err(|e| BpfError::Open { message: chain(&e) })?;
        }
        if opts.numa_local_idle {
            match scx_utils::compat::read_enum("scx_ops_flags", "SCX_OPS_BUILTIN_IDLE_PER_NODE") {
                Ok(bit) => {
                    flags |= bit;
                    rodata.numa_local_idle = true;
                }
                Err(_) => tracing::warn!(
                    "this kernel has no per-node idle tracking; numa_local_idle ignored"
                ),
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
            message: chain(&e),
            log: capture.take(),
        })?;

        if opts.partial {
            move_process_to_sched_ext();
        }

        let link = scx_ops_attach!(skel, rustland).map_err(|e| {
            let message = chain(&e);
            match env::running_scheduler() {
                Some(name) if message.contains("already running") => {
                    BpfError::AlreadyRunning { name }
                }
                _ => BpfError::Attach {
                    message: format!("{message}\n{}", capture.take())
                        .trim_end()
                        .to_string(),
                },
            }
        })?;
        drop(capture);
        Ok((skel, link))
    }

    fn assemble(
        opts: &Builder,
        skel: BpfSkel<'static>,
        link: Link,
        object: ObjectStorage,
    ) -> Result<BpfConnector, BpfError> {
        let slot = Rc::new(Cell::new(None));
        let mut connector = BpfConnector {
            link: Some(link),
            queued: None,
            queued_fd: -1,
            dispatched: None,
            skel: Some(skel),
            object: Some(object),
            slot: Rc::clone(&slot),
            received: 0,
            published: 0,
            sent: 0,
            partial: opts.partial,
            nr_cpus: libbpf_rs::num_possible_cpus()
                .map(|n| n as u32)
                .unwrap_or(1),
            restart_bit: *scx_utils::SCX_ECODE_ACT_RESTART,
            ops_name: opts.ops_name(),
        };
        // From here on, dropping `connector` on an error path detaches cleanly.
        let skel = connector.skel.as_ref().expect("just set");
        connector.queued_fd = skel.maps.queued.as_fd().as_raw_fd();
        let mut rb = RingBufferBuilder::new();
        rb.add(&skel.maps.queued, move |data: &[u8]| {
            // A record too short to decode becomes kind 0, which try_recv reports as malformed.
            slot.set(Some(RawQueuedTask::decode(data).unwrap_or_default()));
            0
        })
        .map_err(|e| BpfError::Os {
            op: "adding the queued-task ring",
            source: io::Error::other(e),
        })?;
        connector.queued = Some(rb.build().map_err(|e| BpfError::Os {
            op: "mapping the queued-task ring",
            source: io::Error::other(e),
        })?);
        connector.dispatched =
            Some(
                UserRingBuffer::new(&skel.maps.dispatched).map_err(|e| BpfError::Os {
                    op: "mapping the dispatch ring",
                    source: io::Error::other(e),
                })?,
            );
        tracing::info!(
            "{} attached ({} CPUs)",
            connector.ops_name,
            connector.nr_cpus
        );
        Ok(connector)
    }

    /// Whether every CPU except the caller's runs a task of ours, from the BPF side's `cpu_started_ns` (mmapped,
    /// no system call). A CPU that is idle, offline or runs a task of another scheduling class reads as 0, so this
    /// errs towards "maybe idle".
    fn other_cpus_busy(&self) -> bool {
        let Some(bss) = self.skel().maps.bss_data.as_ref() else {
            return false;
        };
        // SAFETY: sched_getcpu has no preconditions (served by rseq or the vDSO).
        let me = unsafe { libc::sched_getcpu() };
        bss.cpu_started_ns
            .iter()
            .take(self.nr_cpus as usize)
            .enumerate()
            .all(|(cpu, started)| {
                // SAFETY: a plain read of mmapped BPF memory updated concurrently (hence volatile).
                cpu as i32 == me || unsafe { std::ptr::read_volatile(started) } != 0
            })
    }

    fn skel(&self) -> &BpfSkel<'static> {
        self.skel
            .as_ref()
            .expect("the skeleton lives as long as the connector")
    }

    /// The ops name the kernel shows for this scheduler.
    pub fn ops_name(&self) -> &str {
        &self.ops_name
    }

    /// Detaches the scheduler and reports how it ended (`None` if the kernel recorded no exit).
    pub fn detach(mut self) -> Result<Option<ExitInfo>, BpfError> {
        // Destroying the struct_ops link disables the scheduler synchronously; ops.exit() records why.
        self.link.take();
        Ok(self.exit_info())
    }

    /// The kernel's debug dump after an error exit, if it wrote one.
    pub fn exit_dump(&self) -> Option<String> {
        let skel = self.skel();
        let len = skel.maps.rodata_data.as_ref()?.uei_dump_len as usize;
        let dump = skel.maps.data_uei_dump_data.as_ref()?;
        if len == 0 {
            return None;
        }
        // SAFETY: the dump map's value was resized to `uei_dump_len` bytes before load (scx_ops_load!), and the
        // skeleton's pointer refers to its memory mapping, which lives as long as the skeleton.
        let bytes = unsafe { std::slice::from_raw_parts((*dump as *const _) as *const u8, len) };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(len);
        (end > 0).then(|| String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    fn read_exit_info(&self) -> Option<ExitInfo> {
        let data = self.skel().maps.data_data.as_ref()?;
        // SAFETY: a plain read of mmapped BPF memory that the kernel writes concurrently (hence volatile).
        let kind = unsafe { std::ptr::read_volatile(&data.uei.kind) };
        if kind == 0 {
            return None;
        }
        // The BPF side writes `kind` last (with a barrier), so the rest is complete once it is non-zero.
        exit_info(
            kind,
            data.uei.exit_code,
            &c_str(&data.uei.reason),
            &c_str(&data.uei.msg),
            self.restart_bit,
        )
    }
}

impl Drop for BpfConnector {
    fn drop(&mut self) {
        self.link.take();
        self.queued.take();
        self.dispatched.take();
        self.skel.take();
        if let Some(object) = self.object.take() {
            // SAFETY: the skeleton, the only borrower of the object storage, was dropped just above.
            unsafe { object.free() };
        }
    }
}

/// Longest sleep of an idle scheduler in [`Connector::yield_cpu`]. Without a timeout (the BPF heartbeat, 100 ms,
/// bounding the sleep instead) hackbench took 3.0-3.5 s against 2.0-2.5 s with it (6.18 under qemu TCG, same boots):
/// a run of the scheduler every few milliseconds helps in cases not yet understood, although waiting with `poll`
/// (below) no longer misses ring wakeups.
pub const IDLE_WAIT_MS: i32 = 5;

/// Waits until the queued-task ring (its map fd, `ring_fd`) has a record, `IDLE_WAIT_MS` pass, or a signal arrives.
///
/// `poll(2)` on the map, not `epoll_wait(2)` on the ring's epoll set: epoll decides to sleep from its ready list,
/// which only a wakeup fills, and the BPF side wakes user space only when it submits a record at the consumer
/// position it reads (adaptive wakeup). A record submitted while user space stores its new consumer position and
/// reads the producer position for a last check (a store and a load on each of two CPUs, with no full barrier on
/// the consumer's side) can be seen by neither side: no wakeup, and epoll sleeps with a record in the ring until
/// the timeout. `poll` registers on the ring's wait queue (a locked operation, a full barrier) and then checks for
/// data itself, so one of the two sides always sees the other's store. The BPF side also wakes a sleeping
/// scheduler through the ring from its heartbeat (records waiting while it does not run) and from its `exit`
/// callback (so it sees the exit info at once).
fn wait_readable(ring_fd: i32) -> Result<(), ConnectorError> {
    let mut fds = [libc::pollfd {
        fd: ring_fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one pollfd; the fd is the ring's map fd, which lives as long as the skeleton.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), 1, IDLE_WAIT_MS) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(ConnectorError::Os {
                op: "waiting for the queued-task ring",
                source: err,
            });
        }
    }
    Ok(())
}

/// Partial mode: moves every thread of this process to `SCHED_EXT` (threads started later inherit it).
///
/// Only SCHED_EXT tasks are ours in partial mode. The scheduler thread must be one of them, or the BPF side never
/// runs it and the fallback dispatches everything. Its helper threads (statistics printer and server) must be too:
/// as normal tasks they run before any SCHED_EXT task, so one that waits for the scheduler thread without sleeping
/// starves it on that CPU. Seen in the VM: the statistics printer spun for 12 s in a crossbeam channel's receive,
/// which waits for a sender that claimed a slot to finish writing it, while that sender, the scheduler thread,
/// waited behind the printer in the same CPU's local DSQ, until the watchdog ejected the scheduler.
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

fn ring_error(op: &'static str, ret: i32) -> ConnectorError {
    ConnectorError::Os {
        op,
        source: io::Error::from_raw_os_error(-ret),
    }
}

impl Connector for BpfConnector {
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        let Some(ring) = &self.queued else {
            return Ok(None);
        };
        let ret = ring.consume_raw_n(1);
        if ret < 0 {
            return Err(ring_error("reading the queued-task ring", ret));
        }
        let Some(raw) = self.slot.take() else {
            return Ok(None);
        };
        if raw.kind == crate::records::MSG_QUEUED {
            self.received += 1;
        }
        raw.into_event()
            .map(Some)
            .map_err(ConnectorError::Malformed)
    }

    fn try_dispatch(&mut self, dispatch: &Dispatch) -> Result<Delivery, ConnectorError> {
        let Some(ring) = &self.dispatched else {
            return Ok(Delivery::Full);
        };
        // Reserving fails only when the ring is full (the record size is fixed and small).
        let Ok(mut sample) = ring.reserve(RawDispatch::SIZE) else {
            return Ok(Delivery::Full);
        };
        RawDispatch::from_dispatch(dispatch).encode(&mut sample);
        ring.submit(sample).map_err(|e| ConnectorError::Os {
            op: "submitting a dispatch",
            source: io::Error::other(e),
        })?;
        self.sent += 1;
        let sent = self.sent;
        if let Some(bss) = self.skel.as_mut().and_then(|s| s.maps.bss_data.as_mut()) {
            // SAFETY: a plain write to mmapped BPF memory the BPF side reads concurrently (hence volatile).
            unsafe { std::ptr::write_volatile(&mut bss.dispatches_sent, sent) };
        }
        Ok(Delivery::Sent)
    }

    fn set_held(&mut self, nr_held: u64) {
        self.published = nr_held;
        if let Some(bss) = self.skel.as_mut().and_then(|s| s.maps.bss_data.as_mut()) {
            // SAFETY: a plain write to mmapped BPF memory the BPF side reads concurrently (hence volatile).
            unsafe { std::ptr::write_volatile(&mut bss.nr_scheduled, nr_held) };
        }
    }

    /// With no task held by the policy, sleeps until the queued-task ring has a record (the BPF side's adaptive
    /// ring wakeup; at once if one is there already; see `wait_readable` for what bounds the sleep). Going to
    /// sleep lets the CPU's `ops.dispatch()` run at once, which applies this round's dispatches and runs the
    /// first of them, and the next record wakes the scheduler on the CPU the BPF side picked for it. With tasks still held (the dispatch
    /// ring was full), yields instead: the BPF side keeps the scheduler runnable but parked, and puts it back on a
    /// CPU as soon as one drained the ring.
    ///
    /// It sleeps rather than yielding (parking) after every busy round: parking let user space fall silent past the
    /// fallback limit under hackbench, and made cyclictest under two hogs no better or worse (docs/benchmarks.md
    /// has the three tries and their figures).
    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        if self.published == 0 && self.queued.is_some() {
            return wait_readable(self.queued_fd);
        }
        // SAFETY: sched_yield has no preconditions; it cannot fail on Linux.
        unsafe { libc::sched_yield() };
        Ok(())
    }

    /// Asks the BPF side to claim an idle CPU (a system call), unless its per-CPU start times show that every
    /// other CPU runs one of our tasks: then none is idle and the answer is `None` without a system call.
    ///
    /// Always `None` in partial mode, where the dispatch goes to any CPU and the BPF side wakes an idle one. The
    /// system call runs the BPF program with migration disabled, and a normal task (which runs before ours in
    /// partial mode) that preempts the scheduler thread then leaves it stuck in its CPU's local DSQ, where neither
    /// the kernel nor the BPF side may move it: seen in the VM, the other CPU idled while the thread waited 250 ms
    /// behind a normal task and the fallback took over.
    fn pick_idle_cpu(&mut self, pid: Pid, prev_cpu: u32) -> Option<u32> {
        if self.partial || self.other_cpus_busy() {
            return None;
        }
        let arg = RawPickIdleArg {
            pid,
            prev_cpu: i32::try_from(prev_cpu).unwrap_or(-1),
        };
        let mut bytes = arg.to_bytes();
        let input = ProgramInput {
            context_in: Some(&mut bytes),
            ..Default::default()
        };
        let out = self.skel().progs.rl_pick_idle_cpu.test_run(input).ok()?;
        let cpu = out.return_value as i32;
        u32::try_from(cpu).ok()
    }

    fn now_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec; CLOCK_MONOTONIC always exists (served by the vDSO, no syscall).
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    fn exit_info(&self) -> Option<ExitInfo> {
        self.read_exit_info()
    }

    fn counters(&self) -> Counters {
        let Some(bss) = self.skel().maps.bss_data.as_ref() else {
            return Counters::default();
        };
        // SAFETY: plain reads of mmapped BPF memory updated concurrently (hence volatile).
        let (c, scheduled) = unsafe {
            (
                std::ptr::read_volatile(&bss.counters),
                std::ptr::read_volatile(&bss.nr_scheduled),
            )
        };
        // Gauges are adjusted from several CPUs and may be momentarily off by the tasks that were running when the
        // scheduler attached; never report a wrapped-around value.
        let gauge = |v: u64| if v > i64::MAX as u64 { 0 } else { v };
        Counters {
            user_dispatches: c.user_dispatches,
            kernel_dispatches: c.kernel_dispatches,
            cancelled_dispatches: c.cancelled_dispatches,
            bounced_dispatches: c.bounced_dispatches,
            congested_dispatches: c.congested_dispatches,
            fallback_dispatches: c.fallback_dispatches,
            direct_wakeups: c.direct_wakeups,
            nr_running: gauge(c.nr_running),
            nr_queued: c.queued_sent.saturating_sub(self.received),
            nr_scheduled: scheduled,
        }
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
