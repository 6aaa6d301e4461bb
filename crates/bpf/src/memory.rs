//! Memory discipline for a user-space scheduler process.
//!
//! The scheduler schedules every task of the machine, itself included. If it takes a page fault, the fault may
//! need a task (kswapd, a writeback thread) that only the scheduler can put on a CPU: the machine stalls. So the
//! process locks its memory before attaching, allocates from arenas that are faulted in up front, and reports its
//! page-fault count so a non-zero value is visible in the statistics.
//!
//! Two pieces, used together by a scheduler binary:
//!
//! - [`LockedArenaAllocator`]: a global allocator (declared by the *binary*, never by a library, so build scripts
//!   and tests keep the system allocator) that serves allocations from two static arenas through
//!   [talc](https://docs.rs/talc): one used only by the thread marked with [`mark_scheduler_thread`], one for every
//!   other thread. No thread ever takes the other side's arena lock: a block freed by a thread of the other side
//!   (a block crossed threads, or was allocated before the scheduler thread was marked) goes into a lock-free
//!   deferred-free set that the arena's own side empties at its next allocation or free. The scheduler thread
//!   therefore never waits for a lock held by a thread that it must schedule itself, and no other thread spins on
//!   a lock held by a preempted scheduler thread: either way the machine stalls until the watchdog ejects the
//!   scheduler (docs/reliability.md, "Watchdog ejections from a lock shared with the statistics threads").
//!   Alignment is honoured for any layout. When an arena is exhausted, allocations fall back to the system
//!   allocator and are counted ([`LockedArenaAllocator::fallback_allocations`]).
//! - [`lock_memory`]: raises `RLIMIT_MEMLOCK`, calls `mlockall(MCL_CURRENT | MCL_FUTURE)` (which faults the arenas
//!   in), sets `/proc/sys/vm/compact_unevictable_allowed` to 0 so compaction leaves locked pages alone, and
//!   returns a [`MemoryLock`] that restores the setting when dropped and counts page faults since the lock.
//!   Start the process's other threads (statistics server, signal handling) *before* locking: a thread started
//!   later has its stack faulted in by `MCL_FUTURE`, and those faults count.
//!
//! ```no_run
//! use rustland_bpf::memory::{self, LockedArenaAllocator};
//!
//! #[global_allocator]
//! static ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();
//!
//! fn main() -> Result<(), memory::MemoryError> {
//!     memory::mark_scheduler_thread();
//!     let lock = memory::lock_memory()?;
//!     // ... attach and run the scheduler; report lock.page_faults() in the statistics ...
//!     assert_eq!(lock.page_faults(), 0);
//!     Ok(())
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use spinning_top::RawSpinlock;
use talc::source::Claim;
use talc::TalcLock;

/// Size of the arena reserved for the scheduler thread.
pub const SCHEDULER_ARENA_BYTES: usize = 64 << 20;
/// Size of the arena shared by every other thread of the process.
pub const SHARED_ARENA_BYTES: usize = 16 << 20;

/// Backing memory of the arenas: page aligned, in `.bss`, so `mlockall` faults it in and locks it.
#[repr(C, align(4096))]
struct Arena<const N: usize>([u8; N]);

static mut SCHEDULER_ARENA: Arena<SCHEDULER_ARENA_BYTES> = Arena([0; SCHEDULER_ARENA_BYTES]);
static mut SHARED_ARENA: Arena<SHARED_ARENA_BYTES> = Arena([0; SHARED_ARENA_BYTES]);

