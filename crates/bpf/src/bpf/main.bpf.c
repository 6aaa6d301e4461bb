/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rustland: a policy-agnostic sched_ext dispatcher whose scheduling decisions are taken in user space.
 *
 * Data flow
 * ---------
 * - ops.enqueue() hands a runnable task to user space as an rl_queued_task record in the @queued ring
 *   (BPF_MAP_TYPE_RINGBUF) and puts it into user space's custody under the record's sequence number, unique for
 *   the run (custody.bpf.h: the task's local storage and the custody list).
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
 * custody (whether or not the scheduler thread runs), ops.dispatch() takes them back from the custody list and the
 * BPF side schedules every task itself ("fallback": weighted vtime order in a DSQ of its own, bounded slices, idle
 * CPUs, wakeup preemption) until user space shows progress (it drains a dispatch or consumes a record). A heartbeat
 * timer makes sure the episode begins and ends even on an idle machine.
 */
#include <scx/common.bpf.h>
#include "intf.h"

/* The parts, in dependency order: each uses only what the ones before it define. */
#include "rustland.bpf.h"
#include "irq.bpf.h"
#include "placement.bpf.h"
#include "resume.bpf.h"
#include "custody.bpf.h"
#include "usersched.bpf.h"
#include "batched_wakeup.bpf.h"
#include "direct_wakeup.bpf.h"
#include "handoff.bpf.h"
#include "fallback.bpf.h"

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
	/*
	 * Not SCX_WAKE_SYNC: with it, the default selection may return the waker's CPU, busy, instead of an idle one,
	 * and the task then goes through user space and waits for the waker to block, where an idle CPU would have run
	 * it at once (stress-ng's pipe pairs: 0.29x the default scheduler's switches with it, docs/benchmarks.md).
	 */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags & ~SCX_WAKE_SYNC, &is_idle);
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

