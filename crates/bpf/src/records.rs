//! The records exchanged with the BPF side, mirrored from `src/bpf/intf.h`, and their translation to the core
//! types.
//!
//! The C header is the one definition; the `#[repr(C)]` mirrors here exist so the hot path decodes and encodes
//! records without going through bindgen's types, and a test checks that both agree field by field.

use std::mem::offset_of;

use rustland_core::{Comm, CpuTarget, Dispatch, EnqueueFlags, Event, QueuedTask, Weight};

use crate::bpf_intf;

/// Record kind: a queued task.
pub(crate) const MSG_QUEUED: u32 = bpf_intf::rl_msg_kind_RL_MSG_QUEUED;
/// Record kind: an exited task.
pub(crate) const MSG_EXITED: u32 = bpf_intf::rl_msg_kind_RL_MSG_EXITED;
/// Dispatch target "any CPU".
pub(crate) const CPU_ANY: u32 = bpf_intf::rl_consts_RL_CPU_ANY;

/// Mirror of `struct rl_queued_task`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawQueuedTask {
    pub kind: u32,
    pub pid: i32,
    pub prev_cpu: u32,
    pub nr_cpus_allowed: u32,
    pub flags: u64,
    pub start_ns: u64,
    pub stop_ns: u64,
    pub exec_runtime_ns: u64,
    pub weight: u64,
    pub vtime: u64,
    pub enq_seq: u64,
    pub comm: [u8; 16],
}

/// Mirror of `struct rl_dispatch`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawDispatch {
    pub pid: i32,
    pub cpu: u32,
    pub flags: u64,
    pub slice_ns: u64,
    pub vtime: u64,
    pub enq_seq: u64,
}

/// Mirror of `struct rl_pick_idle_arg`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawPickIdleArg {
    pub pid: i32,
    pub prev_cpu: i32,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

impl RawQueuedTask {
    /// Size of the record on the wire.
    pub const SIZE: usize = std::mem::size_of::<RawQueuedTask>();

    /// Decodes a record from the ring, or `None` if it is too short.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < Self::SIZE {
            return None;
        }
        macro_rules! at {
            ($read:ident, $field:ident) => {
                $read(b, offset_of!(RawQueuedTask, $field))
            };
        }
        let comm_at = offset_of!(RawQueuedTask, comm);
        let mut comm = [0u8; 16];
        comm.copy_from_slice(&b[comm_at..comm_at + 16]);
        Some(RawQueuedTask {
            kind: at!(u32_at, kind),
            pid: at!(u32_at, pid) as i32,
            prev_cpu: at!(u32_at, prev_cpu),
            nr_cpus_allowed: at!(u32_at, nr_cpus_allowed),
            flags: at!(u64_at, flags),
            start_ns: at!(u64_at, start_ns),
            stop_ns: at!(u64_at, stop_ns),
            exec_runtime_ns: at!(u64_at, exec_runtime_ns),
            weight: at!(u64_at, weight),
            vtime: at!(u64_at, vtime),
            enq_seq: at!(u64_at, enq_seq),
            comm,
        })
    }

    /// The core event this record stands for, or an error message for an unknown kind.
    pub fn into_event(self) -> Result<Event, String> {
        match self.kind {
            MSG_QUEUED => Ok(Event::Queued(QueuedTask {
                pid: self.pid,
                prev_cpu: self.prev_cpu,
                nr_cpus_allowed: self.nr_cpus_allowed,
                flags: enqueue_flags(self.flags),
                start_ns: self.start_ns,
                stop_ns: self.stop_ns,
                exec_runtime_ns: self.exec_runtime_ns,
                weight: Weight::new(self.weight.min(u64::from(u32::MAX)) as u32),
                vtime: self.vtime,
                enq_seq: self.enq_seq,
                comm: Comm::from_bytes(self.comm),
            })),
            MSG_EXITED => Ok(Event::Exited { pid: self.pid }),
            other => Err(format!("unknown record kind {other} (pid {})", self.pid)),
        }
    }
}

