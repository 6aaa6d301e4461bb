//! Records exchanged with the kernel side: queued tasks going up, dispatch decisions going down.

use std::fmt;

/// A thread id as the kernel sees it (`task_struct::pid`, in the init pid namespace).
pub type Pid = i32;

/// Weight of a task at nice 0. Weights range from [`Weight::MIN`] to [`Weight::MAX`].
pub const NICE0_WEIGHT: u32 = 100;

/// A task's scheduling weight, as sched_ext reports it: 1..=10000, 100 at nice 0.
///
/// Higher weight means a larger share of the CPU. The constructor clamps into the valid range, so a
/// `Weight` is always usable as a divisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u32);

impl Weight {
    /// The smallest weight (nice 19 is 1 in sched_ext's scale).
    pub const MIN: u32 = 1;
    /// The largest weight (nice -20 is 10000 in sched_ext's scale).
    pub const MAX: u32 = 10_000;
    /// The weight of a nice-0 task.
    pub const NICE0: Weight = Weight(NICE0_WEIGHT);

    /// A weight, clamped into `MIN..=MAX`.
    pub const fn new(raw: u32) -> Self {
        if raw < Self::MIN {
            Weight(Self::MIN)
        } else if raw > Self::MAX {
            Weight(Self::MAX)
        } else {
            Weight(raw)
        }
    }

    /// The raw weight value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Scales `value` by `weight / 100` (a nice-0 task keeps `value`), saturating.
    pub fn scale(self, value: u64) -> u64 {
        (value as u128 * self.0 as u128 / NICE0_WEIGHT as u128).min(u64::MAX as u128) as u64
    }

    /// Scales `value` by `100 / weight` (the inverse of [`Weight::scale`]), as used for vruntime.
    pub fn inverse_scale(self, value: u64) -> u64 {
        (value as u128 * NICE0_WEIGHT as u128 / self.0 as u128).min(u64::MAX as u128) as u64
    }
}

impl Default for Weight {
    fn default() -> Self {
        Weight::NICE0
    }
}

/// Where a dispatched task should run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuTarget {
    /// The first CPU that becomes available (a shared queue on the kernel side).
    Any,
    /// This CPU's local queue. If the task may not run there any more, the kernel side redirects it and counts a
    /// "bounced" dispatch.
    ///
    /// A CPU runs everything in its local queue before it looks at the shared queue, so target CPUs you found idle
    /// (see [`Context::pick_idle_cpu`](crate::Context::pick_idle_cpu)): tasks sent one after another to a busy CPU
    /// run there ahead of every [`CpuTarget::Any`] task, however small their vtime. A task pinned to one CPU is
    /// put in the shared queue in either case (its CPU takes it in vtime order), so pinned tasks cannot starve
    /// the others.
    Cpu(u32),
}

/// Bit flags describing why a task was queued. Our own bit values, translated by the kernel side, so they do not
/// change between kernel releases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EnqueueFlags(u64);

impl EnqueueFlags {
    /// No flags.
    pub const NONE: EnqueueFlags = EnqueueFlags(0);
    /// The task just woke up (it was sleeping before this enqueue).
    pub const WAKEUP: EnqueueFlags = EnqueueFlags(1 << 0);
    /// The task was running and was taken off its CPU (slice expired or preempted), and is runnable again.
    pub const PREEMPTED: EnqueueFlags = EnqueueFlags(1 << 1);
    /// The task is new (first enqueue since it was forked).
    pub const NEW: EnqueueFlags = EnqueueFlags(1 << 2);