thread_local! {
    /// Whether this thread is the scheduler thread (const-initialised, no destructor: safe inside an allocator).
    static IS_SCHEDULER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as the scheduler thread: its allocations come from the scheduler arena, which no
/// other thread locks. Call it once, on the thread that runs the [`RunLoop`](rustland_core::RunLoop).
pub fn mark_scheduler_thread() {
    IS_SCHEDULER_THREAD.with(|flag| flag.set(true));
}

fn on_scheduler_thread() -> bool {
    IS_SCHEDULER_THREAD.try_with(Cell::get).unwrap_or(false)
}

fn contains<const N: usize>(arena: *const Arena<N>, ptr: *mut u8) -> bool {
    let start = arena as usize;
    (start..start + N).contains(&(ptr as usize))
}

/// Capacity of each deferred-free set. A free that finds its set full is dropped (the block leaks) and counted.
pub const DEFERRED_FREE_SLOTS: usize = 1024;

const SLOT_EMPTY: u8 = 0;
const SLOT_WRITING: u8 = 1;
const SLOT_READY: u8 = 2;
const SLOT_TAKING: u8 = 3;

/// One deferred free: a block and its layout, published through `state`.
struct DeferredSlot {
    state: AtomicU8,
    ptr: AtomicUsize,
    size: AtomicUsize,
    align: AtomicUsize,
}

impl DeferredSlot {
    const fn new() -> Self {
        DeferredSlot {
            state: AtomicU8::new(SLOT_EMPTY),
            ptr: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            align: AtomicUsize::new(0),
        }
    }
}

/// A fixed-capacity, lock-free, allocation-free set of blocks whose free waits for a thread allowed to take their
/// arena's lock. Any number of threads may push and take concurrently: each slot goes empty -> writing -> ready ->
/// taking -> empty, every step claimed with a compare-and-swap.
struct DeferredFrees {
    slots: [DeferredSlot; DEFERRED_FREE_SLOTS],
    pending: AtomicUsize,
}

impl DeferredFrees {
    const fn new() -> Self {
        DeferredFrees {
            slots: [const { DeferredSlot::new() }; DEFERRED_FREE_SLOTS],
            pending: AtomicUsize::new(0),
        }
    }

    /// Records `ptr` for a later free. Returns false if every slot is in use.
    fn push(&self, ptr: *mut u8, layout: Layout) -> bool {
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(
                    SLOT_EMPTY,
                    SLOT_WRITING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                slot.ptr.store(ptr as usize, Ordering::Relaxed);
                slot.size.store(layout.size(), Ordering::Relaxed);
                slot.align.store(layout.align(), Ordering::Relaxed);
                slot.state.store(SLOT_READY, Ordering::Release);
                self.pending.fetch_add(1, Ordering::Release);
                return true;
            }
        }
        false
    }

    /// Hands every recorded block to `free` (one atomic load when there is none).
    fn take_all(&self, mut free: impl FnMut(*mut u8, Layout)) {
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(
                    SLOT_READY,
                    SLOT_TAKING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                let ptr = slot.ptr.load(Ordering::Relaxed) as *mut u8;
                let size = slot.size.load(Ordering::Relaxed);
                let align = slot.align.load(Ordering::Relaxed);
                slot.state.store(SLOT_EMPTY, Ordering::Release);
                self.pending.fetch_sub(1, Ordering::Release);
                // SAFETY: size and align came from a valid `Layout` in `push`.
                free(ptr, unsafe {
                    Layout::from_size_align_unchecked(size, align)
                });
            }
        }
    }
}

/// The global allocator of a scheduler binary. See the [module docs](self).
pub struct LockedArenaAllocator {
    scheduler: TalcLock<RawSpinlock, Claim>,
    shared: TalcLock<RawSpinlock, Claim>,
    /// Scheduler-arena blocks freed by other threads, freed by the scheduler thread later.
    scheduler_deferred: DeferredFrees,
    /// Shared-arena blocks freed by the scheduler thread, freed by another thread later.
    shared_deferred: DeferredFrees,
    fallbacks: AtomicU64,
    leaked: AtomicU64,
}

impl LockedArenaAllocator {
    /// The allocator over the two static arenas. Declare at most one per process, as its
    /// `#[global_allocator]`: both instances would share the same arenas.
    pub const fn new() -> Self {
        // SAFETY: the arenas are private statics used by nothing but this allocator; `Claim` hands each region
        // to its Talc exactly once, and the module docs require a single instance per process.
        unsafe {
            LockedArenaAllocator {
                scheduler: TalcLock::new(Claim::new(
                    (&raw mut SCHEDULER_ARENA).cast(),
                    SCHEDULER_ARENA_BYTES,
                )),
                shared: TalcLock::new(Claim::new(
                    (&raw mut SHARED_ARENA).cast(),
                    SHARED_ARENA_BYTES,
                )),
                scheduler_deferred: DeferredFrees::new(),
                shared_deferred: DeferredFrees::new(),
                fallbacks: AtomicU64::new(0),
                leaked: AtomicU64::new(0),
            }
        }
    }

