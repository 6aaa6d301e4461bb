/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Part of main.bpf.c: placing the user-space scheduler itself. It is a task like any other, so it must be woken when
 * records wait for it, moved away from CPUs a higher scheduling class has taken or where tasks queue ahead of it,
 * kept in the shared DSQ in partial mode, and put back on a CPU by ops.dispatch() when it is parked.
 */

static bool usersched_has_work(void)
{
	return nr_scheduled || bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA) > 0;
}

/*
 * The user-space scheduler yielded without sleeping (ops.enqueue() not for a wakeup): park it, leaving it in no DSQ,
 * unless work waits for it. Returns whether it is parked; if not, the caller inserts it.
 *
 * The flag is raised before the work is looked for, and ops.dispatch() reads it before it takes usersched_needed:
 * a kick_usersched() that this look missed set usersched_needed after it, so the ops.dispatch() that kick leads to
 * sees the flag. A flag raised for a scheduler that is then inserted costs one ignored insert, never a lost wakeup.
 */
static bool usersched_park(void)
{
	__sync_lock_test_and_set(&usersched_parked, 1);
	if (usersched_has_work() || usersched_needed) {
		usersched_parked = 0;
		return false;
	}
	return true;
}

/*
 * Make the user-space scheduler run promptly because @p was queued to it: wake an idle CPU for it or, if @preempt,
 * preempt a CPU @p may use (the one whose task has run longest). That CPU is also where the scheduler goes if it is
 * asleep (select_cpu), so a single CPU is preempted, and, when @p can run on one CPU only, it is the CPU that then
 * takes @p from the shared DSQ right after the scheduler's round.
 *
 * A wakeup by an interrupt (a timer) preempts a task that ran @preempt_min_ns; a wakeup by a task (a message, a
 * pipe, a futex) only one that ran TASK_WAKEUP_PREEMPT_MIN_NS, a CPU hog. Message-passing tasks wake each other
 * thousands of times a second and each runs briefly: preempting one for every wakeup cost hackbench half again its
 * time under the default scheduler, while the scheduler's round comes soon anyway, when one of them blocks
 * (docs/benchmarks.md, "The round trip's cost").
 */
