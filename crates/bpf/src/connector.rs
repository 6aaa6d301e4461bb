//! [`BpfConnector`], the live connector: the rings between the BPF dispatcher and user space, the values shared
//! through the BPF program's memory (counters, published counts, per-CPU start times), and the exit information.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

use libbpf_rs::{Link, ProgramInput, RingBuffer, RingBufferBuilder, UserRingBuffer};
use rustland_core::{
    Connector, ConnectorError, Counters, Delivery, Dispatch, Event, ExitInfo, Pid,
};

use crate::attach::ObjectStorage;
use crate::bpf_skel::BpfSkel;
use crate::exit::{c_str, exit_info};
use crate::records::{RawDispatch, RawPickIdleArg, RawQueuedTask};
use crate::{sys, BpfError, Builder};

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
    /// Queued-task records dropped because their task had left custody before they were read.
    stale_records: u64,
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
    /// The connector over a freshly attached skeleton: maps the two rings. Dropping it detaches.
    pub(crate) fn assemble(
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
            stale_records: 0,
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
        let me = sys::current_cpu();
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

    /// Whether record `seq` is still in user space's custody, according to the BPF side's custody list: a record
    /// whose task was dequeued, re-queued, or taken back by the fallback before user space read it is stale, and
    /// its dispatch would only be cancelled. The list's slot is published before the record, so a live record is
    /// never taken for a stale one.
    fn in_custody(&self, seq: u64) -> bool {
        let Some(bss) = self.skel().maps.bss_data.as_ref() else {
            return true;
        };
        let slots = &bss.custody_slots;
        let slot = &slots[(seq as usize) & (slots.len() - 1)];
        // SAFETY: a plain read of mmapped BPF memory the BPF side updates concurrently (hence volatile).
        unsafe { std::ptr::read_volatile(&slot.seq) == seq }
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
        loop {
            let ret = ring.consume_raw_n(1);
            if ret < 0 {
                return Err(ring_error("reading the queued-task ring", ret));
            }
            let Some(raw) = self.slot.take() else {
                return Ok(None);
            };
            if raw.kind == crate::records::MSG_QUEUED {
                self.received += 1;
                if !self.in_custody(raw.enq_seq) {
                    self.stale_records += 1;
                    continue;
                }
            }
            return raw
                .into_event()
                .map(Some)
                .map_err(ConnectorError::Malformed);
        }
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
    /// ring wakeup; at once if one is there already; see `sys::wait_readable` for what bounds the sleep). Going to
    /// sleep lets the CPU's `ops.dispatch()` run at once, which applies this round's dispatches and runs the
    /// first of them, and the next record wakes the scheduler on the CPU the BPF side picked for it. With tasks still held (the dispatch
    /// ring was full), yields instead: the BPF side keeps the scheduler runnable but parked, and puts it back on a
    /// CPU as soon as one drained the ring.
    ///
    /// It sleeps rather than yielding (parking) after every busy round: parking let user space fall silent past the
    /// fallback limit under hackbench, and did not make cyclictest under two hogs better (docs/benchmarks.md has the
    /// figures).
    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        if self.published == 0 && self.queued.is_some() {
            return sys::wait_readable(self.queued_fd);
        }
        sys::yield_now();
        Ok(())
    }

    /// Asks the BPF side to claim an idle CPU (a system call), unless its per-CPU start times show that every
    /// other CPU runs one of our tasks: then none is idle and the answer is `None` without a system call.
    ///
    /// Always `None` in partial mode, where the dispatch goes to any CPU and the BPF side wakes an idle one. The
    /// system call runs the BPF program with migration disabled, and a normal task (which runs before ours in
    /// partial mode) that preempts the scheduler thread then leaves it stuck in its CPU's local DSQ, where neither
    /// the kernel nor the BPF side may move it, long enough for the fallback to take over (docs/reliability.md).
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
        sys::monotonic_ns()
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
            batched_records: c.batched_records,
            nr_running: gauge(c.nr_running),
            nr_queued: c.queued_sent.saturating_sub(self.received),
            nr_scheduled: scheduled,
            nr_custody: gauge(c.nr_custody),
            stale_records: self.stale_records,
            fallback_episodes: c.fallback_episodes,
            fallback_reclaimed: c.fallback_reclaimed,
            fallback_ns: c.fallback_ns
                + match c.fallback_since_ns {
                    0 => 0,
                    since => self.now_ns().saturating_sub(since),
                },
            fallback_last_ns: c.fallback_last_ns,
        }
    }
}
