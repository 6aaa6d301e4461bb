/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: resuming a task that the BPF side preempted for something that is not the policy's choice (a
 * direct wakeup, the user-space scheduler's own round), without a round trip through user space: the policy had
 * chosen it to run, and sees neither the preemption nor the resumption. One task per CPU (cpu_resume_*).
 */

/* How a preempted task resumes. */
enum resume_where {
	RESUME_LOCAL,	/* at its CPU's local DSQ, behind what preempted it (a direct wakeup) */
	RESUME_SHARED,	/* in the shared DSQ, in the policy's order (its vtime) among what user space dispatched */
};

/*
 * @curr, one of our tasks running on @cpu, is about to be preempted there: if its ops.enqueue() comes before
 * @until_ns, resume it @where.
 */
static void resume_after_preemption(s32 cpu, const struct task_struct *curr, u64 until_ns, enum resume_where where)
{
	s32 *resume_pid = MEMBER_VPTR(cpu_resume_pid, [cpu]);
	u64 *resume_slice = MEMBER_VPTR(cpu_resume_slice, [cpu]);
	u64 *resume_until = MEMBER_VPTR(cpu_resume_until_ns, [cpu]);
	u32 *resume_where = MEMBER_VPTR(cpu_resume_where, [cpu]);

	if (!resume_pid || !resume_slice || !resume_until || !resume_where)
		return;
	*resume_pid = curr->pid;
	*resume_slice = curr->scx.slice;
	*resume_until = until_ns;
	*resume_where = where;
}

/* In ops.enqueue(): @p is the task resume_after_preemption() noted on its CPU. Returns whether it was resumed. */
static bool resume_preempted(struct task_struct *p, u64 enq_flags)
{
	s32 cpu = scx_bpf_task_cpu(p);
	s32 *resume_pid = MEMBER_VPTR(cpu_resume_pid, [cpu]);
	u64 *resume_slice = MEMBER_VPTR(cpu_resume_slice, [cpu]);
	u64 *resume_until = MEMBER_VPTR(cpu_resume_until_ns, [cpu]);
	u32 *resume_where = MEMBER_VPTR(cpu_resume_where, [cpu]);

	if (!resume_pid || !resume_slice || !resume_until || !resume_where || *resume_pid != p->pid || !p->pid)
		return false;
	*resume_pid = 0;
	if (enq_flags & SCX_ENQ_WAKEUP || now_ns() > *resume_until || !*resume_slice)
		return false;
	if (*resume_where == RESUME_SHARED)
		insert_shared(p, *resume_slice, p->scx.dsq_vtime, enq_flags, false);
	else
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, *resume_slice, enq_flags);
	return true;
}