static void kick_usersched(const struct task_struct *p, bool preempt)
{
	u64 min_ran_ns;
	s32 cpu;

	__sync_fetch_and_or(&usersched_needed, 1);

	/* Running already: it sees the new record before it parks itself (see ops.enqueue()). */
	if (usersched_cpu >= 0) {
		dbg("rustland: usersched running on cpu=%d", usersched_cpu);
		return;
	}

	cpu = pick_any_idle_cpu();
	if (cpu >= 0) {
		usersched_wake_cpu = cpu;
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	if (!preempt)
		return;
	/*
	 * Woken by an interrupt (a timer: cyclictest, any sleep) while the scheduler sleeps in poll: the ring's wakeup
	 * wakes it from this CPU (irq_work) as soon as the handler is done, and its ops.enqueue() preempts the task
	 * running here. So no kick, and no other CPU disturbed: the task this interrupt interrupted is not the waker,
	 * and @p then runs here after the scheduler's round, as it would under the kernel's default scheduler. (A
	 * task waking another one keeps its CPU: see pick_victim().)
	 */
	cpu = bpf_get_smp_processor_id();
	if (usersched_asleep && !partial_mode && in_hardirq() && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && !cpu_is_taken(cpu)) {
		usersched_wake_cpu = cpu;
		return;
	}
	/*
	 * If @p's CPUs all started their task too recently, run the scheduler elsewhere: @p's dispatch then preempts
	 * its CPU if @p comes first (insert_shared()).
	 */
	min_ran_ns = woken_by_interrupt() ? preempt_min_ns : TASK_WAKEUP_PREEMPT_MIN_NS;
	cpu = pick_victim_ran(p, min_ran_ns);
	if (cpu < 0)
		cpu = pick_victim_ran(NULL, min_ran_ns);
	if (cpu >= 0) {
		usersched_wake_cpu = cpu;
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	}
}

/*
 * The woken user-space scheduler is about to preempt @cpu's task. If that task started less than RESUME_MAX_RAN_NS
 * ago and no woken task was queued to user space since the scheduler's last round (so what woke it is the end of a
 * slice, typically the one that ended on this CPU just before), the task resumes in the shared DSQ in the policy's
 * order once preempted, instead of going back to user space: a record and a round fewer per slice of a busy machine.
 * Otherwise it goes to user space, which orders it anew: a woken task the policy would run first (a FIFO policy puts
 * a re-queued task behind it) must not wait behind it.
 */
static void usersched_preempts(s32 cpu)
{
	const struct task_struct *curr;
	u64 now = now_ns(), *started = MEMBER_VPTR(cpu_started_ns, [cpu]);

	if (wakeups_queued != wakeups_queued_at_run)
		return;
	if (!started || !*started || now < *started || now - *started >= RESUME_MAX_RAN_NS)
		return;
	curr = __COMPAT_scx_bpf_cpu_curr(cpu);
	if (curr && curr->pid && !is_usersched(curr))
		resume_after_preemption(cpu, curr, now + RESUME_MAX_RAN_NS, RESUME_SHARED);
}

/*
 * The CPU kick_usersched() claimed (idle) or preempted for the user-space scheduler @p, if it may still go there
 * (no task of a higher scheduling class has taken it since); else -1.
 */
static s32 usersched_kicked_cpu(const struct task_struct *p)
{
	s32 cpu = usersched_wake_cpu;

	if (cpu >= 0 && cpu < nr_cpu_ids && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && !cpu_is_taken(cpu))
		return cpu;
	return -1;
}

/*
 * The CPU a waking user-space scheduler goes to when none is idle: the one kick_usersched() picked for it, else
 * @dfl_cpu, else any CPU it may use; in each case only a CPU that no task of a higher scheduling class has taken,
 * if there is one. There it would wait in the local DSQ for as long as that task runs, which in partial mode (any
 * normal task) can last long enough for the fallback to take over (docs/reliability.md).
 */
static s32 usersched_wake_target(const struct task_struct *p, s32 dfl_cpu)
{
	s32 cpu = usersched_kicked_cpu(p);

	if (cpu >= 0)
		return cpu;
	if (!cpu_is_taken(dfl_cpu))
		return dfl_cpu;
	bpf_for(cpu, 0, nr_cpu_ids) {
		if (!cpu_is_taken(cpu) && bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			return cpu;
	}
	return dfl_cpu;
}

/*
 * Whether tasks wait in @cpu's local DSQ. A scheduler woken there would run ahead of them (it goes to the head), and
 * then they would run ahead of everything its round dispatches to any CPU: @cpu calls ops.dispatch(), which applies
 * those dispatches, only once its local DSQ is empty: a woken task would wait for a whole slice of a CPU hog queued
 * on the scheduler's CPU (docs/benchmarks.md has the trace).
 */
static bool local_tasks_wait(s32 cpu)
{
	return cpu >= 0 && cpu < nr_cpu_ids && scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL_ON | cpu) > 0;
}

/*
 * The user-space scheduler is about to wait in the local DSQ of a CPU that a task of a higher scheduling class has
 * taken (it was re-enqueued by ops.cpu_release(), or woke there), where it would wait until that task lets go (for
 * as long as a CPU hog runs, in partial mode), or to go ahead of tasks waiting there (local_tasks_wait(); then
 * @empty_local: only to a CPU without such tasks): put it on another CPU, an idle one or the one whose task ran
 * longest, preempting that task. Returns false if there is none.
 */
static bool usersched_move_away(struct task_struct *p, u64 enq_flags, bool empty_local)
{
	s32 cpu = pick_any_idle_cpu();

	if (cpu < 0)
		cpu = pick_victim(p);
	if (cpu < 0 || cpu == scx_bpf_task_cpu(p) || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr) || p->migration_disabled)
		return false;
	if (empty_local && local_tasks_wait(cpu)) {
		/* If it was claimed from the idle mask, let it go through idle again (and run its own tasks). */
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return false;
	}
	dbg("rustland: usersched moved away from cpu=%d to cpu=%d", scx_bpf_task_cpu(p), cpu);
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, SCX_SLICE_DFL, enq_flags | SCX_ENQ_HEAD | SCX_ENQ_PREEMPT);
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	return true;
}

