/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: when user space is silent or unresponsive. The fallback (the BPF side takes back what sits in
 * user space's custody and schedules every task itself until user space shows progress) and the heartbeat timer,
 * which keeps the scheduler running on an idle machine and makes sure the fallback happens, and ends, even when no
 * CPU calls ops.dispatch().
 */

/* For this long after an episode ends, user space is judged unresponsive after a tenth of @fallback_ns. */
#define FALLBACK_PROBATION_NS	(1000 * NSEC_PER_MSEC)

/* The most slots of the custody list one ops.dispatch() looks at. */
#define FALLBACK_SCAN_SLOTS	512

/* User space shows progress: it drained a dispatch record or consumed a queued record since the episode began. */
static bool user_space_is_back(void)
{
	return dispatches_drained != fallback_drained_at_start ||
	       bpf_ringbuf_query(&queued, BPF_RB_CONS_POS) != fallback_consumed_at_start;
}

static void fallback_begin(u64 now)
{
	fallback_drained_at_start = dispatches_drained;
	fallback_consumed_at_start = bpf_ringbuf_query(&queued, BPF_RB_CONS_POS);
	counters.fallback_since_ns = now;
	stat_inc(fallback_episodes);
	dbg("rustland: fallback on: progress=%llu custody=%llu usersched_cpu=%d", user_progress_ns,
	    counters.nr_custody, usersched_cpu);
	/* A record for user space to consume, the sign of life of one that is only asleep (see heartbeat_fn()). */
	wake_user_ring();
}

static void fallback_end(u64 now)
{
	u64 since = counters.fallback_since_ns, lasted = now > since ? now - since : 0;

	counters.fallback_ns += lasted;
	counters.fallback_last_ns = lasted;
	counters.fallback_since_ns = 0;
	fallback_ended_ns = now;
	/* The clock of usersched_unresponsive() starts again now. */
	user_progress_ns = now;
	dbg("rustland: fallback off after %llu ms", lasted / NSEC_PER_MSEC);
}

/*
 * Whether the BPF side schedules on its own. User space becomes unresponsive when tasks wait in its custody but
 * none of its dispatches has been applied for @fallback_ns, whether or not the scheduler thread runs (a running
 * thread can be stuck too: spinning, or on something a task it must schedule holds; docs/reliability.md). The
 * episode lasts until user space shows progress, not until its custody is empty: it has been away for a while, and
 * tasks handed to it meanwhile would each wait @fallback_ns again. For a second after an episode, a tenth of
 * @fallback_ns is enough: a scheduler that is only starved (a task of a higher class holds its CPU) shows progress
 * now and then, and each of its returns would otherwise make every task it is handed wait @fallback_ns. One CPU
 * begins and ends an episode (atomic exchanges of in_fallback).
 */
static bool usersched_unresponsive(u64 now)
{
	u64 progress, limit = fallback_ns, ended = fallback_ended_ns;

	if (in_fallback) {
		/* While the CPU that begins the episode records where the rings stand, nobody may judge progress. */
		if (in_fallback != FALLBACK_ON || !user_space_is_back())
			return true;
		if (__sync_val_compare_and_swap(&in_fallback, FALLBACK_ON, FALLBACK_OFF) == FALLBACK_ON)
			fallback_end(now);
		return false;
	}
	progress = user_progress_ns;
	if (ended && now > ended && now - ended < FALLBACK_PROBATION_NS)
		limit = fallback_ns / 10;
	if (!counters.nr_custody || now <= progress || now - progress <= limit)
		return false;
	if (__sync_val_compare_and_swap(&in_fallback, FALLBACK_OFF, FALLBACK_BEGINNING) == FALLBACK_OFF) {
		fallback_begin(now);
		__sync_lock_test_and_set(&in_fallback, FALLBACK_ON);
	}
	return true;
}

/*
 * Schedule @p without user space: into FALLBACK_DSQ in the fallback's own weighted vtime order (a task's vtime
 * advances by its run time scaled by 100 / weight, see fallback_stopping(); a task that slept resumes at most one
 * slice behind the fallback's clock), with a bounded slice, on an idle CPU if there is one; a woken task that is
 * behind the clock preempts the CPU whose task has run longest (at least a quarter of a slice), its own CPU if it
 * is pinned (cyclictest's measuring thread is: waiting for the slice end made it late at every period).
 */
static void fallback_insert(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags)
{
	u64 slice = kernel_slice(), clock = fallback_clock;
	u64 floor = clock > slice ? clock - slice : 0, vtime = floor;
	s32 cpu;

	if (tctx) {
		if (!tctx->fallback_owned) {
			tctx->policy_vtime = p->scx.dsq_vtime;
			tctx->fallback_owned = true;
		}
		if ((s64)(tctx->fallback_vtime - floor) > 0)
			vtime = tctx->fallback_vtime;
	}
	scx_bpf_dsq_insert_vtime(p, FALLBACK_DSQ, slice, vtime, enq_flags);
	fallback_dsq_used = true;
	stat_inc(fallback_dispatches);

	if (is_pinned(p)) {
		/* Wakes its CPU if idle; if busy, a wakeup may still preempt it below (pick_victim() keeps to p's CPUs). */
		kick_target(scx_bpf_task_cpu(p), false);
	} else {
		cpu = all_cpus_run_ours() ? -EBUSY : pick_idle_in(p->cpus_ptr, scx_bpf_task_cpu(p), false);
		if (cpu >= 0) {
			scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
			return;
		}
	}
	if (!(enq_flags & SCX_ENQ_WAKEUP) || (s64)(vtime - clock) >= 0)
		return;
	cpu = pick_victim(p);
	if (cpu >= 0 && cpu_started_ns[cpu & (RL_MAX_CPUS - 1)] + slice / 4 < now_ns())
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
}

/* @p, scheduled by the fallback, starts running: the fallback's clock follows the tasks it starts. */
static void fallback_running(const struct task_struct *p, const struct task_ctx *tctx)
{
	if (tctx->fallback_owned && (s64)(p->scx.dsq_vtime - fallback_clock) > 0)
		fallback_clock = p->scx.dsq_vtime;
}

/* @p, scheduled by the fallback, ran for @ran_ns: its fallback vtime advances by that time, weighted. */
static void fallback_stopping(const struct task_struct *p, struct task_ctx *tctx, u64 ran_ns)
{
	u64 weight = p->scx.weight ?: 100;

	if (tctx->fallback_owned)
		tctx->fallback_vtime = p->scx.dsq_vtime + ran_ns * 100 / weight;
}

/*
 * Move tasks in unresponsive user space's custody into FALLBACK_DSQ, as many as this ops.dispatch() may insert,
 * scanning the custody list from where the last scan stopped (at most FALLBACK_SCAN_SLOTS slots per call, so the
 * cost does not depend on how many threads the machine has). An entry taken since by user space's dispatch or by
 * another CPU's scan is skipped: custody_claim() lets one claimant win.
 */
static void fallback_custody(void)
{
	struct rl_custody_slot *slot;
	struct task_struct *p;
	struct task_ctx *tctx;
	u64 seq;
	u32 i;

	bpf_for(i, 0, FALLBACK_SCAN_SLOTS) {
		if (!counters.nr_custody || !scx_bpf_dispatch_nr_slots())
			break;
		slot = custody_slot(custody_cursor++);
		if (!slot)
			break;
		seq = slot->seq;
		if (!seq)
			continue;
		/* Not found: it is exiting, and ops.exit_task() frees its slot. */
		p = bpf_task_from_pid(slot->pid);
		if (!p)
			continue;
		tctx = lookup_task_ctx(p);
		if (tctx && custody_claim(tctx, seq)) {
			fallback_insert(p, tctx, 0);
			stat_inc(fallback_reclaimed);
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
	bool fallback = usersched_unresponsive(now);

	/* In an episode too: a parked scheduler must run to show that it is back. */
	if (silent || fallback) {
		dbg("rustland: heartbeat: silent %llu ms", (now - usersched_seen_ns) / NSEC_PER_MSEC);
		__sync_fetch_and_or(&usersched_needed, 1);
	}
	/* In a fallback episode also when it runs: a record to consume lets a live user space show progress. */
	if (fallback || (usersched_cpu < 0 && (silent || bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA) > 0)))
		wake_user_ring();
	/*
	 * Wake every idle CPU (SCX_KICK_IDLE leaves busy ones alone) when there is work for one: user space silent or
	 * unresponsive, or tasks waiting in the shared or the fallback DSQ. Not only the CPUs the idle mask shows: a CPU claimed from
	 * the mask (by select_cpu or user space's idle query) whose task then went elsewhere stays idle and out of
	 * the mask until something wakes it. A safety net, so a runnable task never waits long while a CPU idles.
	 */
	if (scx_bpf_dsq_nr_queued(FALLBACK_DSQ) > 0)
		fallback_dsq_used = true;
	if (silent || fallback || fallback_dsq_used || scx_bpf_dsq_nr_queued(SHARED_DSQ) > 0)
		kick_idle_cpus(-1);

	if (bpf_timer_start(timer, heartbeat_ns, 0))
		scx_bpf_error("failed to re-arm the heartbeat timer");
	return 0;
}
