/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rustland: a policy-agnostic sched_ext dispatcher whose scheduling decisions are taken in user space.
 *
 * Data flow
 * ---------
 * - ops.enqueue() hands a runnable task to user space as an rl_queued_task record in the @queued ring
 *   (BPF_MAP_TYPE_RINGBUF) and records the record's sequence number in the task's local storage (custody_seq).
 * - User space answers with rl_dispatch records in the @dispatched ring (BPF_MAP_TYPE_USER_RINGBUF), drained by
 *   ops.dispatch() in batches. A dispatch is applied only if it matches the task's custody_seq (which it then
 *   clears); anything else is stale and counted as cancelled.
 * - The user-space scheduler is itself a task (@usersched_pid). When it yields with nothing to do while other tasks
 *   want its CPU, it is parked: it stays runnable in our custody but in no DSQ, and ops.dispatch() puts it on a CPU
 *   only when there is work. When nothing else wants the CPU, the kernel keeps it running (no SCX_OPS_ENQ_LAST: an
 *   insert into the local DSQ from ops.enqueue() of the last task does not reliably wake a CPU that is going idle);
 *   after a round with nothing to do, user space sleeps in epoll on the @queued ring, whose adaptive wakeup brings
 *   it back with the next record.
 *
 * Fast paths that bypass user space: a waking task with an idle CPU (select_cpu), per-CPU kthreads and
 * memory-management kthreads, and a full ring ("congested").
 *
 * Latency: a task queued on wakeup while no CPU is idle preempts a CPU it may run on (the one whose current task has
 * run longest), and the user-space scheduler runs there at once instead of after a CPU hog's slice; that CPU then
 * takes the woken task from the shared DSQ right after the scheduler's round. A task that can run on one CPU only
 * and comes first in the shared DSQ's vtime order preempts its CPU's current task if that task comes later.
 *
 * Higher scheduling classes (normal tasks in partial mode, RT and deadline tasks always) run before our local DSQs:
 * when one takes a CPU, its local DSQ is re-enqueued and the user-space scheduler moves to another CPU; a waking
 * scheduler avoids such CPUs; in partial mode the scheduler waits in the shared DSQ, ahead of every task.
 *
 * Unresponsive user space: if no dispatch of user space has been applied for @fallback_ns while tasks sit in its
 * custody (whether or not the scheduler thread runs), ops.dispatch() moves them to the shared DSQ itself and
 * ops.enqueue() bypasses user space ("fallback") until its custody is empty. A heartbeat timer makes sure both
 * happen even on an idle machine.
 */
#include <scx/common.bpf.h>
#include "intf.h"

/* The task iterator (Linux 6.7 and later), for the fallback's walk over custody. */
struct bpf_iter_task;
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task, unsigned int flags) __weak __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __weak __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __weak __ksym;

/*
 * The CPU's preempt count (x86, Linux 6.15 and later: 6.16 is the oldest kernel we support), to tell a wakeup made
 * by an interrupt handler (a timer) from one made by a task. Weak: where it is missing, every wakeup looks like one
 * made by a task. Where its hard-IRQ field lies depends on the kernel (bits 16-19 on 6.18, bits 24-27 on 7.3, the
 * softirq field having grown): ops.tick(), which runs in the timer interrupt, finds it (hardirq_shift).
 */
extern const int __preempt_count __ksym __weak;
#define RL_HARDIRQ_FIELD	0xf

/*
 * The CPUs' runqueues: an enqueue made while the runqueue's wakeup list is being processed (ttwu_pending) is a task's
 * wakeup of another CPU's task delivered by an inter-processor interrupt, not an interrupt's own wakeup.
 */
extern struct rq runqueues __ksym __weak;

char _license[] SEC("license") = "GPL";

UEI_DEFINE(uei);

/*
 * The shared DSQ (vtime ordered) holds tasks for "any CPU". A task for one CPU goes straight into that CPU's local
 * DSQ (SCX_DSQ_LOCAL_ON): the kernel redirects it if the CPU is offline, and migrates it if the CPU goes offline
 * later, where a custom per-CPU DSQ would strand it (and stall hotplug, which waits for RCU kthreads).
 */
#define SHARED_DSQ		((u64)RL_MAX_CPUS)

#define NSEC_PER_MSEC		1000000ULL

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
const volatile u64 direct_wakeup_max_ns;		/* longest burst of a directly woken task, 0: off */

/* Written by user space at run time: how many tasks it still holds, and how many dispatches it has sent. */
volatile u64 nr_scheduled;
volatile u64 dispatches_sent;

/* Read by user space. */
struct rl_counters counters;

/* Internal state. */
static u64 nr_cpu_ids;
static volatile u32 usersched_needed;		/* put the user-space scheduler on a CPU soon */
static volatile s32 usersched_cpu = -1;		/* CPU the user-space scheduler runs on, -1 if none */
static volatile s32 usersched_wake_cpu = -1;	/* CPU a waking user-space scheduler should take, -1: its own */
static volatile bool usersched_asleep;		/* it stopped to sleep (in poll) and has not been woken since */
static volatile u64 usersched_seen_ns;		/* last time the user-space scheduler started or stopped */
static volatile u64 user_progress_ns;		/* last drain that applied a user dispatch, or custody became non-empty */
static volatile bool in_fallback;
static u64 dispatches_drained;			/* dispatch records taken from the user ring, applied or not */
/*
 * When the current task started on each CPU; 0 if the CPU is idle, runs the user-space scheduler, or runs a task of
 * another scheduling class. Also read by user space, which skips its idle-CPU query when every other CPU is busy.
 */
u64 cpu_started_ns[RL_MAX_CPUS];
static u64 cpu_vtime[RL_MAX_CPUS];		/* dsq_vtime of the task running on each CPU */
/*
 * Direct wakeups, per CPU: until when the task direct_wakeup() put there may be about to run or running (0: none);
 * the task it preempted, which resumes behind it without a round through user space, its remaining slice, and when
 * it was preempted; the CPU time direct wakeups used in the current budget window, and when that window started.
 */
static u64 cpu_direct_until_ns[RL_MAX_CPUS];
static s32 cpu_resume_pid[RL_MAX_CPUS];
static u64 cpu_resume_slice[RL_MAX_CPUS];
static u64 cpu_resume_at_ns[RL_MAX_CPUS];
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
	u64 enq_seq;		/* sequence number of the task's last record to user space */
	u64 last_burst_ns;	/* how long it ran between its last two sleeps */
	bool direct;		/* put on its CPU by direct_wakeup() and not stopped since */
	/*
	 * In user space's custody: the sequence number of the record user space holds, 0 if none. Set under the task's
	 * runqueue lock (ops.enqueue()); cleared by whoever takes the task out of custody first, with an atomic
	 * exchange, since a dispatch is applied from any CPU's ops.dispatch() without that lock.
	 */
	u64 custody_seq;
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

