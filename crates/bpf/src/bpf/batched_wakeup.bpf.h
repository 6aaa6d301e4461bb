/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: when a record wakes the user-space scheduler sleeping in poll(2). A woken task's record wakes it
 * at once; the record of a task whose slice ended may wait for the next round, which then takes several such records
 * at once: one round, and one preemption for the scheduler, instead of one per slice end.
 */

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
 * @p's record goes to user space, not for a wakeup (its slice ended, or it was preempted), on @cpu: whether it may
 * wait for the sleeping scheduler's next round instead of waking it. A slice ends only when the CPU has another task
 * to run (the kernel keeps the task running otherwise), so while every other CPU runs one of ours too, nothing but
 * @p waits for this record, and the policy would order @p behind the tasks already dispatched anyway. The round comes
 * when a CPU finds nothing to take (usersched_wake_deferred()), with the next record that may not wait, or
 * DEFER_WAKEUP_MAX_NS after the first record that waits (usersched_wake_overdue()). Three CPU hogs on two CPUs:
 * one round per two slice ends instead of one per slice end (docs/benchmarks.md, "Batched wakeups").
 *
 * Never for a record of the CPU the scheduler sleeps on, nor while a task of a higher scheduling class holds that
 * CPU or @cpu (whose tasks it re-enqueues, SCX_ENQ_REENQ): there our class may run only on the kernel's deadline
 * server, which stops for good when it finds nothing to run (dispatch_on_held_cpu()), and a scheduler left asleep
 * while tasks of that CPU wait in its custody strands them (the vm-test `starve` scenario; the holder of @cpu cannot
 * be told from here, where the CPU's current task is still @p).
 */
static bool usersched_defer_wakeup(const struct task_ctx *tctx, u64 enq_flags, s32 cpu)
{
	u64 since;

	if ((enq_flags & (SCX_ENQ_WAKEUP | SCX_ENQ_REENQ)) || tctx->is_new || partial_mode)
		return false;
	if (!usersched_asleep || usersched_cpu >= 0)
		return false;
	if (cpu == usersched_last_cpu || !other_cpus_run_ours(cpu) || cpu_is_taken(usersched_last_cpu))
		return false;
	since = wakeup_deferred_ns;
	if (!since) {
		__sync_val_compare_and_swap(&wakeup_deferred_ns, 0, now_ns());
		return true;
	}
	return (s64)(now_ns() - since) < (s64)DEFER_WAKEUP_MAX_NS;
}

/*
 * The wakeup flags of the ring submit for a record that goes to user space. Adaptive (0) wakes a consumer that has
 * caught up with the record, which is behind the records that waited: so once one waits, the next record that may
 * not wait forces the wakeup.
 */
static u64 usersched_record_wakeup(const struct task_ctx *tctx, u64 enq_flags, s32 cpu)
{
	if (usersched_defer_wakeup(tctx, enq_flags, cpu)) {
		stat_inc(batched_records);
		return BPF_RB_NO_WAKEUP;
	}
	if (wakeup_deferred_ns && __sync_lock_test_and_set(&wakeup_deferred_ns, 0))
		return BPF_RB_FORCE_WAKEUP;
	return 0;
}

/*
 * @cpu's ops.dispatch() found no task to take: the records that wait get their round now, on @cpu, which would
 * otherwise go idle or keep its task past the slice (unless a dispatch of user space's just went to @cpu's local DSQ).
 */
static void usersched_wake_deferred(s32 cpu)
{
	if (!wakeup_deferred_ns || scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL) || !__sync_lock_test_and_set(&wakeup_deferred_ns, 0))
		return;
	usersched_wake_cpu = cpu;
	wake_user_ring();
}

/* From the tick: records have waited DEFER_WAKEUP_MAX_NS. */
static void usersched_wake_overdue(void)
{
	u64 since = wakeup_deferred_ns;

	if (!since || (s64)(now_ns() - since) < (s64)DEFER_WAKEUP_MAX_NS)
		return;
	if (__sync_lock_test_and_set(&wakeup_deferred_ns, 0))
		wake_user_ring();
}

/*
 * @cpu's ops.dispatch() found no task to take while its task @prev, whose slice ended, may go on running: the kernel
 * then keeps @prev and, without this, gives it a whole default slice (20 ms). While user space holds tasks (records
 * waiting in the ring, the round that reads them under way, tasks its policy keeps), the round is about to put one
 * in the shared DSQ, where it would wait those 20 ms for @cpu, and the next round's task 20 ms more: when the pattern
 * repeats, one of three CPU hogs on two CPUs gets a fraction of its share (vm-test `batched`). So @prev gets
 * KEPT_SLICE_NS, and @cpu looks again at the next tick.
 */
static void keep_prev_briefly(struct task_struct *prev)
{
	if (!prev || is_usersched(prev) || !(prev->scx.flags & SCX_TASK_QUEUED) || prev->scx.slice)
		return;
	if (usersched_has_work() || wakeup_deferred_ns || usersched_cpu >= 0)
		prev->scx.slice = KEPT_SLICE_NS;
}