    /// How many allocations did not fit in their arena and came from the system allocator instead. Memory from
    /// there is still locked (`MCL_FUTURE`), but growing it costs system calls; a non-zero value means the
    /// arenas are too small for the workload.
    pub fn fallback_allocations(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// How many frees of a block of the other side's arena found the deferred-free set full: those blocks
    /// leaked. Zero unless the other side allocates nothing for a long time while this side frees its blocks.
    pub fn leaked_frees(&self) -> u64 {
        self.leaked.load(Ordering::Relaxed)
    }

    /// This thread's arena, after freeing the blocks of it that the other side left for this side.
    fn arena_for_this_thread(&self) -> &TalcLock<RawSpinlock, Claim> {
        let (arena, deferred) = if on_scheduler_thread() {
            (&self.scheduler, &self.scheduler_deferred)
        } else {
            (&self.shared, &self.shared_deferred)
        };
        deferred.take_all(|ptr, layout| {
            // SAFETY: `ptr` was allocated by `arena` with `layout` and freed by its owner (see `dealloc`).
            unsafe { arena.dealloc(ptr, layout) }
        });
        arena
    }

    fn arena_owning(&self, ptr: *mut u8) -> Option<&TalcLock<RawSpinlock, Claim>> {
        if contains(&raw const SCHEDULER_ARENA, ptr) {
            Some(&self.scheduler)
        } else if contains(&raw const SHARED_ARENA, ptr) {
            Some(&self.shared)
        } else {
            None
        }
    }
}

impl Default for LockedArenaAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block is returned to the allocator that produced it: an arena's Talc for addresses inside that
// arena, the system allocator for everything else. Talc and System both honour `layout.align()`.
unsafe impl GlobalAlloc for LockedArenaAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        let ptr = unsafe { self.arena_for_this_thread().alloc(layout) };
        if !ptr.is_null() {
            return ptr;
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(owner) = self.arena_owning(ptr) else {
            // SAFETY: anything outside the arenas came from `System`.
            return unsafe { System.dealloc(ptr, layout) };
        };
        let mine = self.arena_for_this_thread();
        if std::ptr::eq(owner, mine) {
            // SAFETY: `ptr` was allocated by this arena with `layout` (it lies inside it).
            return unsafe { owner.dealloc(ptr, layout) };
        }
        // The other side's block: never take its lock, leave the free to that side.
        let deferred = if std::ptr::eq(owner, &self.scheduler) {
            &self.scheduler_deferred
        } else {
            &self.shared_deferred
        };
        if !deferred.push(ptr, layout) {
            self.leaked.fetch_add(1, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mine = self.arena_for_this_thread();
        if let Some(owner) = self.arena_owning(ptr) {
            if std::ptr::eq(owner, mine) {
                // SAFETY: `ptr` belongs to `owner` with `layout`; forwarded contract for `new_size`.
                let grown = unsafe { owner.realloc(ptr, layout, new_size) };
                if !grown.is_null() {
                    return grown;
                }
            }
        }
        // Move the block: allocate through `alloc` (arena or fallback), copy, free the old one.
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has non-zero size (the caller guarantees `new_size > 0`).
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

/// Why locking the process's memory failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A system call failed (typically `EPERM` without `CAP_IPC_LOCK`, i.e. not root).
    #[error("{op} failed: {source}")]
    Os {
        /// The call, e.g. "mlockall".
        op: &'static str,
        /// The error it returned.
        #[source]
        source: std::io::Error,
    },
}

const COMPACT_UNEVICTABLE: &str = "/proc/sys/vm/compact_unevictable_allowed";

/// The process's memory is locked; dropping this restores `compact_unevictable_allowed` (the memory stays
/// locked until the process exits).
#[derive(Debug)]
pub struct MemoryLock {
    faults_at_lock: u64,
    previous_compact_unevictable: Option<String>,
}

impl MemoryLock {
    /// Page faults (minor and major) the process took since its memory was locked. Must stay 0 while the
    /// scheduler runs.
    pub fn page_faults(&self) -> u64 {
        process_page_faults().saturating_sub(self.faults_at_lock)
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        if let Some(previous) = self.previous_compact_unevictable.take() {
            if let Err(err) = std::fs::write(COMPACT_UNEVICTABLE, previous.as_bytes()) {
                tracing::warn!("could not restore {COMPACT_UNEVICTABLE}: {err}");
            }
        }
    }
}

/// Locks all current and future memory of the process; see the [module docs](self). Needs `CAP_IPC_LOCK`
/// (root). Call it before attaching the scheduler, after the big allocations are made.
pub fn lock_memory() -> Result<MemoryLock, MemoryError> {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // Best effort: without CAP_SYS_RESOURCE the limit stays, and mlockall says whether it suffices.
    // SAFETY: plain system call with a valid argument.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        tracing::debug!(
            "setrlimit(RLIMIT_MEMLOCK): {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: plain system call.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(MemoryError::Os {
            op: "mlockall",
            source: std::io::Error::last_os_error(),
        });
    }
    // Best effort: the file is missing on kernels without CONFIG_COMPACTION.
    let previous_compact_unevictable = match std::fs::read_to_string(COMPACT_UNEVICTABLE) {
        Ok(previous) if std::fs::write(COMPACT_UNEVICTABLE, b"0").is_ok() => Some(previous),
        _ => None,
    };
    Ok(MemoryLock {
        faults_at_lock: process_page_faults(),
        previous_compact_unevictable,
    })
}