/* Shift of the preempt count's hard-IRQ field, 0 until the first ops.tick() has found it. */
static volatile u32 hardirq_shift;

/*
 * Whether the current CPU runs an interrupt handler (hard IRQ), e.g. the timer that woke a sleeping task. False
 * until the first tick has located the hard-IRQ field.
 */
static bool in_hardirq(void)
{
	const int *count;
	u32 shift = hardirq_shift;

	if (!shift || shift > 28 || !bpf_ksym_exists(&__preempt_count))
		return false;
	count = bpf_this_cpu_ptr(&__preempt_count);
	return (*count >> shift) & RL_HARDIRQ_FIELD;
}

/*
 * Whether the wakeup being enqueued on this CPU was made by an interrupt handler of this CPU (a timer, a device),
 * rather than by a task (directly, or through the wakeup list another CPU sent here by IPI).
 */
static bool woken_by_interrupt(void)
{
	struct rq *rq;

	if (!in_hardirq())
		return false;
	if (!bpf_ksym_exists(&runqueues) || !bpf_core_field_exists(struct rq, ttwu_pending))
		return true;
	rq = bpf_this_cpu_ptr(&runqueues);
	return !rq->ttwu_pending;
}

static bool usersched_has_work(void)
{
	return nr_scheduled || bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA) > 0;
}

/*
 * User space is unresponsive when tasks wait in its custody but none of its dispatches has been applied for
 * @fallback_ns: whether or not the scheduler thread runs. (It can run without making progress: seen once with the
 * thread on one CPU and 43 tasks in custody for 6 s while the other CPU idled, which the watchdog ended.) Entering
 * and leaving the state is counted once per episode. In the state, ops.enqueue() bypasses user space, so custody
 * drains (fallback_one()) and the state ends; if user space is still stuck, the next episode starts @fallback_ns
 * later.
 */
static bool usersched_unresponsive(u64 now)
{
	u64 progress = user_progress_ns;
	bool stuck = counters.nr_custody > 0 && now > progress && now - progress > fallback_ns;

	if (stuck != in_fallback) {
		in_fallback = stuck;
		if (stuck) {
			stat_inc(fallback_episodes);
			dbg("rustland: fallback on: now=%llu progress=%llu limit=%llu", now, progress, fallback_ns);
			dbg("rustland: fallback on: usersched_cpu=%d custody=%llu", usersched_cpu, counters.nr_custody);
		}
	}
	return stuck;
}

/*
 * Claim an idle CPU of @mask, near @near_cpu's NUMA node if @numa_local_idle. With per-node idle tracking on (which
 * numa_local_idle implies), only the _node kfuncs may be used; without the IN_NODE flag they fall back to other
 * nodes.
 */
static s32 pick_idle_in(const struct cpumask *mask, s32 near_cpu, bool same_node_only)
{
	u64 flags = 0;
	int node;

	if (!numa_local_idle)
		return scx_bpf_pick_idle_cpu(mask, 0);
	if (same_node_only)
		flags = __COMPAT_ENUM_OR_ZERO(enum scx_pick_idle_cpu_flags, SCX_PICK_IDLE_IN_NODE);
	node = __COMPAT_scx_bpf_cpu_node(near_cpu >= 0 ? near_cpu : bpf_get_smp_processor_id());
	return __COMPAT_scx_bpf_pick_idle_cpu_node(mask, node, flags);
}

static s32 pick_idle(const struct task_struct *p, s32 prev_cpu)
{
	s32 cpu;

	if (prev_cpu >= 0 && bpf_cpumask_test_cpu(prev_cpu, p->cpus_ptr) &&
	    scx_bpf_test_and_clear_cpu_idle(prev_cpu))
		return prev_cpu;
	if (is_pinned(p))
		return -EBUSY;
	if (numa_local_idle) {
		cpu = pick_idle_in(p->cpus_ptr, prev_cpu, true);
		if (cpu >= 0)
			return cpu;
	}
	return pick_idle_in(p->cpus_ptr, prev_cpu, false);
}

/*
 * Whether every CPU runs one of our tasks (cpu_started_ns), so that none is idle: a few loads instead of a search
 * of the idle mask (three kfunc calls), on the path of every wakeup under load.
 */
static bool all_cpus_run_ours(void)
{
	u64 *started;
	s32 cpu;

	bpf_for(cpu, 0, nr_cpu_ids) {
		if (cpu >= RL_MAX_CPUS)
			break;
		started = MEMBER_VPTR(cpu_started_ns, [cpu]);
		if (!started || !*started)
			return false;
	}
	return true;
}

/* Claim any idle online CPU, or return a negative errno. */
static s32 pick_any_idle_cpu(void)
{
	const struct cpumask *online;
	s32 cpu;

	if (all_cpus_run_ours())
		return -EBUSY;

	online = scx_bpf_get_online_cpumask();
	cpu = pick_idle_in(online, -1, false);
	scx_bpf_put_cpumask(online);
	return cpu;
}

/*
 * The CPU to preempt on behalf of @p: of the CPUs @p may use (any CPU if @p is NULL), the one whose current task has
 * run longest, if that task ran at least @preempt_min_ns. -1 if there is none.
 *
 * The current CPU gets no preference although preempting it needs no inter-processor interrupt: the task running
 * here is often the waker, and interrupting its batch of messages made hackbench 1.5-1.7x slower without helping
 * cyclictest under hogs (docs/benchmarks.md).
 */
static s32 pick_victim(const struct task_struct *p)
{
	u64 now = now_ns(), oldest = 0;
	s32 cpu, victim = -1;
	u64 *started;

	bpf_for(cpu, 0, nr_cpu_ids) {
		if (cpu >= RL_MAX_CPUS)
			break;
		started = MEMBER_VPTR(cpu_started_ns, [cpu]);
		if (!started || !*started || (p && !bpf_cpumask_test_cpu(cpu, p->cpus_ptr)))
			continue;
		if (victim < 0 || *started < oldest) {
			victim = cpu;
			oldest = *started;
		}
	}
	dbg("rustland: victim cpu=%d ran=%llu", victim, victim >= 0 ? now - oldest : 0);
	if (victim < 0 || now <= oldest || now - oldest < preempt_min_ns)
		return -1;
	return victim;
}