/*
 * Partial mode: normal tasks, which run before all of ours, come and go on every CPU (the shell, its commands), and
 * a scheduler thread in a CPU's local DSQ waits behind them even when another CPU runs our tasks; ops.cpu_release()
 * does not even see a normal task take an idle CPU. So the scheduler thread goes into the shared DSQ ahead of every
 * task (vtime 0), where the first CPU that turns to our tasks takes it, and a CPU is kicked to do so: the one it
 * woke on if no normal task has it, else an idle one or the one whose task ran longest. Parked as in full mode when
 * it yields with nothing to do.
 */
static void usersched_enqueue_shared(struct task_struct *p, u64 enq_flags)
{
	s32 cpu;

	if (!(enq_flags & (SCX_ENQ_WAKEUP | SCX_ENQ_REENQ)) && usersched_park())
		return;
	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, SCX_SLICE_DFL, 0, enq_flags);
	cpu = scx_bpf_task_cpu(p);
	if (cpu_is_taken(cpu)) {
		cpu = pick_any_idle_cpu();
		if (cpu < 0)
			cpu = pick_victim(NULL);
	}
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
}

static void dispatch_usersched(s32 this_cpu)
{
	struct task_struct *p;
	s32 cpu;

	p = bpf_task_from_pid(usersched_pid);
	if (!p)
		return;
	/*
	 * Ignored by the kernel unless the scheduler is parked (queued and in no DSQ). A parked scheduler that is
	 * migration-disabled (preempted inside a BPF syscall) must stay on its CPU.
	 */
	cpu = scx_bpf_task_cpu(p);
	if (cpu == this_cpu || (!p->migration_disabled && bpf_cpumask_test_cpu(this_cpu, p->cpus_ptr))) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	} else {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, SCX_SLICE_DFL, 0);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	}
	bpf_task_release(p);
}

/*
 * ops.dispatch() found nothing for @cpu. If a task of a higher scheduling class holds @cpu
 * (cpu_held_by_higher_class()), the call comes from the kernel's deadline server, which lends our class a share of
 * the CPU (50 ms a second) and stops for good when it finds nothing to run: it starts again only when the number of
 * our tasks on the CPU's runqueue goes from 0 to 1. So while any task of ours is counted on @cpu without being in a
 * DSQ, give the server one: the parked scheduler if it is parked on @cpu, else a task in custody whose runqueue is
 * @cpu's (typically woken there while the scheduler was asleep). Otherwise they and every task that comes later and
 * can run only on @cpu (cyclictest's measuring thread) wait for as long as the higher class holds the CPU, until the
 * watchdog (the vm-test `starve` scenario: an RT busy loop on the scheduler's CPU).
 */
static void dispatch_on_held_cpu(s32 cpu)
{
	struct task_struct *p;
	bool parked_here;

	if (!scx_bpf_dispatch_nr_slots() || !cpu_held_by_higher_class(cpu))
		return;
	if (usersched_parked && usersched_cpu < 0) {
		p = bpf_task_from_pid(usersched_pid);
		if (p) {
			parked_here = scx_bpf_task_cpu(p) == cpu && __sync_lock_test_and_set(&usersched_parked, 0);
			if (parked_here)
				scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
			bpf_task_release(p);
			if (parked_here)
				return;
		}
	}
	custody_run_one_on(cpu);
}

/*
 * The user-space scheduler leaves @cpu with dispatches still in the user ring. Only ops.dispatch() applies them, and
 * @cpu calls it only once its local DSQ is empty: if tasks are queued there, each may run a whole slice first while
 * the dispatched tasks (often bound for an idle CPU) wait. Wake the idle CPUs instead: any CPU's ops.dispatch()
 * drains the whole ring.
 */
static void drain_elsewhere_if_stuck(s32 cpu)
{
	if (dispatches_sent == dispatches_drained || !scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL))
		return;
	dbg("rustland: drain elsewhere: sent=%llu drained=%llu", dispatches_sent, dispatches_drained);
	kick_idle_cpus(cpu);
}