/// Translates the BPF side's enqueue flag bits to the core's.
fn enqueue_flags(bits: u64) -> EnqueueFlags {
    let mut flags = EnqueueFlags::NONE;
    if bits & u64::from(bpf_intf::rl_enq_flags_RL_ENQ_WAKEUP) != 0 {
        flags = flags | EnqueueFlags::WAKEUP;
    }
    if bits & u64::from(bpf_intf::rl_enq_flags_RL_ENQ_PREEMPTED) != 0 {
        flags = flags | EnqueueFlags::PREEMPTED;
    }
    if bits & u64::from(bpf_intf::rl_enq_flags_RL_ENQ_NEW) != 0 {
        flags = flags | EnqueueFlags::NEW;
    }
    flags
}

impl RawDispatch {
    /// Size of the record on the wire.
    pub const SIZE: usize = std::mem::size_of::<RawDispatch>();

    /// The record for a core dispatch.
    pub fn from_dispatch(d: &Dispatch) -> Self {
        let mut flags = 0;
        if d.flags().contains(rustland_core::DispatchFlags::PREEMPT) {
            flags |= u64::from(bpf_intf::rl_dispatch_flags_RL_DISPATCH_PREEMPT);
        }
        RawDispatch {
            pid: d.pid(),
            cpu: match d.target() {
                CpuTarget::Any => CPU_ANY,
                // A CPU id equal to CPU_ANY would be misread; the BPF side bounces ids it does not know anyway.
                CpuTarget::Cpu(cpu) => cpu.min(CPU_ANY - 1),
            },
            flags,
            slice_ns: d.slice_ns(),
            vtime: d.vtime(),
            enq_seq: d.enq_seq(),
        }
    }

    /// Writes the record into a ring slot of at least [`RawDispatch::SIZE`] bytes.
    pub fn encode(&self, out: &mut [u8]) {
        fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
            out[at..at + bytes.len()].copy_from_slice(bytes);
        }
        put(out, offset_of!(RawDispatch, pid), &self.pid.to_ne_bytes());
        put(out, offset_of!(RawDispatch, cpu), &self.cpu.to_ne_bytes());
        put(
            out,
            offset_of!(RawDispatch, flags),
            &self.flags.to_ne_bytes(),
        );
        put(
            out,
            offset_of!(RawDispatch, slice_ns),
            &self.slice_ns.to_ne_bytes(),
        );
        put(
            out,
            offset_of!(RawDispatch, vtime),
            &self.vtime.to_ne_bytes(),
        );
        put(
            out,
            offset_of!(RawDispatch, enq_seq),
            &self.enq_seq.to_ne_bytes(),
        );
    }
}

impl RawPickIdleArg {
    /// The argument as bytes for the syscall program.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..4].copy_from_slice(&self.pid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.prev_cpu.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use rustland_core::DispatchFlags;

    use super::*;
    use crate::bpf_intf::{rl_dispatch, rl_pick_idle_arg, rl_queued_task};

    macro_rules! assert_same_layout {
        ($rust:ty, $c:ty, [$($field:ident),* $(,)?]) => {{
            assert_eq!(size_of::<$rust>(), size_of::<$c>(), "size of {}", stringify!($c));
            $(
                assert_eq!(
                    offset_of!($rust, $field),
                    offset_of!($c, $field),
                    "offset of {}::{}", stringify!($c), stringify!($field)
                );
            )*
        }};
    }

    #[test]
    fn rust_mirrors_match_the_c_records() {
        assert_same_layout!(
            RawQueuedTask,
            rl_queued_task,
            [
                kind,
                pid,
                prev_cpu,
                nr_cpus_allowed,
                flags,
                start_ns,
                stop_ns,
                exec_runtime_ns,
                weight,
                vtime,
                enq_seq,
                comm
            ]
        );
        assert_same_layout!(
            RawDispatch,
            rl_dispatch,
            [pid, cpu, flags, slice_ns, vtime, enq_seq]
        );
        assert_same_layout!(RawPickIdleArg, rl_pick_idle_arg, [pid, prev_cpu]);
    }