/*
 * Whether a task of a higher scheduling class runs on @cpu: neither idle, nor one of our tasks (cpu_started_ns), nor
 * the user-space scheduler. (ops.cpu_release() is not enough to tell: it is not called when such a task takes an
 * idle CPU.)
 */
static bool cpu_is_taken(s32 cpu)
{
	struct task_struct *curr;
	u64 *started;

	if (cpu < 0 || cpu >= RL_MAX_CPUS)
		return true;
	started = MEMBER_VPTR(cpu_started_ns, [cpu]);
	if (started && *started)
		return false;
	curr = __COMPAT_scx_bpf_cpu_curr(cpu);
	return curr && curr->pid != 0 && !is_usersched(curr);
}

/*
 * Make the user-space scheduler run promptly because @p was queued to it: wake an idle CPU for it or, if @preempt,
 * preempt a CPU @p may use (the one whose task has run longest). That CPU is also where the scheduler goes if it is
 * asleep (select_cpu), so a single CPU is preempted, and, when @p can run on one CPU only, it is the CPU that then
 * takes @p from the shared DSQ right after the scheduler's round.
 */
static void kick_usersched(const struct task_struct *p, bool preempt)
{
	s32 cpu;

	__sync_fetch_and_or(&usersched_needed, 1);

	/* Running already: it sees the new record before it parks itself (see ops.enqueue()). */
	if (usersched_cpu >= 0) {
		dbg("rustland: usersched running on cpu=%d", usersched_cpu);
		return;
	}

	cpu = pick_any_idle_cpu();
	if (cpu >= 0) {
		usersched_wake_cpu = cpu;
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	if (!preempt)
		return;
	/*
	 * Woken by an interrupt (a timer: cyclictest, any sleep) while the scheduler sleeps in poll: the ring's wakeup
	 * wakes it from this CPU (irq_work) as soon as the handler is done, and its ops.enqueue() preempts the task
	 * running here. So no kick, and no other CPU disturbed: the task this interrupt interrupted is not the waker,
	 * and @p then runs here after the scheduler's round, as it would under the kernel's default scheduler. (A
	 * task waking another one keeps its CPU: see pick_victim().)
	 */
	cpu = bpf_get_smp_processor_id();
	if (usersched_asleep && !partial_mode && in_hardirq() && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && !cpu_is_taken(cpu)) {
		usersched_wake_cpu = cpu;
		return;
	}
	/*
	 * If @p's CPUs all started their task too recently, run the scheduler elsewhere: @p's dispatch then preempts
	 * its CPU if @p comes first (insert_shared()).
	 */
	cpu = pick_victim(p);
	if (cpu < 0)
		cpu = pick_victim(NULL);
	if (cpu >= 0) {
		usersched_wake_cpu = cpu;
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	}
}

/* Kick @cpu after inserting a task into its DSQ (preempting its current task if asked). */
static void kick_target(s32 cpu, bool preempt)
{
	if (preempt)
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	else if (cpu != bpf_get_smp_processor_id())
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

/*
 * Wake every CPU but @except that is idle (SCX_KICK_IDLE leaves busy ones alone), whether or not the idle mask shows
 * it: a CPU claimed from the mask whose task then went elsewhere stays idle and out of the mask.
 */
static void kick_idle_cpus(s32 except)
{
	s32 cpu;

	bpf_for(cpu, 0, nr_cpu_ids) {
		if (cpu != except)
			scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	}
}

/* Insert @p into @cpu's local DSQ (FIFO), recording @vtime for its next enqueue. */
static void insert_on_cpu(struct task_struct *p, s32 cpu, u64 slice, u64 vtime, u64 enq_flags)
{
	scx_bpf_task_set_dsq_vtime(p, vtime);
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, slice, enq_flags);
}

/* Whether @cpu runs one of our tasks whose vtime is after @vtime. */
static bool runs_later_than(s32 cpu, u64 vtime)
{
	u64 *started, *running_vtime;

	if (cpu < 0 || cpu >= RL_MAX_CPUS)
		return false;
	started = MEMBER_VPTR(cpu_started_ns, [cpu]);
	running_vtime = MEMBER_VPTR(cpu_vtime, [cpu]);
	return started && *started && running_vtime && (s64)(vtime - *running_vtime) < 0;
}

/*
 * Insert @p into the shared DSQ and wake a CPU that can run it.
 *
 * A task pinned to one CPU goes into the shared DSQ too, not into its CPU's local DSQ: a CPU runs what is in its
 * local DSQ before ops.dispatch() is called, so pinned tasks taking turns there (each one's slice end re-queues it
 * behind the other) would keep that CPU from ever taking work from the shared DSQ, and an unpinned task there could
 * wait for seconds. In the shared DSQ all tasks are in one vtime order; a CPU consuming it skips the tasks it cannot
 * run, and the pinned task's own CPU is kicked.
 */
static void insert_shared(struct task_struct *p, u64 slice, u64 vtime, u64 enq_flags, bool preempt)
{
	s32 cpu;

	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, slice, vtime, enq_flags);
	if (is_pinned(p)) {
		cpu = scx_bpf_task_cpu(p);
		/*
		 * Its CPU runs a task that comes later in the shared DSQ's order: preempt it, or the pinned task waits
		 * for that task's slice to end although it comes first. (The current CPU takes from the shared DSQ
		 * anyway when called from ops.dispatch().)
		 */
		if (!preempt && cpu != bpf_get_smp_processor_id() && runs_later_than(cpu, vtime))
			preempt = true;
		kick_target(cpu, preempt);
		return;
	}
	cpu = all_cpus_run_ours() ? -EBUSY : pick_idle_in(p->cpus_ptr, scx_bpf_task_cpu(p), false);
	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	} else if (preempt) {
		cpu = pick_victim(p);
		if (cpu >= 0)
			scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	}
}


/*
 * The CPU kick_usersched() claimed (idle) or preempted for the user-space scheduler @p, if it may still go there
 * (no task of a higher scheduling class has taken it since); else -1.
 */
static s32 usersched_kicked_cpu(const struct task_struct *p)
{
	s32 cpu = usersched_wake_cpu;

	if (cpu >= 0 && cpu < nr_cpu_ids && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && !cpu_is_taken(cpu))
		return cpu;
	return -1;
}

