/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: choosing CPUs and putting tasks on them. Claiming idle CPUs, choosing the CPU to preempt
 * (the "victim"), telling a CPU taken by a higher scheduling class, kicking CPUs, and inserting a task into a CPU's
 * local DSQ or the shared DSQ (waking a CPU that can run it).
 */

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
 * Whether every CPU but @this_cpu (-1: every CPU) runs one of our tasks (cpu_started_ns), so that none is idle: a few
 * loads instead of a search of the idle mask (three kfunc calls), on the path of every wakeup under load.
 */
static bool other_cpus_run_ours(s32 this_cpu)
{
	u64 *started;
	s32 cpu;

	bpf_for(cpu, 0, nr_cpu_ids) {
		if (cpu >= RL_MAX_CPUS)
			break;
		if (cpu == this_cpu)
			continue;
		started = MEMBER_VPTR(cpu_started_ns, [cpu]);
		if (!started || !*started)
			return false;
	}
	return true;
}

static bool all_cpus_run_ours(void)
{
	return other_cpus_run_ours(-1);
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
 * run longest, if that task ran at least @min_ran_ns. -1 if there is none.
 *
 * The current CPU gets no preference although preempting it needs no inter-processor interrupt: the task running
 * here is often the waker, and interrupting its batch of messages made hackbench 1.5-1.7x slower without helping
 * cyclictest under hogs (docs/benchmarks.md).
 */
static s32 pick_victim_ran(const struct task_struct *p, u64 min_ran_ns)
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
	if (victim < 0 || now <= oldest || now - oldest < min_ran_ns)
		return -1;
	return victim;
}

/* pick_victim_ran() with the least run time any preemption needs, @preempt_min_ns. */
static s32 pick_victim(const struct task_struct *p)
{
	return pick_victim_ran(p, preempt_min_ns);
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

/* Priorities below this are real-time, deadline and stop tasks (include/linux/sched/prio.h). */
#define RL_MAX_RT_PRIO		100
/* The policy of a task of ours in partial mode (include/uapi/linux/sched.h). */
#define RL_SCHED_EXT		7

/*
 * Whether a runnable task of a higher scheduling class is current on @cpu, so that ops.dispatch() is called there
 * only because the kernel's deadline server for our class lent it a share of the CPU: real-time, deadline and stop
 * tasks, and in partial mode any task not of ours. (One that is blocking is leaving the CPU, not holding it.)
 */
static bool cpu_held_by_higher_class(s32 cpu)
{
	const struct task_struct *curr = __COMPAT_scx_bpf_cpu_curr(cpu);

	if (!curr || !curr->pid || curr->__state || is_usersched(curr))
		return false;
	return curr->prio < RL_MAX_RT_PRIO || (partial_mode && curr->policy != RL_SCHED_EXT);
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
