/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: who made a wakeup. A wakeup made by an interrupt handler of the current CPU (a timer, a
 * device) is told from one made by a task, from the preempt count's hard-IRQ field and the runqueue's wakeup list.
 * Direct wakeups (direct_wakeup.bpf.h) and kick_usersched() (usersched.bpf.h) use it; ops.tick() locates the field.
 */

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