/*
 * The CPU a waking user-space scheduler goes to when none is idle: the one kick_usersched() picked for it, else
 * @dfl_cpu, else any CPU it may use; in each case only a CPU that no task of a higher scheduling class has taken,
 * if there is one. There it would wait in the local DSQ for as long as that task runs: seen in partial mode, 950 ms
 * behind a normal task while the other CPU ran SCHED_EXT tasks through the fallback.
 */
static s32 usersched_wake_target(const struct task_struct *p, s32 dfl_cpu)
{
	s32 cpu = usersched_kicked_cpu(p);

	if (cpu >= 0)
		return cpu;
	if (!cpu_is_taken(dfl_cpu))
		return dfl_cpu;
	bpf_for(cpu, 0, nr_cpu_ids) {
		if (!cpu_is_taken(cpu) && bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			return cpu;
	}
	return dfl_cpu;
}

s32 BPF_STRUCT_OPS(rustland_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	if (!builtin_idle && !is_usersched(p))
		return prev_cpu;
	/* No CPU can be idle while every one runs one of our tasks: spare the search (wakeups under load). */
	if (!is_usersched(p) && all_cpus_run_ours())
		return prev_cpu;

	/*
	 * The user-space scheduler goes to the CPU kick_usersched() claimed (idle) or preempted for it, without a
	 * search, unless a task of a higher class has taken it since; else to an idle CPU, else to its previous CPU,
	 * whose current task it preempts (ops.enqueue()).
	 */
	if (is_usersched(p) && !partial_mode) {
		cpu = usersched_kicked_cpu(p);
		if (cpu >= 0)
			return cpu;
	}
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_usersched(p)) {
		if (is_idle) {
			/* In partial mode a normal task may take the CPU first: see usersched_enqueue_shared(). */
			if (!partial_mode)
				scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
			return cpu;
		}
		return usersched_wake_target(p, cpu);
	}
	if (is_idle) {
		if (!scx_bpf_dsq_nr_queued(SHARED_DSQ)) {
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, kernel_slice(), 0);
			stat_inc(kernel_dispatches);
		} else {
			/*
			 * Tasks wait in the shared DSQ, so @p goes through user space, but the idle CPU was claimed
			 * (it no longer looks idle to anyone): wake it, it takes work from the shared DSQ or runs the
			 * user-space scheduler.
			 */
			scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		}
	}
	return cpu;
}

/* Take a task out of user space's custody (it left our hands without a dispatch of user space). */
static void custody_forget(struct task_ctx *tctx)
{
	if (tctx && __sync_lock_test_and_set(&tctx->custody_seq, 0))
		stat_dec(nr_custody);
}

/* Hand @p to user space. Returns false if the ring is full. */
static bool queue_to_user(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags)
{
	struct rl_queued_task *rec;
	u64 seq = tctx->enq_seq + 1;
	u64 flags = 0;

	rec = bpf_ringbuf_reserve(&queued, sizeof(*rec), 0);
	if (!rec)
		return false;
	/* The first task to wait starts the clock of usersched_unresponsive(). */
	if (!__sync_fetch_and_add(&counters.nr_custody, 1))
		user_progress_ns = now_ns();
	tctx->enq_seq = seq;
	/* Before the record is visible: the dispatch answering it must find it. */
	__sync_lock_test_and_set(&tctx->custody_seq, seq);
	if (enq_flags & SCX_ENQ_WAKEUP)
		flags |= RL_ENQ_WAKEUP;
	if (tctx->is_new)
		flags |= RL_ENQ_NEW;
	else if (!(enq_flags & SCX_ENQ_WAKEUP))
		flags |= RL_ENQ_PREEMPTED;
	tctx->is_new = false;
	tctx->seen = true;

	rec->kind = RL_MSG_QUEUED;
	rec->pid = p->pid;
	rec->prev_cpu = scx_bpf_task_cpu(p);
	rec->nr_cpus_allowed = p->nr_cpus_allowed;
	rec->flags = flags;
	rec->start_ns = tctx->start_ns;
	rec->stop_ns = tctx->stop_ns;
	rec->exec_runtime_ns = tctx->exec_runtime_ns;
	rec->weight = p->scx.weight;
	rec->vtime = p->scx.dsq_vtime;
	rec->enq_seq = seq;
	__builtin_memcpy(rec->comm, p->comm, RL_COMM_LEN);
	/* Adaptive wakeup: only wakes user space if it sleeps waiting for this ring (see yield_cpu()). */
	bpf_ringbuf_submit(rec, 0);
	stat_inc(queued_sent);
	dbg("rustland: queue pid=%d seq=%llu flags=0x%llx", p->pid, seq, flags);
	return true;
}

/*
 * Whether tasks wait in @cpu's local DSQ. A scheduler woken there would run ahead of them (it goes to the head), and
 * then they would run ahead of everything its round dispatches to any CPU: @cpu calls ops.dispatch(), which applies
 * those dispatches, only once its local DSQ is empty. Seen in a trace: cyclictest waited 4.4 ms, a whole slice of
 * the CPU hog queued on the scheduler's CPU while it ran.
 */
static bool local_tasks_wait(s32 cpu)
{
	return cpu >= 0 && cpu < nr_cpu_ids && scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL_ON | cpu) > 0;
}

/*
 * The user-space scheduler is about to wait in the local DSQ of a CPU that a task of a higher scheduling class has
 * taken (it was re-enqueued by ops.cpu_release(), or woke there), where it would wait until that task lets go (for
 * as long as a CPU hog runs, in partial mode), or to go ahead of tasks waiting there (local_tasks_wait(); then
 * @empty_local: only to a CPU without such tasks): put it on another CPU, an idle one or the one whose task ran
 * longest, preempting that task. Returns false if there is none.
 */
static bool usersched_move_away(struct task_struct *p, u64 enq_flags, bool empty_local)
{
	s32 cpu = pick_any_idle_cpu();

	if (cpu < 0)
		cpu = pick_victim(p);
	if (cpu < 0 || cpu == scx_bpf_task_cpu(p) || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr) || p->migration_disabled)
		return false;
	if (empty_local && local_tasks_wait(cpu)) {
		/* If it was claimed from the idle mask, let it go through idle again (and run its own tasks). */
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return false;
	}
	dbg("rustland: usersched moved away from cpu=%d to cpu=%d", scx_bpf_task_cpu(p), cpu);
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, SCX_SLICE_DFL, enq_flags | SCX_ENQ_HEAD | SCX_ENQ_PREEMPT);
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	return true;
}

