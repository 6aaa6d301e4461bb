/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: the two rings between the BPF side and user space. Tasks go to user space as records in the
 * @queued ring and into its custody (custody_seq); user space's dispatches come back through the @dispatched ring
 * and are applied only if they answer the record user space holds now.
 */

/* Hand @p to user space. Returns false if the ring is full (or, rarely, the custody list). */
static bool queue_to_user(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags)
{
	struct rl_queued_task *rec;
	u64 flags = 0, seq, wakeup;

	rec = bpf_ringbuf_reserve(&queued, sizeof(*rec), 0);
	if (!rec)
		return false;
	seq = custody_enter(p, tctx);
	if (!seq) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		return false;
	}
	wakeup = usersched_record_wakeup(tctx, enq_flags, scx_bpf_task_cpu(p));
	if (enq_flags & SCX_ENQ_WAKEUP) {
		flags |= RL_ENQ_WAKEUP;
		__sync_fetch_and_add(&wakeups_queued, 1);
	}
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
	/* The policy's vtime, whatever the fallback ordered the task by meanwhile. */
	rec->vtime = policy_vtime(p, tctx);
	tctx->fallback_owned = false;
	rec->enq_seq = seq;
	__builtin_memcpy(rec->comm, p->comm, RL_COMM_LEN);
	/* Wakes user space only if it sleeps waiting for this ring (see yield_cpu()), and not always then. */
	bpf_ringbuf_submit(rec, wakeup);
	stat_inc(queued_sent);
	dbg("rustland: queue pid=%d seq=%llu flags=0x%llx", p->pid, seq, flags);
	return true;
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
	/* Applied only if it answers the record user space holds now. */
	tctx = lookup_task_ctx(p);
	if (!tctx || !custody_claim(tctx, d->enq_seq)) {
		bpf_task_release(p);
		cancel_dispatch(d);
		return !scx_bpf_dispatch_nr_slots();
	}

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
