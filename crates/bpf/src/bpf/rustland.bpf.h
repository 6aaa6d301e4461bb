/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c (included first): the state every part shares and the small helpers they all use.
 *
 * The settings user space writes before load (.rodata), what it reads and writes at run time (.bss), the internal
 * state, the maps (the two rings, the per-task context, the heartbeat timer) and the per-task context itself. All
 * global variables live here, in this order, so the layout user space sees through the skeleton has one place.
 */

char _license[] SEC("license") = "GPL";

UEI_DEFINE(uei);

/*
 * The shared DSQ (vtime ordered) holds tasks for "any CPU". A task for one CPU goes straight into that CPU's local
 * DSQ (SCX_DSQ_LOCAL_ON): the kernel redirects it if the CPU is offline, and migrates it if the CPU goes offline
 * later, where a custom per-CPU DSQ would strand it (and stall hotplug, which waits for RCU kthreads).
 */
#define SHARED_DSQ		((u64)RL_MAX_CPUS)
/*
 * While user space is unresponsive the BPF side orders tasks by a vtime of its own, which need not be on the scale of
 * the policy's vtimes: in a DSQ of their own, so neither kind can starve the other in one vtime order.
 */
#define FALLBACK_DSQ		((u64)RL_MAX_CPUS + 1)

#define NSEC_PER_MSEC		1000000ULL

/* Values of in_fallback. */
#define FALLBACK_OFF		0
#define FALLBACK_BEGINNING	1
#define FALLBACK_ON		2

/* Set by user space before load. */
const volatile s32 usersched_pid;		/* thread id of the user-space scheduler */
const volatile bool builtin_idle = true;	/* select_cpu dispatches to idle CPUs directly */
const volatile bool numa_local_idle;		/* idle CPUs are picked in the task's NUMA node */
const volatile bool debug;			/* bpf_printk tracing */
const volatile bool partial_mode;		/* SCX_OPS_SWITCH_PARTIAL: normal tasks are not ours */
const volatile u64 slice_ns = 5 * NSEC_PER_MSEC;	/* slice of kernel-side dispatches */
const volatile u64 fallback_ns = 250 * NSEC_PER_MSEC;	/* no user dispatch applied for longer: fallback */
const volatile u64 heartbeat_ns = 100 * NSEC_PER_MSEC;	/* heartbeat timer period */
const volatile u64 preempt_min_ns = 100000;		/* never preempt a task that ran less than this */
/* A wakeup by a task, not an interrupt, preempts only a task that ran this long for the scheduler's round. */
#define TASK_WAKEUP_PREEMPT_MIN_NS	(1 * NSEC_PER_MSEC)
/* The longest a record waits for the sleeping scheduler's next round without waking it (usersched_defer_wakeup()). */
#define DEFER_WAKEUP_MAX_NS		(5 * NSEC_PER_MSEC)
/* The slice of a task kept past its slice's end while user space holds tasks (keep_prev_briefly()). */
#define KEPT_SLICE_NS			(1 * NSEC_PER_MSEC)
/* A task the woken scheduler preempts resumes without user space if it ran less than this (usersched_preempts()). */
#define RESUME_MAX_RAN_NS		(1 * NSEC_PER_MSEC)
const volatile u64 direct_wakeup_max_ns;		/* longest burst of a directly woken task, 0: off */

/* Written by user space at run time: how many tasks it still holds, and how many dispatches it has sent. */
volatile u64 nr_scheduled;
volatile u64 dispatches_sent;

/* Read by user space. */
struct rl_counters counters;
struct rl_custody_slot custody_slots[RL_CUSTODY_SLOTS];	/* the custody list (custody.bpf.h) */

/* Internal state. */
static u64 nr_cpu_ids;
static volatile u32 usersched_needed;		/* put the user-space scheduler on a CPU soon */
static volatile s32 usersched_cpu = -1;		/* CPU the user-space scheduler runs on, -1 if none */
static volatile s32 usersched_wake_cpu = -1;	/* CPU a waking user-space scheduler should take, -1: its own */
static volatile bool usersched_asleep;		/* it stopped to sleep (in poll) and has not been woken since */
static volatile s32 usersched_last_cpu = -1;	/* the CPU it last stopped on */
static volatile u32 usersched_parked;		/* runnable but in no DSQ: only ops.dispatch() can run it */
static volatile u64 wakeups_queued;		/* records of woken tasks sent to user space, ever */
static volatile u64 wakeups_queued_at_run;	/* wakeups_queued when the user-space scheduler last started running */
static volatile u64 usersched_seen_ns;		/* last time the user-space scheduler started or stopped */
static volatile u64 wakeup_deferred_ns;		/* a record waits for the sleeping scheduler since, 0: none waits */
static volatile u64 user_progress_ns;		/* last drain that applied a user dispatch, or custody became non-empty */
static u64 custody_next_seq;			/* the last sequence number handed out (custody.bpf.h) */
static volatile u32 custody_cursor;		/* where the fallback's scan of the custody list goes on */
/*
 * The fallback episode going on, if in_fallback: the user ring's and the queued ring's progress when it began
 * (dispatch records drained, consumer position), which tell that user space is back; the fallback's virtual clock
 * (the highest vtime of a task it started); when the last episode ended; whether FALLBACK_DSQ may hold tasks.
 */