/*
 * Partial mode: normal tasks, which run before all of ours, come and go on every CPU (the shell, its commands), and
 * a scheduler thread in a CPU's local DSQ waits behind them even when another CPU runs our tasks; ops.cpu_release()
 * does not even see a normal task take an idle CPU. So the scheduler thread goes into the shared DSQ ahead of every
 * task (vtime 0), where the first CPU that turns to our tasks takes it, and a CPU is kicked to do so: the one it
 * woke on if no normal task has it, else an idle one or the one whose task ran longest. Parked as in full mode when
 * it yields with nothing to do.
 */
static void usersched_enqueue_shared(struct task_struct *p, u64 enq_flags)
{
	s32 cpu;

	if (!(enq_flags & (SCX_ENQ_WAKEUP | SCX_ENQ_REENQ)) && !usersched_has_work() && !usersched_needed)
		return;
	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, SCX_SLICE_DFL, 0, enq_flags);
	cpu = scx_bpf_task_cpu(p);
	if (cpu_is_taken(cpu)) {
		cpu = pick_any_idle_cpu();
		if (cpu < 0)
			cpu = pick_victim(NULL);
	}
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
}

/*
 * Direct wakeup: a task woken by an interrupt of its own CPU (a timer, a device) that runs in short bursts goes
 * straight to that CPU, ahead of the task running there, which it preempts: no round trip through user space, which
 * under load costs more than the rest of the wakeup. The preempted task resumes right after it with the rest of its
 * slice (resume_after_direct()), as if the interrupt had lasted longer; user space sees neither.
 *
 * Bounds: only a task whose last burst lasted at most @direct_wakeup_max_ns, which slept at least four times as long
 * as that, and whose CPU's task ran at least @preempt_min_ns; its slice is @direct_wakeup_max_ns (if it runs longer it
 * goes to user space like any preempted task); direct wakeups use at most a quarter of a CPU in each
 * DIRECT_WINDOW_NS.
 */
static bool direct_wakeup(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags)
{
	s32 cpu = bpf_get_smp_processor_id();
	u64 now, *started, *until, *used, *window, *resume_slice, *resume_at;
	struct task_struct *curr;
	s32 *resume_pid;

	if (!direct_wakeup_max_ns || partial_mode || !(enq_flags & SCX_ENQ_WAKEUP) || tctx->is_new)
		return false;
	if (tctx->last_burst_ns > direct_wakeup_max_ns || cpu != scx_bpf_task_cpu(p) || !woken_by_interrupt())
		return false;
	now = now_ns();
	if (now < tctx->stop_ns || now - tctx->stop_ns < 4 * tctx->last_burst_ns)
		return false;
	started = MEMBER_VPTR(cpu_started_ns, [cpu]);
	until = MEMBER_VPTR(cpu_direct_until_ns, [cpu]);
	used = MEMBER_VPTR(cpu_direct_used_ns, [cpu]);
	window = MEMBER_VPTR(cpu_direct_window_ns, [cpu]);
	resume_pid = MEMBER_VPTR(cpu_resume_pid, [cpu]);
	resume_slice = MEMBER_VPTR(cpu_resume_slice, [cpu]);
	resume_at = MEMBER_VPTR(cpu_resume_at_ns, [cpu]);
	if (!started || !until || !used || !window || !resume_pid || !resume_slice || !resume_at)
		return false;
	if (!*started || now < *started || now - *started < preempt_min_ns)
		return false;
	if (now < *window || now - *window >= DIRECT_WINDOW_NS) {
		*window = now;
		*used = 0;
	}
	if (*used >= DIRECT_WINDOW_NS / 4)
		return false;

	/* The interrupted task, one of ours (cpu_started_ns): it resumes after @p. */
	curr = bpf_get_current_task_btf();
	*resume_pid = curr->pid;
	*resume_slice = curr->scx.slice;
	*resume_at = now;
	*until = now + direct_wakeup_max_ns;
	tctx->direct = true;
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, direct_wakeup_max_ns, enq_flags | SCX_ENQ_PREEMPT | SCX_ENQ_HEAD);
	stat_inc(direct_wakeups);
	dbg("rustland: direct wakeup pid=%d cpu=%d burst=%llu", p->pid, cpu, tctx->last_burst_ns);
	return true;
}

/*
 * @p was preempted by a direct wakeup on its CPU a moment ago: it goes back to that CPU, behind the woken task, with
 * the rest of its slice.
 */
static bool resume_after_direct(struct task_struct *p, u64 enq_flags)
{
	s32 cpu = scx_bpf_task_cpu(p);
	s32 *resume_pid = MEMBER_VPTR(cpu_resume_pid, [cpu]);
	u64 *resume_slice = MEMBER_VPTR(cpu_resume_slice, [cpu]);
	u64 *resume_at = MEMBER_VPTR(cpu_resume_at_ns, [cpu]);
	u64 now = now_ns();

	if (!resume_pid || !resume_slice || !resume_at || *resume_pid != p->pid || !p->pid)
		return false;
	*resume_pid = 0;
	if (enq_flags & SCX_ENQ_WAKEUP || now < *resume_at || now - *resume_at > direct_wakeup_max_ns || !*resume_slice)
		return false;
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, *resume_slice, enq_flags);
	return true;
}

/*
 * Whether a task put on @cpu by direct_wakeup() is about to run or runs there: a scheduler woken on @cpu then waits for
 * it instead of preempting it (but goes ahead of the task it preempted, which resumes after both).
 */
static bool direct_task_on(s32 cpu)
{
	u64 *until = MEMBER_VPTR(cpu_direct_until_ns, [cpu]);

	return until && *until && now_ns() < *until;
}

