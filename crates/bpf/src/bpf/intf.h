/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Records shared between the rustland BPF dispatcher (main.bpf.c) and the Rust connector (src/records.rs).
 *
 * This is the one definition of the wire format. build.rs generates Rust bindings from it, and a unit test checks
 * that the hand-written Rust mirror types have the same size and field offsets.
 */
#ifndef __RUSTLAND_INTF_H
#define __RUSTLAND_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned char u8;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;
#endif

enum rl_consts {
	/* Highest number of CPUs the dispatcher supports (one custom DSQ per CPU). */
	RL_MAX_CPUS		= 1024,
	/* Sizes of the queued-task ring and of the dispatch ring (ring buffers need a power of two). */
	RL_QUEUED_RING_BYTES	= 1 << 20,
	RL_DISPATCH_RING_BYTES	= 1 << 19,
	/* Entries of the custody list (a power of two, more than the queued ring holds records). */
	RL_CUSTODY_SLOTS	= 1 << 14,
	/* Length of a task's command name. */
	RL_COMM_LEN		= 16,
	/* Dispatch target meaning "the first CPU that becomes available". */
	RL_CPU_ANY		= 0xffffffff,
};

/* What a record of the queued ring (BPF -> user space) carries. */
enum rl_msg_kind {
	/* A task became runnable and is in user space's custody. */
	RL_MSG_QUEUED		= 1,
	/* A task exited (only sent for tasks user space has seen). */
	RL_MSG_EXITED		= 2,
};

/* Our own enqueue flag bits (rustland_core::EnqueueFlags), independent of the kernel's SCX_ENQ_* values. */
enum rl_enq_flags {
	RL_ENQ_WAKEUP		= 1 << 0,
	RL_ENQ_PREEMPTED	= 1 << 1,
	RL_ENQ_NEW		= 1 << 2,
};

/* Our own dispatch flag bits (rustland_core::DispatchFlags). */
enum rl_dispatch_flags {
	RL_DISPATCH_PREEMPT	= 1 << 0,
};

/* BPF -> user space: one queued task (kind RL_MSG_QUEUED) or one exited task (kind RL_MSG_EXITED, only pid set). */
struct rl_queued_task {
	u32 kind;
	s32 pid;
	u32 prev_cpu;
	u32 nr_cpus_allowed;
	u64 flags;		/* rl_enq_flags */
	u64 start_ns;		/* CLOCK_MONOTONIC */
	u64 stop_ns;		/* CLOCK_MONOTONIC */
	u64 exec_runtime_ns;
	u64 weight;
	u64 vtime;
	u64 enq_seq;
	u8 comm[RL_COMM_LEN];
};

/* User space -> BPF: run task @pid on @cpu (or RL_CPU_ANY). */
struct rl_dispatch {
	s32 pid;
	u32 cpu;
	u64 flags;		/* rl_dispatch_flags */
	u64 slice_ns;		/* 0 keeps the task's remaining slice */
	u64 vtime;
	u64 enq_seq;		/* rl_queued_task::enq_seq this dispatch answers */
};

/*
 * One entry of the custody list (BPF writes, user space reads): record @seq of task @pid is in user space's custody;
 * @seq is 0 when the slot is free.
 */
struct rl_custody_slot {
	u64 seq;
	s32 pid;
	u32 pad;
};

/* Argument of the rl_pick_idle_cpu syscall program. */
struct rl_pick_idle_arg {
	s32 pid;
	s32 prev_cpu;
};

/* Counters kept by the BPF side (all monotonic except the gauges noted). */
struct rl_counters {
	u64 user_dispatches;
	u64 kernel_dispatches;
	u64 cancelled_dispatches;
	u64 bounced_dispatches;
	u64 congested_dispatches;
	u64 fallback_dispatches;
	u64 queued_sent;	/* RL_MSG_QUEUED records submitted to the ring */
	u64 exits_sent;		/* RL_MSG_EXITED records submitted */
	u64 exits_lost;		/* exit records dropped because the ring was full */
	u64 nr_running;		/* gauge: tasks on a CPU right now (the user-space scheduler excluded) */
	u64 nr_custody;		/* gauge: tasks in user space's custody */
	u64 fallback_episodes;	/* times the dispatcher found user space unresponsive */
	u64 fallback_ns;	/* time spent in finished fallback episodes */
	u64 fallback_last_ns;	/* duration of the last finished fallback episode */
	u64 fallback_reclaimed;	/* tasks the fallback took back from user space's custody */
	u64 fallback_since_ns;	/* when the fallback episode going on began (CLOCK_MONOTONIC), 0 if none */
	u64 direct_wakeups;	/* tasks woken by an interrupt that the dispatcher put on their CPU itself */
	u64 batched_records;	/* records that waited for the sleeping scheduler's next round without waking it */
};

#endif /* __RUSTLAND_INTF_H */