static volatile u32 in_fallback;		/* FALLBACK_OFF, _BEGINNING or _ON */
static u64 fallback_drained_at_start;
static u64 fallback_consumed_at_start;
static u64 fallback_clock;
static volatile u64 fallback_ended_ns;		/* when the last episode ended, 0 before the first */
static volatile bool fallback_dsq_used;
static u64 dispatches_drained;			/* dispatch records taken from the user ring, applied or not */
/*
 * When the current task started on each CPU; 0 if the CPU is idle, runs the user-space scheduler, or runs a task of
 * another scheduling class. Also read by user space, which skips its idle-CPU query when every other CPU is busy.
 */
u64 cpu_started_ns[RL_MAX_CPUS];
static u64 cpu_vtime[RL_MAX_CPUS];		/* dsq_vtime of the task running on each CPU */
/*
 * Per CPU: until when the task direct_wakeup() put there may be about to run or running (0: none); the task the BPF
 * side preempted there, which resumes without a round through user space (resume.bpf.h), its remaining slice, until
 * when its ops.enqueue() is awaited, and where it resumes; the CPU time direct wakeups used in the current budget
 * window, and when that window started.
 */
static u64 cpu_direct_until_ns[RL_MAX_CPUS];
static s32 cpu_resume_pid[RL_MAX_CPUS];
static u64 cpu_resume_slice[RL_MAX_CPUS];
static u64 cpu_resume_until_ns[RL_MAX_CPUS];
static u32 cpu_resume_where[RL_MAX_CPUS];
static u64 cpu_direct_used_ns[RL_MAX_CPUS];
static u64 cpu_direct_window_ns[RL_MAX_CPUS];

/* Direct wakeups may use at most a quarter of a CPU's time in each window of this length. */
#define DIRECT_WINDOW_NS	(100 * NSEC_PER_MSEC)

#define dbg(fmt, args...)					\
	do {							\
		if (debug)					\
			bpf_printk(fmt, ##args);		\
	} while (0)

#define stat_inc(field) __sync_fetch_and_add(&counters.field, 1)
#define stat_dec(field) __sync_fetch_and_sub(&counters.field, 1)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RL_QUEUED_RING_BYTES);
} queued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, RL_DISPATCH_RING_BYTES);
} dispatched SEC(".maps");

struct task_ctx {
	u64 start_ns;
	u64 stop_ns;
	u64 exec_runtime_ns;
	u64 last_burst_ns;	/* how long it ran between its last two sleeps */
	bool direct;		/* put on its CPU by direct_wakeup() and not stopped since */
	/*
	 * In user space's custody: the sequence number of the record user space holds, 0 if none. Set under the task's
	 * runqueue lock (ops.enqueue()); cleared by whoever takes the task out of custody first, with an atomic
	 * exchange, since a dispatch is applied from any CPU's ops.dispatch() without that lock.
	 */
	u64 custody_seq;
	/*
	 * The fallback scheduled the task (in its own vtime order: fallback_vtime) since it last went to user space;
	 * policy_vtime is the vtime of the policy's last dispatch, which its next record carries.
	 */
	bool fallback_owned;
	u64 policy_vtime;
	u64 fallback_vtime;
	bool is_new;
	bool seen;		/* user space has been told about this task */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctx_stor SEC(".maps");

struct heartbeat {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct heartbeat);
} heartbeat_map SEC(".maps");

static struct task_ctx *lookup_task_ctx(const struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctx_stor, (struct task_struct *)p, 0, 0);
}

static __always_inline bool is_usersched(const struct task_struct *p)
{
	return p->pid == usersched_pid;
}

static u64 now_ns(void)
{
	/* CLOCK_MONOTONIC, the clock user space reads. */
	return bpf_ktime_get_ns();
}

static u64 kernel_slice(void)
{
	return slice_ns ?: SCX_SLICE_DFL;
}

/* Tasks that must never wait for user space: per-CPU kthreads and memory-management kthreads. */
static bool must_bypass(const struct task_struct *p)
{
	if (p->flags & (PF_KSWAPD | PF_KCOMPACTD))
		return true;
	if (!(p->flags & PF_KTHREAD))
		return false;
	if (p->nr_cpus_allowed == 1)
		return true;
	/* khugepaged has no PF_ flag of its own. */
	return p->comm[0] == 'k' && p->comm[1] == 'h' && p->comm[2] == 'u' && p->comm[3] == 'g' &&
	       p->comm[4] == 'e' && p->comm[5] == 'p';
}

/*
 * A task that can run on one CPU only. (Migration-disabled tasks never reach us: without
 * SCX_OPS_ENQ_MIGRATION_DISABLED the kernel dispatches them itself.)
 */
static bool is_pinned(const struct task_struct *p)
{
	return p->nr_cpus_allowed == 1;
}