void BPF_STRUCT_OPS(rustland_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx;

	if (is_usersched(p) && partial_mode) {
		usersched_enqueue_shared(p, enq_flags);
		return;
	}
	if (is_usersched(p)) {
		usersched_asleep = false;
		if (((enq_flags & SCX_ENQ_REENQ) || cpu_is_taken(scx_bpf_task_cpu(p))) &&
		    usersched_move_away(p, enq_flags, false))
			return;
		if ((enq_flags & SCX_ENQ_WAKEUP) && local_tasks_wait(scx_bpf_task_cpu(p)) &&
		    usersched_move_away(p, enq_flags, true))
			return;
		/*
		 * A woken scheduler (it sleeps in epoll after each round) preempts whatever runs on its CPU and goes to
		 * the head of the local DSQ, ahead of tasks already queued there (it wakes once per sleep, so it cannot
		 * monopolise the CPU this way). Otherwise it is parked unless there is work; work that arrives later
		 * sets usersched_needed and ops.dispatch() puts it back on a CPU.
		 */
		if ((enq_flags & SCX_ENQ_WAKEUP) && direct_task_on(scx_bpf_task_cpu(p)))
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags | SCX_ENQ_HEAD);
		else if (enq_flags & SCX_ENQ_WAKEUP)
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL,
					   enq_flags | SCX_ENQ_PREEMPT | SCX_ENQ_HEAD);
		else if (usersched_has_work() || usersched_needed)
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags);
		return;
	}

	if (must_bypass(p)) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, kernel_slice(), enq_flags);
		stat_inc(kernel_dispatches);
		return;
	}

	if (direct_wakeup_max_ns && resume_after_direct(p, enq_flags)) {
		stat_inc(kernel_dispatches);
		return;
	}

	if (usersched_unresponsive(now_ns())) {
		insert_shared(p, kernel_slice(), p->scx.dsq_vtime, enq_flags, false);
		stat_inc(fallback_dispatches);
		return;
	}

	/* A record of an earlier enqueue may still be in user space: it is stale from now on. */
	tctx = lookup_task_ctx(p);
	custody_forget(tctx);
	if (tctx && direct_wakeup(p, tctx, enq_flags))
		return;
	if (!tctx || !queue_to_user(p, tctx, enq_flags)) {
		insert_shared(p, kernel_slice(), p->scx.dsq_vtime, enq_flags, false);
		stat_inc(congested_dispatches);
		return;
	}

	/* A woken task must not wait for a CPU hog's slice to end before user space sees it: preempt if needed. */
	kick_usersched(p, enq_flags & SCX_ENQ_WAKEUP);
}

void BPF_STRUCT_OPS(rustland_dequeue, struct task_struct *p, u64 deq_flags)
{
	custody_forget(lookup_task_ctx(p));
}

/* Drop a stale dispatch. User space may have claimed its CPU from the idle mask for it: let that CPU idle properly. */
static void cancel_dispatch(const struct rl_dispatch *d)
{
	stat_inc(cancelled_dispatches);
	if (d->cpu != RL_CPU_ANY && d->cpu < nr_cpu_ids)
		scx_bpf_kick_cpu(d->cpu, SCX_KICK_IDLE);
}

/* Apply one dispatch from user space. */
static long handle_dispatch(struct bpf_dynptr *dynptr, void *context)
{
	const struct rl_dispatch *d;
	struct task_struct *p;
	struct task_ctx *tctx;
	u32 pid;
	s32 cpu;
	bool preempt;

	__sync_fetch_and_add(&dispatches_drained, 1);
	d = bpf_dynptr_data(dynptr, 0, sizeof(*d));
	if (!d)
		return 0;

	pid = d->pid;
	p = bpf_task_from_pid(pid);
	if (!p) {
		cancel_dispatch(d);
		return !scx_bpf_dispatch_nr_slots();
	}
	/* Applied only if it answers the record user space holds now (sequence numbers start at 1). */
	tctx = lookup_task_ctx(p);
	if (!tctx || !d->enq_seq || __sync_val_compare_and_swap(&tctx->custody_seq, d->enq_seq, 0) != d->enq_seq) {
		bpf_task_release(p);
		cancel_dispatch(d);
		return !scx_bpf_dispatch_nr_slots();
	}
	stat_dec(nr_custody);

	preempt = d->flags & RL_DISPATCH_PREEMPT;
	cpu = d->cpu;
	if (d->cpu == RL_CPU_ANY) {
		insert_shared(p, d->slice_ns, d->vtime, 0, preempt);
	} else if (cpu < 0 || cpu >= nr_cpu_ids || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr) ||
		   (is_pinned(p) && cpu != scx_bpf_task_cpu(p))) {
		insert_shared(p, d->slice_ns, d->vtime, 0, preempt);
		stat_inc(bounced_dispatches);
	} else if (is_pinned(p)) {
		/* Its own CPU: through the shared DSQ all the same (see insert_shared()). */
		insert_shared(p, d->slice_ns, d->vtime, 0, preempt);
	} else {
		insert_on_cpu(p, cpu, d->slice_ns, d->vtime, 0);
		kick_target(cpu, preempt);
	}
	stat_inc(user_dispatches);
	dbg("rustland: dispatch pid=%d cpu=%d vtime=%llu", pid, d->cpu, d->vtime);
	bpf_task_release(p);

	return !scx_bpf_dispatch_nr_slots();
}

/*
 * Fallback: move the tasks in unresponsive user space's custody into the shared DSQ, as many as this ops.dispatch()
 * may insert. Custody lives in task-local storage, so this walks every thread (rare: only while user space is
 * unresponsive; an entry taken since is skipped by the atomic exchange).
 */
static void fallback_custody(void)
{
	struct task_struct *pos, *p;
	struct task_ctx *tctx;

	bpf_for_each(task, pos, NULL, BPF_TASK_ITER_ALL_THREADS) {
		if (!counters.nr_custody || !scx_bpf_dispatch_nr_slots())
			break;
		tctx = bpf_task_storage_get(&task_ctx_stor, pos, 0, 0);
		if (!tctx || !tctx->custody_seq)
			continue;
		p = bpf_task_from_pid(pos->pid);
		if (!p)
			continue;
		if (__sync_lock_test_and_set(&tctx->custody_seq, 0)) {
			stat_dec(nr_custody);
			insert_shared(p, kernel_slice(), p->scx.dsq_vtime, 0, false);
			stat_inc(fallback_dispatches);
		}
		bpf_task_release(p);
	}
}

static void dispatch_usersched(s32 this_cpu)
{
	struct task_struct *p;
	s32 cpu;

	p = bpf_task_from_pid(usersched_pid);
	if (!p)
		return;
	/*
	 * Ignored by the kernel unless the scheduler is parked (queued and in no DSQ). A parked scheduler that is
	 * migration-disabled (preempted inside a BPF syscall) must stay on its CPU.
	 */
	cpu = scx_bpf_task_cpu(p);
	if (cpu == this_cpu || (!p->migration_disabled && bpf_cpumask_test_cpu(this_cpu, p->cpus_ptr))) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	} else {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, SCX_SLICE_DFL, 0);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	}
	bpf_task_release(p);
}

