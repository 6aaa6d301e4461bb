/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: when user space is silent or unresponsive. The fallback (the BPF side dispatches what sits in
 * user space's custody) and the heartbeat timer, which keeps the scheduler running on an idle machine and makes sure
 * the fallback happens even when no CPU calls ops.dispatch().
 */

/* The task iterator (Linux 6.7 and later), for the fallback's walk over custody. */
struct bpf_iter_task;
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task, unsigned int flags) __weak __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __weak __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __weak __ksym;

/*
 * User space is unresponsive when tasks wait in its custody but none of its dispatches has been applied for
 * @fallback_ns: whether or not the scheduler thread runs, since a running thread can be stuck too (spinning on
 * something a task it must schedule holds; docs/reliability.md). Entering and leaving the state is counted once per
 * episode. In the state, ops.enqueue() bypasses user space, so custody drains (fallback_custody()) and the state
 * ends; if user space is still stuck, the next episode starts @fallback_ns later.
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
