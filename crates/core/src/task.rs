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
    /// The kernel side's enqueue sequence number for this task; copy it into the [`Dispatch`] that answers it.
    pub enq_seq: u64,
    /// The task's command name.
    pub comm: Comm,
}

impl QueuedTask {
    /// A dispatch answering this task: same pid and sequence number, the given target and slice, vtime carried
    /// over, no flags.
    pub fn dispatch(&self, target: CpuTarget, slice_ns: u64) -> Dispatch {
        Dispatch {
            pid: self.pid,
            target,
            slice_ns,
            vtime: self.vtime,
            flags: DispatchFlags::NONE,
            enq_seq: self.enq_seq,
        }
    }

    /// Whether the task may run on exactly one CPU (so it can only go to `prev_cpu`).
    pub fn is_pinned(&self) -> bool {
        self.nr_cpus_allowed == 1
    }
}

/// A policy's decision for one queued task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The task to run.
    pub pid: Pid,
    /// Where to run it.
    pub target: CpuTarget,
    /// How long it may run before it is preempted (ns). 0 keeps the task's remaining slice.
    pub slice_ns: u64,
    /// The ordering key of the task in the kernel side's shared queue: tasks dispatched to [`CpuTarget::Any`]
    /// run in increasing `vtime` order (the shared queue is vtime-ordered; a FIFO policy passes a value that
    /// increases with every dispatch). The kernel side also records it, and it comes back in the next
    /// [`QueuedTask::vtime`]. Per-CPU targets run in dispatch order, except for pinned tasks, which go by vtime
    /// through the shared queue (see [`CpuTarget::Cpu`]).
    pub vtime: u64,
    /// Extra requests, such as [`DispatchFlags::PREEMPT`].
    pub flags: DispatchFlags,
    /// The [`QueuedTask::enq_seq`] this dispatch answers. A dispatch whose sequence number is older than the
    /// task's latest enqueue is stale and is dropped by the kernel side ("cancelled").
    pub enq_seq: u64,
}

impl Dispatch {
    /// The same dispatch with these flags added.
    pub fn with_flags(mut self, flags: DispatchFlags) -> Self {
        self.flags = self.flags | flags;
        self
    }

    /// The same dispatch with this vtime.
    pub fn with_vtime(mut self, vtime: u64) -> Self {
        self.vtime = vtime;
        self
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
    fn flags_compose() {
        let f = EnqueueFlags::WAKEUP | EnqueueFlags::NEW;
        assert!(f.contains(EnqueueFlags::WAKEUP));
        assert!(!f.contains(EnqueueFlags::PREEMPTED));
        let d = DispatchFlags::NONE | DispatchFlags::PREEMPT;
        assert!(d.contains(DispatchFlags::PREEMPT));
    }
}