void BPF_STRUCT_OPS(rustland_dispatch, s32 cpu, struct task_struct *prev)
{
	u64 now = now_ns(), applied = counters.user_dispatches;

	if (usersched_unresponsive(now))
		fallback_custody();

	/*
	 * Not while it runs: scx_bpf_dsq_insert() sets the slice of a running task even though the insert itself is
	 * ignored, so a running scheduler would keep its CPU indefinitely while that CPU's local DSQ waits.
	 */
	if (usersched_cpu < 0 && (__sync_fetch_and_and(&usersched_needed, 0) || usersched_has_work()))
		dispatch_usersched(cpu);

	/*
	 * Always, not only when dispatches_sent shows pending ones: a scheduler preempted between submitting a dispatch
	 * and publishing its count would leave it in the ring, unseen by every CPU until it runs again (under
	 * single-threaded TCG that caused fallback episodes; docs/benchmarks.md).
	 */
	bpf_user_ringbuf_drain(&dispatched, handle_dispatch, NULL, BPF_RB_NO_WAKEUP);
	/* Progress for usersched_unresponsive(): user space's dispatches are being applied. */
	if (counters.user_dispatches != applied)
		user_progress_ns = now;

	scx_bpf_dsq_move_to_local(SHARED_DSQ, 0);
}

/*
 * A task of a higher scheduling class (in partial mode any normal task; otherwise RT and deadline tasks) took @cpu:
 * the tasks waiting in its local DSQ go through ops.enqueue() again (SCX_ENQ_REENQ) so that they can run elsewhere
 * instead of waiting for that task, the user-space scheduler first of all.
 */
void BPF_STRUCT_OPS(rustland_cpu_release, s32 cpu, struct scx_cpu_release_args *args)
{
	dbg("rustland: cpu=%d taken by a higher class: re-enqueue its local DSQ", cpu);
	scx_bpf_reenqueue_local();
}

void BPF_STRUCT_OPS(rustland_running, struct task_struct *p)
{
	s32 cpu = scx_bpf_task_cpu(p);
	u64 now = now_ns();
	struct task_ctx *tctx;
	u64 *started, *running_vtime;

	if (is_usersched(p)) {
		usersched_cpu = cpu;
		usersched_wake_cpu = -1;
		usersched_asleep = false;
		usersched_seen_ns = now;
		/*
		 * It reads every record queued so far, so a request to run it made before now is answered; one made
		 * while it runs sets the flag again (kick_usersched()). Left set, the flag would make the next
		 * ops.dispatch() try to put a sleeping scheduler on a CPU, once per round.
		 */
		__sync_lock_test_and_set(&usersched_needed, 0);
		return;
	}

	started = MEMBER_VPTR(cpu_started_ns, [cpu]);
	running_vtime = MEMBER_VPTR(cpu_vtime, [cpu]);
	if (running_vtime)
		*running_vtime = p->scx.dsq_vtime;
	if (started)
		*started = now;
	stat_inc(nr_running);

	tctx = lookup_task_ctx(p);
	if (tctx)
		tctx->start_ns = now;
}

/*
 * The user-space scheduler leaves @cpu with dispatches still in the user ring. Only ops.dispatch() applies them, and
 * @cpu calls it only once its local DSQ is empty: if tasks are queued there, each may run a whole slice first while
 * the dispatched tasks (often bound for an idle CPU) wait. Wake the idle CPUs instead: any CPU's ops.dispatch()
 * drains the whole ring.
 */
static void drain_elsewhere_if_stuck(s32 cpu)
{
	if (dispatches_sent == dispatches_drained || !scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL))
		return;
	dbg("rustland: drain elsewhere: sent=%llu drained=%llu", dispatches_sent, dispatches_drained);
	kick_idle_cpus(cpu);
}

void BPF_STRUCT_OPS(rustland_stopping, struct task_struct *p, bool runnable)
{
	s32 cpu = scx_bpf_task_cpu(p);
	u64 now = now_ns();
	struct task_ctx *tctx;
	u64 *started;

	if (is_usersched(p)) {
		/*
		 * An atomic exchange, a full barrier: the parking decision in ops.enqueue() that follows reads
		 * usersched_needed, which kick_usersched() sets before it reads usersched_cpu. One of the two sides
		 * sees the other's write, so a record never waits for a parked scheduler nobody kicks.
		 */
		__sync_lock_test_and_set(&usersched_cpu, -1);
		usersched_asleep = !runnable;
		usersched_seen_ns = now;
		drain_elsewhere_if_stuck(cpu);
		return;
	}

	started = MEMBER_VPTR(cpu_started_ns, [cpu]);
	if (started)
		*started = 0;
	stat_dec(nr_running);

	tctx = lookup_task_ctx(p);
	if (tctx) {
		if (tctx->direct) {
			u64 *until = MEMBER_VPTR(cpu_direct_until_ns, [cpu]);
			u64 *used = MEMBER_VPTR(cpu_direct_used_ns, [cpu]);

			tctx->direct = false;
			if (until)
				*until = 0;
			if (used && now > tctx->start_ns)
				*used += now - tctx->start_ns;
		}
		tctx->stop_ns = now;
		/*
		 * Runtime since the task last slept: a task that stops to sleep starts again from 0 when it wakes (here
		 * rather than in an ops.runnable() callback, one BPF call fewer per wakeup).
		 */
		if (now > tctx->start_ns)
			tctx->exec_runtime_ns += now - tctx->start_ns;
		if (!runnable) {
			tctx->last_burst_ns = tctx->exec_runtime_ns;
			tctx->exec_runtime_ns = 0;
		}
	}
}

/*
 * The scheduler tick runs in the timer interrupt, so the hard-IRQ field of the preempt count holds 1 here, above the
 * preemption and softirq fields (and below NMI's, which is 0, and x86's folded need-resched bit 31, left out): its
 * position is the highest bit set. Found once; in_hardirq() says false until then.
 */
void BPF_STRUCT_OPS(rustland_tick, struct task_struct *p)
{
	const int *count;
	u32 pc, bit;

	if (hardirq_shift || !bpf_ksym_exists(&__preempt_count))
		return;
	count = bpf_this_cpu_ptr(&__preempt_count);
	pc = (u32)*count & 0x7fffffff;
	bpf_for(bit, 16, 29) {
		if (pc >> bit == 1) {
			hardirq_shift = bit;
			dbg("rustland: hard-IRQ field of the preempt count at bit %u (0x%x)", bit, pc);
			break;
		}
	}
}

