/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: which tasks are in user space's custody, i.e. were handed to it and have not come back.
 *
 * Each hand-over takes a number from one sequence shared by all tasks, so a (pid, sequence) pair names one record
 * for the whole run. The task's local storage holds the number of the record user space holds for it
 * (task_ctx::custody_seq, the authority), and the custody list, an array indexed by sequence number modulo its size,
 * holds (sequence, pid) for every task in custody. The list lets the fallback find those tasks without walking every
 * thread of the machine, and lets user space tell a stale record (its slot no longer holds its sequence number) from
 * a live one without asking the kernel.
 *
 * A slot is taken only when free: a record whose slot is still taken by an older one (a task user space has held for
 * RL_CUSTODY_SLOTS hand-overs) takes the next number instead, so an entry is never overwritten while its task is in
 * custody.
 */

/* Hand-over attempts before giving up on a free slot (the task then goes to the shared DSQ, "congested"). */
#define CUSTODY_TRIES		4

static struct rl_custody_slot *custody_slot(u64 seq)
{
	return MEMBER_VPTR(custody_slots, [seq & (RL_CUSTODY_SLOTS - 1)]);
}

/*
 * Put @p into custody under a new sequence number, before its record becomes visible (the dispatch answering it must
 * find it). Called with @p's runqueue lock held (ops.enqueue()). Returns the number, or 0 if no slot was free.
 */
static u64 custody_enter(const struct task_struct *p, struct task_ctx *tctx)
{
	struct rl_custody_slot *slot = NULL;
	u64 seq = 0;
	int i;

	bpf_for(i, 0, CUSTODY_TRIES) {
		seq = __sync_add_and_fetch(&custody_next_seq, 1);
		slot = custody_slot(seq);
		if (slot && !slot->seq)
			break;
		seq = 0;
	}
	if (!seq || !slot)
		return 0;
	/* The first task to wait starts the clock of usersched_unresponsive(). */
	if (!__sync_fetch_and_add(&counters.nr_custody, 1))
		user_progress_ns = now_ns();
	__sync_lock_test_and_set(&tctx->custody_seq, seq);
	slot->pid = p->pid;
	/* Published last, with a full barrier: whoever sees the number sees the pid and the task's custody_seq. */
	__sync_lock_test_and_set(&slot->seq, seq);
	return seq;
}

/* Free the slot of record @seq, unless a newer record has taken it. */
static void custody_slot_free(u64 seq)
{
	struct rl_custody_slot *slot = custody_slot(seq);

	if (slot)
		__sync_val_compare_and_swap(&slot->seq, seq, 0);
}

/*
 * Take @tctx's task out of custody if user space holds record @seq for it: the caller now owns the task and must
 * insert it (a dispatch of user space, or the fallback). Any CPU may call this without the task's runqueue lock, so
 * the claim is an atomic compare-and-exchange; exactly one claimant wins.
 */
static bool custody_claim(struct task_ctx *tctx, u64 seq)
{
	if (!seq || __sync_val_compare_and_swap(&tctx->custody_seq, seq, 0) != seq)
		return false;
	stat_dec(nr_custody);
	custody_slot_free(seq);
	return true;
}

/* Take a task out of custody without a dispatch of user space (it was dequeued, re-enqueued or exited). */
static void custody_forget(struct task_ctx *tctx)
{
	u64 seq;

	if (!tctx)
		return;
	seq = __sync_lock_test_and_set(&tctx->custody_seq, 0);
	if (seq) {
		stat_dec(nr_custody);
		custody_slot_free(seq);
	}
}

/* The most records custody_run_one_on() looks at, newest first. */
#define CUSTODY_HELD_SCAN	256

/*
 * Take a task in custody whose runqueue is @cpu's out of it and insert it into @cpu's local DSQ, looking at the
 * CUSTODY_HELD_SCAN newest records (custody is short unless user space is away, when the fallback takes it all).
 * Its record in user space becomes stale, and its vtime stays the policy's. Returns whether there was one.
 */
static bool custody_run_one_on(s32 cpu)
{
	u64 newest = custody_next_seq, seq;
	struct rl_custody_slot *slot;
	struct task_struct *p;
	struct task_ctx *tctx;
	bool found = false;
	u32 i;

	bpf_for(i, 0, CUSTODY_HELD_SCAN) {
		if (i >= newest || !counters.nr_custody)
			break;
		slot = custody_slot(newest - i);
		if (!slot)
			break;
		seq = slot->seq;
		if (!seq)
			continue;
		p = bpf_task_from_pid(slot->pid);
		if (!p)
			continue;
		tctx = lookup_task_ctx(p);
		found = scx_bpf_task_cpu(p) == cpu && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && tctx &&
			custody_claim(tctx, seq);
		if (found) {
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, kernel_slice(), 0);
			stat_inc(kernel_dispatches);
		}
		bpf_task_release(p);
		if (found)
			break;
	}
	return found;
}

/*
 * The vtime the policy gave @p last, whatever the fallback ordered it by since. (Both loads are made, so that the
 * compiler cannot merge them into one load from either pointer, which the verifier rejects.)
 */
static u64 policy_vtime(const struct task_struct *p, const struct task_ctx *tctx)
{
	u64 vtime = p->scx.dsq_vtime;

	barrier_var(vtime);
	if (tctx && tctx->fallback_owned)
		vtime = tctx->policy_vtime;
	return vtime;
}