    /// Flags from their raw bits (unknown bits are kept).
    pub const fn from_bits(bits: u64) -> Self {
        EnqueueFlags(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: EnqueueFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for EnqueueFlags {
    type Output = EnqueueFlags;
    fn bitor(self, rhs: Self) -> Self {
        EnqueueFlags(self.0 | rhs.0)
    }
}

/// Bit flags a policy attaches to a dispatch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DispatchFlags(u64);

impl DispatchFlags {
    /// No flags.
    pub const NONE: DispatchFlags = DispatchFlags(0);
    /// Preempt the task currently running on the target CPU (for [`CpuTarget::Cpu`]), or on the CPU whose task has
    /// run longest (for [`CpuTarget::Any`]), so the dispatched task runs at once.
    pub const PREEMPT: DispatchFlags = DispatchFlags(1 << 0);

    /// Flags from their raw bits (unknown bits are kept).
    pub const fn from_bits(bits: u64) -> Self {
        DispatchFlags(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: DispatchFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for DispatchFlags {
    type Output = DispatchFlags;
    fn bitor(self, rhs: Self) -> Self {
        DispatchFlags(self.0 | rhs.0)
    }
}

/// A task's command name (`task_struct::comm`): up to 16 bytes, NUL padded.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Comm([u8; Comm::LEN]);

impl Comm {
    /// Length of the kernel's `comm` field (`TASK_COMM_LEN`).
    pub const LEN: usize = 16;

    /// A comm from the kernel's raw bytes.
    pub const fn from_bytes(raw: [u8; Comm::LEN]) -> Self {
        Comm(raw)
    }

    /// A comm from a string, truncated to 15 bytes so a NUL always terminates it.
    pub fn new(name: &str) -> Self {
        let mut raw = [0u8; Comm::LEN];
        let n = name.len().min(Comm::LEN - 1);
        raw[..n].copy_from_slice(&name.as_bytes()[..n]);
        Comm(raw)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; Comm::LEN] {
        &self.0
    }

    /// The name up to the first NUL, lossily decoded.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(Comm::LEN);
        String::from_utf8_lossy(&self.0[..end])
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

/// A runnable task handed to user space by the kernel side. The policy now holds it until it returns a
/// [`Dispatch`] for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedTask {
    /// The task's pid.
    pub pid: Pid,
    /// The CPU the task last ran on.
    pub prev_cpu: u32,
    /// How many CPUs the task may run on (its affinity mask's weight).
    pub nr_cpus_allowed: u32,
    /// Why the task was queued.
    pub flags: EnqueueFlags,
    /// When the task last started running, in the connector's clock (ns). 0 if it never ran.
    pub start_ns: u64,
    /// When the task last stopped running, in the connector's clock (ns). 0 if it never ran.
    pub stop_ns: u64,
    /// CPU time used since the task last slept (ns).
    pub exec_runtime_ns: u64,
    /// Scheduling weight.
    pub weight: Weight,
    /// The vtime the policy gave the task at its last dispatch (0 for a new task).
    pub vtime: u64,
    /// The kernel side's enqueue sequence number for this copy of the task; the [`Dispatch`] built from this
    /// record carries it.
    pub enq_seq: u64,
    /// The task's command name.
    pub comm: Comm,
}

impl QueuedTask {
    /// The small, copyable part of this task a dispatch answers (see [`TaskRef`]), for a policy that stores that
    /// instead of the whole record.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef {
            pid: self.pid,
            prev_cpu: self.prev_cpu,
            enq_seq: self.enq_seq,
        }
    }

    /// The dispatch answering this queued copy of the task; see [`TaskRef::dispatch`].
    pub fn dispatch(&self, target: CpuTarget, slice_ns: u64, vtime: u64) -> Dispatch {
        self.task_ref().dispatch(target, slice_ns, vtime)
    }

    /// Whether the task may run on exactly one CPU (so it can only go to `prev_cpu`).
    pub fn is_pinned(&self) -> bool {
        self.nr_cpus_allowed == 1
    }
}

/// Which queued copy of which task a [`Dispatch`] answers: the task's pid, its
/// [`enq_seq`](QueuedTask::enq_seq), and the CPU it last ran on (for
/// [`Context::pick_idle_cpu`](crate::Context::pick_idle_cpu)).
///
/// Only a [`QueuedTask`] makes one ([`QueuedTask::task_ref`]), so a dispatch built from it always pairs a pid with
/// a sequence number the kernel side actually gave that task. 16 bytes and `Copy`: a policy can keep these in its
/// queue instead of whole [`QueuedTask`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef {
    pid: Pid,
    prev_cpu: u32,
    enq_seq: u64,
}

impl TaskRef {
    /// The task's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The CPU the task last ran on.
    pub fn prev_cpu(&self) -> u32 {
        self.prev_cpu
    }

    /// The dispatch answering this queued copy of the task: run it on `target` for `slice_ns`, ordered by `vtime`
    /// in the shared queue (see [`Dispatch::vtime`]), no flags.
    ///
    /// The slice is clamped into [`Dispatch::MIN_SLICE_NS`]`..=`[`Dispatch::MAX_SLICE_NS`]. The vtime is
    /// always the policy's choice: a policy that wants arrival order passes a counter that grows with every
    /// dispatch, one that wants fairness passes a virtual deadline.
    pub fn dispatch(self, target: CpuTarget, slice_ns: u64, vtime: u64) -> Dispatch {
        Dispatch {
            pid: self.pid,
            target,
            slice_ns: slice_ns.clamp(Dispatch::MIN_SLICE_NS, Dispatch::MAX_SLICE_NS),
            vtime,
            flags: DispatchFlags::NONE,
            enq_seq: self.enq_seq,
        }
    }
}

impl From<&QueuedTask> for TaskRef {
    fn from(task: &QueuedTask) -> Self {
        task.task_ref()
    }
}

/// A policy's decision for one queued task: where it runs, for how long, and in which order.
///
/// A dispatch is built only from the task it answers ([`QueuedTask::dispatch`] or [`TaskRef::dispatch`]), so its
/// pid and sequence number cannot be mismatched, and its slice always lies within the bounds below. The fields
/// are read-only; a hand-made dispatch does not compile:
///
/// ```compile_fail
/// use rustland_core::{CpuTarget, Dispatch, DispatchFlags};
///
/// let d = Dispatch {
///     pid: 42,
///     target: CpuTarget::Any,
///     slice_ns: 5_000_000,
///     vtime: 0,
///     flags: DispatchFlags::NONE,
///     enq_seq: 7, // which enqueue of task 42? Nothing here says.
/// };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    pid: Pid,
    target: CpuTarget,
    slice_ns: u64,
    vtime: u64,
    flags: DispatchFlags,
    enq_seq: u64,
}

impl Dispatch {
    /// The shortest slice a dispatch carries (ns): 10 µs. Shorter requests are raised to it.
    pub const MIN_SLICE_NS: u64 = 10_000;
    /// The longest slice a dispatch carries (ns): 1 s. Longer requests are cut to it, so a policy's slice never
    /// keeps a CPU from the kernel side for longer.
    pub const MAX_SLICE_NS: u64 = 1_000_000_000;

    /// The same dispatch with these flags added.
    pub fn with_flags(mut self, flags: DispatchFlags) -> Self {
        self.flags = self.flags | flags;
        self
    }

    /// The task to run.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Where to run it.
    pub fn target(&self) -> CpuTarget {
        self.target
    }

    /// How long it may run before it is preempted (ns), within [`Dispatch::MIN_SLICE_NS`]`..=`
    /// [`Dispatch::MAX_SLICE_NS`].
    pub fn slice_ns(&self) -> u64 {
        self.slice_ns
    }

    /// The ordering key of the task in the kernel side's shared queue: tasks dispatched to [`CpuTarget::Any`]
    /// run in increasing `vtime` order (ties in dispatch order). The kernel side also records it, and it comes
    /// back in the next [`QueuedTask::vtime`]. Per-CPU targets run in dispatch order, except for pinned tasks,
    /// which go by vtime through the shared queue (see [`CpuTarget::Cpu`]).
    pub fn vtime(&self) -> u64 {
        self.vtime
    }

    /// Extra requests, such as [`DispatchFlags::PREEMPT`].
    pub fn flags(&self) -> DispatchFlags {
        self.flags
    }

    /// The [`QueuedTask::enq_seq`] this dispatch answers. A dispatch whose sequence number is older than the
    /// task's latest enqueue is stale and is dropped by the kernel side ("cancelled").
    pub fn enq_seq(&self) -> u64 {
        self.enq_seq
    }
}

/// What the kernel side tells user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A task became runnable and is now in user space's custody.
    Queued(QueuedTask),
    /// A task exited; any state the policy keeps for it must be dropped.
    Exited {
        /// The exited task.
        pid: Pid,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_clamped_into_range() {
        assert_eq!(Weight::new(0).get(), Weight::MIN);
        assert_eq!(Weight::new(20_000).get(), Weight::MAX);
        assert_eq!(Weight::new(250).get(), 250);
    }

    #[test]
    fn weight_scaling_is_relative_to_nice0() {
        assert_eq!(Weight::NICE0.scale(5_000), 5_000);
        assert_eq!(Weight::new(200).scale(5_000), 10_000);
        assert_eq!(Weight::new(200).inverse_scale(5_000), 2_500);
        assert_eq!(Weight::new(1).inverse_scale(u64::MAX), u64::MAX);
    }

    #[test]
    fn comm_truncates_and_round_trips() {
        let c = Comm::new("a-very-long-task-name");
        assert_eq!(c.to_string_lossy(), "a-very-long-tas");
        assert_eq!(c.as_bytes()[15], 0);
        assert_eq!(Comm::new("sh").to_string(), "sh");
    }

    #[test]
    fn a_dispatch_answers_the_task_it_was_built_from() {
        let task = QueuedTask {
            pid: 7,
            prev_cpu: 1,
            enq_seq: 42,
            ..crate::testing::queued_task(7, 42)
        };
        let d = task.dispatch(CpuTarget::Cpu(1), 5_000, 99);
        assert_eq!((d.pid(), d.enq_seq(), d.vtime()), (7, 42, 99));
        assert_eq!(
            d.slice_ns(),
            Dispatch::MIN_SLICE_NS,
            "a too short slice is raised"
        );
        let stored = task.task_ref();
        assert_eq!(
            stored.dispatch(CpuTarget::Any, u64::MAX, 0).slice_ns(),
            Dispatch::MAX_SLICE_NS
        );
        assert_eq!(stored.prev_cpu(), 1);
    }

    #[test]
    fn flags_compose() {
        let f = EnqueueFlags::WAKEUP | EnqueueFlags::NEW;
        assert!(f.contains(EnqueueFlags::WAKEUP));
        assert!(!f.contains(EnqueueFlags::PREEMPTED));
        let d = DispatchFlags::NONE | DispatchFlags::PREEMPT;
        assert!(d.contains(DispatchFlags::PREEMPT));
    }
}