void BPF_STRUCT_OPS(rustland_enable, struct task_struct *p)
{
	p->scx.dsq_vtime = 0;
}

s32 BPF_STRUCT_OPS(rustland_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *tctx;

	tctx = bpf_task_storage_get(&task_ctx_stor, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -ENOMEM;
	tctx->is_new = true;
	return 0;
}

void BPF_STRUCT_OPS(rustland_exit_task, struct task_struct *p, struct scx_exit_task_args *args)
{
	struct rl_queued_task *rec;
	struct task_ctx *tctx;

	tctx = lookup_task_ctx(p);
	custody_forget(tctx);
	if (!tctx || !tctx->seen || is_usersched(p))
		return;

	rec = bpf_ringbuf_reserve(&queued, sizeof(*rec), 0);
	if (!rec) {
		stat_inc(exits_lost);
		return;
	}
	__builtin_memset(rec, 0, sizeof(*rec));
	rec->kind = RL_MSG_EXITED;
	rec->pid = p->pid;
	bpf_ringbuf_submit(rec, 0);
	stat_inc(exits_sent);
}

/*
 * Wake user space if it sleeps waiting for the @queued ring, whether or not a record is there: a record reserved
 * and discarded advances the ring's producer position, which is what makes the ring readable to poll(2), and
 * BPF_RB_FORCE_WAKEUP wakes the waiter however far behind the consumer is. User space skips discarded records.
 */
static void wake_user_ring(void)
{
	struct rl_queued_task *rec = bpf_ringbuf_reserve(&queued, sizeof(*rec), 0);

	if (rec)
		bpf_ringbuf_discard(rec, BPF_RB_FORCE_WAKEUP);
}

/*
 * Heartbeat: keeps the user-space scheduler running at least every @heartbeat_ns (so the watchdog never sees it
 * starve on an idle machine) and, when user space is silent, wakes a CPU so ops.dispatch() runs the fallback.
 *
 * User space sleeps in poll(2) on the @queued ring: the heartbeat also wakes it through the ring when it has been
 * silent for @heartbeat_ns, and when records wait while it does not run (a ring wakeup that came late or never;
 * user space only sleeps when the ring is empty).
 */
static int heartbeat_fn(void *map, int *key, struct bpf_timer *timer)
{
	u64 now = now_ns();
	bool silent = usersched_cpu < 0 && now > usersched_seen_ns && now - usersched_seen_ns >= heartbeat_ns;

	if (silent) {
		dbg("rustland: heartbeat: silent %llu ms", (now - usersched_seen_ns) / NSEC_PER_MSEC);
		__sync_fetch_and_or(&usersched_needed, 1);
	}
	if (usersched_cpu < 0 && (silent || bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA) > 0))
		wake_user_ring();
	/*
	 * Wake every idle CPU (SCX_KICK_IDLE leaves busy ones alone) when there is work for one: user space silent or
	 * unresponsive, or tasks waiting in the shared DSQ. Not only the CPUs the idle mask shows: a CPU claimed from
	 * the mask (by select_cpu or user space's idle query) whose task then went elsewhere stays idle and out of
	 * the mask until something wakes it. A safety net, so a runnable task never waits long while a CPU idles.
	 */
	if (silent || usersched_unresponsive(now) || scx_bpf_dsq_nr_queued(SHARED_DSQ) > 0) {
		kick_idle_cpus(-1);
	}

	if (bpf_timer_start(timer, heartbeat_ns, 0))
		scx_bpf_error("failed to re-arm the heartbeat timer");
	return 0;
}

/* Find and claim an idle CPU for a task on behalf of user space. Returns the CPU or a negative errno. */
SEC("syscall")
int rl_pick_idle_cpu(struct rl_pick_idle_arg *arg)
{
	struct task_struct *p;
	s32 cpu;

	p = bpf_task_from_pid(arg->pid);
	if (!p)
		return -ESRCH;
	/* p->cpus_ptr is an RCU pointer outside struct_ops callbacks. */
	bpf_rcu_read_lock();
	cpu = pick_idle(p, arg->prev_cpu);
	bpf_rcu_read_unlock();
	bpf_task_release(p);
	return cpu;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(rustland_init)
{
	struct bpf_timer *timer;
	u32 key = 0;
	int err;

	nr_cpu_ids = scx_bpf_nr_cpu_ids();
	if (nr_cpu_ids > RL_MAX_CPUS) {
		scx_bpf_error("%llu CPUs, at most %d supported", nr_cpu_ids, RL_MAX_CPUS);
		return -E2BIG;
	}

	err = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (err) {
		scx_bpf_error("failed to create the shared DSQ: %d", err);
		return err;
	}

	usersched_seen_ns = now_ns();
	user_progress_ns = usersched_seen_ns;

	timer = bpf_map_lookup_elem(&heartbeat_map, &key);
	if (!timer) {
		scx_bpf_error("heartbeat timer missing");
		return -ENOENT;
	}
	bpf_timer_init(timer, &heartbeat_map, CLOCK_MONOTONIC);
	bpf_timer_set_callback(timer, heartbeat_fn);
	err = bpf_timer_start(timer, heartbeat_ns, 0);
	if (err) {
		scx_bpf_error("failed to start the heartbeat timer: %d", err);
		return err;
	}
	return 0;
}

void BPF_STRUCT_OPS(rustland_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
	/* User space reads the exit info after each round: make it run one now if it sleeps. */
	wake_user_ring();
}

SCX_OPS_DEFINE(rustland,
	       .select_cpu		= (void *)rustland_select_cpu,
	       .enqueue			= (void *)rustland_enqueue,
	       .dequeue			= (void *)rustland_dequeue,
	       .dispatch		= (void *)rustland_dispatch,
	       .cpu_release		= (void *)rustland_cpu_release,
	       .running			= (void *)rustland_running,
	       .stopping		= (void *)rustland_stopping,
	       .tick			= (void *)rustland_tick,
	       .enable			= (void *)rustland_enable,
	       .init_task		= (void *)rustland_init_task,
	       .exit_task		= (void *)rustland_exit_task,
	       .init			= (void *)rustland_init,
	       .exit			= (void *)rustland_exit,
	       /* 10 s: a CPU hog can wait 6 s in a loaded qemu TCG guest, so 5 s is too tight there. */
	       .timeout_ms		= 10000,
	       .dispatch_max_batch	= 256,
	       .name			= "rustland");