/// Minor plus major page faults of the whole process so far (`getrusage(RUSAGE_SELF)`).
pub fn process_page_faults() -> u64 {
    // SAFETY: `usage` is a valid, writable rusage; getrusage cannot fail with RUSAGE_SELF.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    (usage.ru_minflt + usage.ru_majflt) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private instance is fine in a test as long as no other allocator instance uses the arenas at the same
    /// time: only this test touches them.
    static TEST_ALLOCATOR: LockedArenaAllocator = LockedArenaAllocator::new();

    #[test]
    fn honours_alignment_and_routes_blocks_to_their_arena() {
        use std::sync::mpsc;
        use std::time::Duration;

        let (blocks_tx, blocks_rx) = mpsc::channel();
        let (freed_tx, freed_rx) = mpsc::channel::<()>();
        let scheduler = std::thread::spawn(move || {
            mark_scheduler_thread();
            let mut blocks = Vec::new();
            for align in [8usize, 64, 128, 4096, 1 << 16] {
                let layout = Layout::from_size_align(align * 3, align).unwrap();
                // SAFETY: non-zero size layout.
                let ptr = unsafe { TEST_ALLOCATOR.alloc(layout) };
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % align, 0, "alignment {align} honoured");
                assert!(contains(&raw const SCHEDULER_ARENA, ptr));
                blocks.push((ptr, layout));
            }
            // Grow one block well past its size: contents survive.
            let (ptr, layout) = blocks.pop().unwrap();
            // SAFETY: ptr is live with `layout`.
            unsafe { ptr.write_bytes(0xAB, layout.size()) };
            // SAFETY: ptr is live with `layout`; new size non-zero.
            let grown = unsafe { TEST_ALLOCATOR.realloc(ptr, layout, layout.size() * 4) };
            assert!(!grown.is_null());
            // SAFETY: the first layout.size() bytes were copied.
            assert!(unsafe { std::slice::from_raw_parts(grown, layout.size()) }
                .iter()
                .all(|&b| b == 0xAB));
            let grown_layout = Layout::from_size_align(layout.size() * 4, layout.align()).unwrap();
            blocks.push((grown, grown_layout));
            let count = blocks.len();
            blocks_tx
                .send(
                    blocks
                        .into_iter()
                        .map(|(p, l)| (p as usize, l))
                        .collect::<Vec<_>>(),
                )
                .unwrap();

            // Another thread freed them: they wait for this thread, whose next allocation frees them.
            freed_rx.recv().unwrap();
            assert_eq!(
                TEST_ALLOCATOR
                    .scheduler_deferred
                    .pending
                    .load(Ordering::Acquire),
                count
            );
            let layout = Layout::from_size_align(64, 8).unwrap();
            // SAFETY: non-zero size layout.
            let ptr = unsafe { TEST_ALLOCATOR.alloc(layout) };
            assert_eq!(
                TEST_ALLOCATOR
                    .scheduler_deferred
                    .pending
                    .load(Ordering::Acquire),
                0
            );
            // SAFETY: live block.
            unsafe { TEST_ALLOCATOR.dealloc(ptr, layout) };
        });
        let blocks = blocks_rx.recv().unwrap();

        // Another thread allocates from the shared arena, and frees the scheduler thread's blocks without taking
        // the scheduler arena's lock: held here all along, the frees must still finish.
        let held = TEST_ALLOCATOR.scheduler.lock();
        let (done_tx, done_rx) = mpsc::channel();
        let freer = std::thread::spawn(move || {
            let layout = Layout::from_size_align(256, 256).unwrap();
            // SAFETY: non-zero size layout.
            let shared = unsafe { TEST_ALLOCATOR.alloc(layout) };
            assert!(contains(&raw const SHARED_ARENA, shared));
            for (ptr, layout) in blocks {
                // SAFETY: each block is live with its layout.
                unsafe { TEST_ALLOCATOR.dealloc(ptr as *mut u8, layout) };
            }
            // SAFETY: live block.
            unsafe { TEST_ALLOCATOR.dealloc(shared, layout) };
            done_tx.send(()).unwrap();
        });
        let finished = done_rx.recv_timeout(Duration::from_secs(30));
        drop(held);
        assert!(
            finished.is_ok(),
            "a free by another thread waited for the scheduler arena's lock"
        );
        freer.join().unwrap();
        assert_eq!(TEST_ALLOCATOR.leaked_frees(), 0);
        freed_tx.send(()).unwrap();
        scheduler.join().unwrap();

        // Larger than the shared arena: served by the system allocator and counted.
        let huge = Layout::from_size_align(SHARED_ARENA_BYTES * 2, 8).unwrap();
        let before = TEST_ALLOCATOR.fallback_allocations();
        // SAFETY: non-zero size layout.
        let big = unsafe { TEST_ALLOCATOR.alloc(huge) };
        assert!(!big.is_null());
        assert!(!contains(&raw const SHARED_ARENA, big));
        assert_eq!(TEST_ALLOCATOR.fallback_allocations(), before + 1);
        // SAFETY: live block from System.
        unsafe { TEST_ALLOCATOR.dealloc(big, huge) };
    }

    #[test]
    fn deferred_frees_hand_back_every_block_once_and_refuse_when_full() {
        let set = DeferredFrees::new();
        let layout = |i: usize| Layout::from_size_align(8 * (i + 1), 8).unwrap();
        for i in 0..DEFERRED_FREE_SLOTS {
            assert!(set.push((0x1000 + i * 0x100) as *mut u8, layout(i)));
        }
        assert!(
            !set.push(0x9999_0000 as *mut u8, layout(0)),
            "a full set refuses"
        );
        let mut seen = Vec::new();
        set.take_all(|ptr, l| seen.push((ptr as usize, l)));
        assert_eq!(seen.len(), DEFERRED_FREE_SLOTS);
        for (i, (ptr, l)) in seen.iter().enumerate() {
            assert_eq!((*ptr, *l), (0x1000 + i * 0x100, layout(i)));
        }
        let mut again = 0;
        set.take_all(|_, _| again += 1);
        assert_eq!(again, 0, "each block is handed back once");
        assert!(set.push(0x2000 as *mut u8, layout(3)), "slots are reused");
    }

    #[test]
    fn page_fault_counter_moves_forward() {
        let before = process_page_faults();
        let mut touched = vec![0u8; 8 << 20];
        for page in touched.chunks_mut(4096) {
            page[0] = 1;
        }
        assert!(process_page_faults() > before);
        drop(touched);
    }
}
