/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: direct wakeups (off unless direct_wakeup_max_ns is set). A short-burst task woken by an
 * interrupt of its own CPU preempts that CPU's task without a round trip through user space, and the preempted task
 * resumes right after it. The per-CPU state they use is in rustland.bpf.h (cpu_direct_*, cpu_resume_*).
 */

/*
 * Direct wakeup: a task woken by an interrupt of its own CPU (a timer, a device) that runs in short bursts goes
 * straight to that CPU, ahead of the task running there, which it preempts: no round trip through user space, which
 * under load costs more than the rest of the wakeup. The preempted task resumes right after it with the rest of its
 * slice (resume.bpf.h), as if the interrupt had lasted longer; user space sees neither.
 *
 * Bounds: only a task whose last burst lasted at most @direct_wakeup_max_ns, which slept at least four times as long
 * as that, and whose CPU's task ran at least @preempt_min_ns; its slice is @direct_wakeup_max_ns (if it runs longer it
 * goes to user space like any preempted task); direct wakeups use at most a quarter of a CPU in each
 * DIRECT_WINDOW_NS.
 */
static bool direct_wakeup(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags)
{
	s32 cpu = bpf_get_smp_processor_id();
	u64 now, *started, *until, *used, *window;

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
	if (!started || !until || !used || !window)
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
	resume_after_preemption(cpu, bpf_get_current_task_btf(), now + direct_wakeup_max_ns, RESUME_LOCAL);
	*until = now + direct_wakeup_max_ns;
	tctx->direct = true;
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, direct_wakeup_max_ns, enq_flags | SCX_ENQ_PREEMPT | SCX_ENQ_HEAD);
	stat_inc(direct_wakeups);
	dbg("rustland: direct wakeup pid=%d cpu=%d burst=%llu", p->pid, cpu, tctx->last_burst_ns);
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