void BPF_STRUCT_OPS(rustland_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx;

	if (is_usersched(p) && partial_mode) {
		usersched_enqueue_shared(p, enq_flags);
		return;
	}
	if (is_usersched(p)) {
		usersched_asleep = false;
		/* Stuck but runnable (spinning): it takes its turn like any task until it shows progress. */
		if (!(enq_flags & SCX_ENQ_WAKEUP) && usersched_unresponsive(now_ns())) {
			fallback_insert(p, lookup_task_ctx(p), enq_flags);
			return;
		}
		if (((enq_flags & SCX_ENQ_REENQ) || cpu_is_taken(scx_bpf_task_cpu(p))) &&
		    usersched_move_away(p, enq_flags, false))
			return;
		if ((enq_flags & SCX_ENQ_WAKEUP) && local_tasks_wait(scx_bpf_task_cpu(p)) &&
		    usersched_move_away(p, enq_flags, true))
			return;
		/*
		 * A woken scheduler (it sleeps in epoll after each round) preempts whatever runs on its CPU and goes to
		 * the head of the local DSQ, ahead of tasks already queued there (it wakes once per sleep, so it cannot
		 * monopolise the CPU this way). Otherwise it is parked unless there is work (usersched_park()); work
		 * that arrives later sets usersched_needed and ops.dispatch() puts it back on a CPU.
		 */
		if ((enq_flags & SCX_ENQ_WAKEUP) && direct_task_on(scx_bpf_task_cpu(p))) {
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags | SCX_ENQ_HEAD);
		} else if (enq_flags & SCX_ENQ_WAKEUP) {
			usersched_preempts(scx_bpf_task_cpu(p));
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL,
					   enq_flags | SCX_ENQ_PREEMPT | SCX_ENQ_HEAD);
		} else if (!usersched_park()) {
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags);
		}
		return;
	}

	if (must_bypass(p)) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, kernel_slice(), enq_flags);
		stat_inc(kernel_dispatches);
		return;
	}

	if (resume_preempted(p, enq_flags)) {
		stat_inc(kernel_dispatches);
		return;
	}

	/* A record of an earlier enqueue may still be in user space: it is stale from now on. */
	tctx = lookup_task_ctx(p);
	custody_forget(tctx);
	if (usersched_unresponsive(now_ns())) {
		fallback_insert(p, tctx, enq_flags);
		return;
	}
	if (tctx && direct_wakeup(p, tctx, enq_flags))
		return;
	if (!tctx || !queue_to_user(p, tctx, enq_flags)) {
		insert_shared(p, kernel_slice(), policy_vtime(p, tctx), enq_flags, false);
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

void BPF_STRUCT_OPS(rustland_dispatch, s32 cpu, struct task_struct *prev)
{
	u64 now = now_ns(), applied = counters.user_dispatches;
	bool fallback = usersched_unresponsive(now);

	/* Every insert below first checks for a free slot: one past dispatch_max_batch is fatal ("overflow"). */
	if (fallback)
		fallback_custody();

	/*
	 * Only a parked scheduler: the kernel ignores the insert of a task that sleeps, runs or is queued, and then,
	 * with this CPU's local DSQ still empty, calls ops.dispatch() again, up to 32 times in a row. (And
	 * scx_bpf_dsq_insert() sets the slice of a running task even though the insert itself is ignored, so a running
	 * scheduler would keep its CPU indefinitely.) The flag is read before usersched_needed is taken: see
	 * usersched_park(). During an episode only when the heartbeat asks: the ring holds the episode's wake records,
	 * so usersched_has_work() would say yes on every call.
	 */
	if (usersched_parked && usersched_cpu < 0 && scx_bpf_dispatch_nr_slots() &&
	    (__sync_fetch_and_and(&usersched_needed, 0) || (!fallback && usersched_has_work())) &&
	    __sync_lock_test_and_set(&usersched_parked, 0))
		dispatch_usersched(cpu);

	/*
	 * Always, not only when dispatches_sent shows pending ones: a scheduler preempted between submitting a dispatch
	 * and publishing its count would leave it in the ring, unseen by every CPU until it runs again, which can be long
	 * enough for the fallback to take over (docs/benchmarks.md). handle_dispatch() stops at the last free slot.
	 */
	if (scx_bpf_dispatch_nr_slots())
		bpf_user_ringbuf_drain(&dispatched, handle_dispatch, NULL, BPF_RB_NO_WAKEUP);
	/* Progress for usersched_unresponsive(): user space's dispatches are being applied. */
	if (counters.user_dispatches != applied)
		user_progress_ns = now;

	/*
	 * The two orders never mix: during an episode what user space dispatched before it goes first, then the
	 * fallback's tasks; after one, the fallback's leftovers first (no more join them), then user space's.
	 */
	if (fallback) {
		if (!scx_bpf_dsq_move_to_local(SHARED_DSQ, 0) && !scx_bpf_dsq_move_to_local(FALLBACK_DSQ, 0))
			dispatch_on_held_cpu(cpu);
		return;
	}
	if (fallback_dsq_used) {
		if (scx_bpf_dsq_move_to_local(FALLBACK_DSQ, 0))
			return;
		if (!scx_bpf_dsq_nr_queued(FALLBACK_DSQ) && !in_fallback)
			fallback_dsq_used = false;
	}
	if (!scx_bpf_dsq_move_to_local(SHARED_DSQ, 0)) {
		usersched_wake_deferred(cpu);
		keep_prev_briefly(prev);
		dispatch_on_held_cpu(cpu);
	}
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
		usersched_parked = 0;
		wakeups_queued_at_run = wakeups_queued;
		usersched_seen_ns = now;
		wakeup_deferred_ns = 0;
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
	if (tctx) {
		tctx->start_ns = now;
		fallback_running(p, tctx);
	}
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
		usersched_last_cpu = cpu;
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
		if (now > tctx->start_ns)
			fallback_stopping(p, tctx, now - tctx->start_ns);
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
 * position is the highest bit set. Found once; in_hardirq() says false until then. Also where records that wait for
 * the sleeping scheduler's round get it after DEFER_WAKEUP_MAX_NS at the latest.
 */
void BPF_STRUCT_OPS(rustland_tick, struct task_struct *p)
{
	const int *count;
	u32 pc, bit;

	usersched_wake_overdue();
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
	err = scx_bpf_create_dsq(FALLBACK_DSQ, -1);
	if (err) {
		scx_bpf_error("failed to create the fallback DSQ: %d", err);
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