    fn encode_queued(r: &RawQueuedTask) -> Vec<u8> {
        let mut b = Vec::with_capacity(RawQueuedTask::SIZE);
        b.extend_from_slice(&r.kind.to_ne_bytes());
        b.extend_from_slice(&r.pid.to_ne_bytes());
        b.extend_from_slice(&r.prev_cpu.to_ne_bytes());
        b.extend_from_slice(&r.nr_cpus_allowed.to_ne_bytes());
        for v in [
            r.flags,
            r.start_ns,
            r.stop_ns,
            r.exec_runtime_ns,
            r.weight,
            r.vtime,
            r.enq_seq,
        ] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&r.comm);
        b
    }

    #[test]
    fn queued_record_decodes_into_a_core_task() {
        let raw = RawQueuedTask {
            kind: MSG_QUEUED,
            pid: 4242,
            prev_cpu: 3,
            nr_cpus_allowed: 8,
            flags: u64::from(
                bpf_intf::rl_enq_flags_RL_ENQ_WAKEUP | bpf_intf::rl_enq_flags_RL_ENQ_NEW,
            ),
            start_ns: 10,
            stop_ns: 20,
            exec_runtime_ns: 30,
            weight: 200,
            vtime: 40,
            enq_seq: 7,
            comm: *b"hackbench\0\0\0\0\0\0\0",
        };
        let bytes = encode_queued(&raw);
        assert_eq!(bytes.len(), RawQueuedTask::SIZE);
        let decoded = RawQueuedTask::decode(&bytes).expect("long enough");
        assert_eq!(decoded, raw);
        let Ok(Event::Queued(task)) = decoded.into_event() else {
            panic!("expected a queued task");
        };
        assert_eq!(task.pid, 4242);
        assert_eq!(task.prev_cpu, 3);
        assert!(task
            .flags
            .contains(EnqueueFlags::WAKEUP | EnqueueFlags::NEW));
        assert!(!task.flags.contains(EnqueueFlags::PREEMPTED));
        assert_eq!(task.weight.get(), 200);
        assert_eq!(task.enq_seq, 7);
        assert_eq!(task.comm.to_string(), "hackbench");
    }

    #[test]
    fn exit_record_and_bad_records() {
        let raw = RawQueuedTask {
            kind: MSG_EXITED,
            pid: 9,
            ..Default::default()
        };
        assert_eq!(raw.into_event(), Ok(Event::Exited { pid: 9 }));
        assert!(RawQueuedTask {
            kind: 77,
            ..Default::default()
        }
        .into_event()
        .is_err());
        assert!(RawQueuedTask::decode(&[0u8; 10]).is_none());
    }

    #[test]
    fn out_of_range_weight_is_clamped() {
        let raw = RawQueuedTask {
            kind: MSG_QUEUED,
            weight: 1 << 40,
            ..Default::default()
        };
        let Ok(Event::Queued(task)) = raw.into_event() else {
            panic!("queued")
        };
        assert_eq!(task.weight.get(), Weight::MAX);
    }

    #[test]
    fn dispatch_encodes_target_flags_and_sequence() {
        let task = QueuedTask {
            pid: 5,
            prev_cpu: 0,
            nr_cpus_allowed: 2,
            flags: EnqueueFlags::NONE,
            start_ns: 0,
            stop_ns: 0,
            exec_runtime_ns: 0,
            weight: Weight::NICE0,
            vtime: 99,
            enq_seq: 12,
            comm: Comm::new("t"),
        };
        let any = RawDispatch::from_dispatch(&task.dispatch(CpuTarget::Any, 20_000, 99));
        assert_eq!(
            (
                any.pid,
                any.cpu,
                any.flags,
                any.slice_ns,
                any.vtime,
                any.enq_seq
            ),
            (5, CPU_ANY, 0, 20_000, 99, 12)
        );

        let on1 = RawDispatch::from_dispatch(
            &task
                .dispatch(CpuTarget::Cpu(1), 20_000, 99)
                .with_flags(DispatchFlags::PREEMPT),
        );
        assert_eq!(on1.cpu, 1);
        assert_eq!(
            on1.flags,
            u64::from(bpf_intf::rl_dispatch_flags_RL_DISPATCH_PREEMPT)
        );

        // A CPU id that collides with "any" is not silently turned into "any".
        assert_ne!(
            RawDispatch::from_dispatch(&task.dispatch(CpuTarget::Cpu(u32::MAX), 20_000, 99)).cpu,
            CPU_ANY
        );

        let mut buf = [0u8; RawDispatch::SIZE];
        on1.encode(&mut buf);
        assert_eq!(i32::from_ne_bytes(buf[0..4].try_into().unwrap()), 5);
        assert_eq!(u32::from_ne_bytes(buf[4..8].try_into().unwrap()), 1);
        assert_eq!(u64::from_ne_bytes(buf[32..40].try_into().unwrap()), 12);
    }
}
