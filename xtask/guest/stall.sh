# Scenarios of a stopped or stuck scheduler (part of the guest library, see
# scenarios.sh): while user space makes no progress the BPF side must schedule
# alone at close to the default scheduler's speed, and hand back within
# moments once user space is back (docs/reliability.md, "A stopped scheduler").
#
# The probe, run in the stall window under two CPU hogs: hackbench -g 2 -l 100
# (time), then a 10 ms periodic waker (cyclictest -t 1 -i 10000 -l 600: max
# latency and how long its 600 periods took), and the largest run-queue wait of
# a hog worker over the window (/proc/PID/schedstat). rl_stall_baseline runs the
# same probe under the default scheduler once per boot, for the same-boot
# targets.

: "${RL_STALL_SECS:=10}"
RL_STALL_BASE=/tmp/stall-default

# children_of PID: the pids of PID's children
children_of() {
    local s pid comm state ppid rest
    for s in /proc/[0-9]*/stat; do
        read -r pid comm state ppid rest <"$s" 2>/dev/null || continue
        [ "$ppid" = "$1" ] && echo "$pid"
    done
}
# run_delay_ms PID: time PID has waited on a run queue so far (ms)
run_delay_ms() { awk '{ print int($2 / 1000000) }' /proc/"$1"/schedstat 2>/dev/null || echo 0; }

# stall_hogs: start two CPU hogs for the window (pid in RL_STALL_LOAD, their
# workers in RL_STALL_HOGS once they run). stall_window ends them 4 s after the
# window, which can last longer than RL_STALL_SECS (the probe under a real-time
# busy loop takes about 20 s); -t only bounds them if it does not.
stall_hogs() {
    (cd /tmp && exec stress-ng -c 2 --cpu-method int64 -t "$((RL_STALL_SECS * 6))s") >/dev/null 2>&1 &
    RL_STALL_LOAD=$!
    sleep 2
    RL_STALL_HOGS=$(children_of "$RL_STALL_LOAD")
}
# stall_waits: "pid:ms ..." run-queue waits of the hog workers so far
stall_waits() {
    local h
    for h in $RL_STALL_HOGS; do printf '%s:%s ' "$h" "$(run_delay_ms "$h")"; done
}
# stall_max_wait BEFORE AFTER: the largest wait of one worker between two stall_waits
stall_max_wait() {
    echo "$1 | $2" | awk '{
        for (i = 1; i <= NF; i++) {
            if ($i == "|") { after = 1; continue }
            split($i, kv, ":")
            if (after) { d = kv[2] - w[kv[1]]; if (d > max) max = d } else w[kv[1]] = kv[2]
        }
    } END { print max + 0 }'
}

# stall_probe: run the probe now; sets RL_HB_MS, RL_CYC_MAX_US, RL_CYC_MS and
# RL_CYC_COUNT (periods done: the waker stops after RL_CYC_SECS if that is set)
stall_probe() {
    local t0 out
    RL_HB_MS=$(hackbench -g 2 -l 100 2>/dev/null | awk '/^Time:/ { printf "%d", $2 * 1000 }')
    t0=$(now_ms)
    out=$(cyclictest -t 1 -i 10000 -l 600 ${RL_CYC_SECS:+-D "$RL_CYC_SECS"} -q 2>/dev/null)
    RL_CYC_MS=$(($(now_ms) - t0))
    RL_CYC_MAX_US=$(echo "$out" | grep -o 'Max: *[0-9]*' | grep -o '[0-9]*$')
    RL_CYC_COUNT=$(echo "$out" | grep -o 'C: *[0-9]*' | grep -o '[0-9]*$')
    : "${RL_HB_MS:=0}" "${RL_CYC_MAX_US:=0}" "${RL_CYC_COUNT:=0}"
}

# stall_window START STOP: START the stall, run the probe under two hogs for
# RL_STALL_SECS, then STOP it; sets the probe's figures, RL_STALL_WAIT_MS (the
# largest hog wait), RL_STALL_MS (the window) and RL_STALL_END_MS (when it was
# stopped, ms since boot)
stall_window() {
    local w0 t0 left
    stall_hogs
    w0=$(stall_waits)
    t0=$(now_ms)
    $1
    stall_probe
    left=$((RL_STALL_SECS * 1000 - ($(now_ms) - t0)))
    [ "$left" -gt 0 ] && usleep $((left * 1000))
    RL_STALL_WAIT_MS=$(stall_max_wait "$w0" "$(stall_waits)")
    RL_STALL_END_MS=$(now_ms)
    RL_STALL_MS=$((RL_STALL_END_MS - t0))
    $2
    RL_STALL_RESUMED_FROM=$(($(out_lines) + 1))
    usleep 4000000
    kill -INT "$RL_STALL_LOAD" 2>/dev/null
    wait "$RL_STALL_LOAD"
}

stall_figures() {
    echo "hackbench ${RL_HB_MS} ms, waker max ${RL_CYC_MAX_US} us, ${RL_CYC_COUNT} of 600 periods in ${RL_CYC_MS} ms, largest hog wait ${RL_STALL_WAIT_MS}/${RL_STALL_MS} ms"
}

# Once per boot, before any scheduler: the probe under the default scheduler,
# and again with a real-time task holding cpu0 if the starve scenario runs.
rl_stall_baseline() {
    stall_window true true
    echo "$RL_HB_MS $RL_CYC_MAX_US $RL_CYC_MS $RL_STALL_WAIT_MS $RL_STALL_MS" >"$RL_STALL_BASE"
    rl_result stall-probe pass "default scheduler: $(stall_figures)"
    case " $RL_SCENARIOS " in *" starve "*) ;; *) return ;; esac
    ext_server_present || return
    RL_CYC_SECS=$RT_CYC_SECS
    stall_window rt_hog_start rt_hog_stop
    RL_CYC_SECS=
    echo "$RL_HB_MS $RL_CYC_MAX_US $RL_CYC_MS $RL_STALL_WAIT_MS $RL_STALL_MS" >"$RL_STALL_BASE-rt"
    rl_result stall-probe-rt pass "default scheduler, a real-time busy loop on cpu0: $(stall_figures)"
}

# A real-time busy loop on cpu0 (the kernel's deadline servers leave other
# classes 50 ms of that CPU a second). A waker pinned there then waits about a
# second per period on 6.18 (600 periods took 559 s under the default
# scheduler), so under the loop the waker stops after RT_CYC_SECS.
RT_CYC_SECS=20
# Whether the kernel has the deadline server for sched_ext (7.3 has it, 6.18
# has not): without it, a real-time busy loop starves every sched_ext task that
# can run only on its CPU, under any BPF scheduler (crates/bpf/README.md).
ext_server_present() { grep -q ' ext_server_pick_task$' /proc/kallsyms; }
rt_hog_start() {
    taskset -c 0 rl-guest fifo sh -c 'while :; do :; done' &
    RL_RT_PID=$!
}
rt_hog_stop() { kill "$RL_RT_PID" 2>/dev/null; wait "$RL_RT_PID" 2>/dev/null; }

sched_sigstop() { kill -STOP "$RL_SCHED_PID"; }
sched_sigcont() { kill -CONT "$RL_SCHED_PID"; }

# stall_verdict SCENARIO MARK FROM STALL_MS WAIT_PCT WHAT [BASE]: the targets,
# after the window and 3 s of recovery, against the default scheduler's probe
# (BASE, default RL_STALL_BASE); no hog worker may wait over WAIT_PCT % of the
# window, or 10 points over the default's share if that is more (under a
# real-time busy loop the default's hogs wait 77 % of it: the two share what is
# left of one CPU with everything else). The episode began about fallback_ns
# (250 ms) after user space stopped answering, for STALL_MS (0: it never
# stopped for good), so the episode's length tells when user space took over.
stall_verdict() {
    local scenario=$1 mark=$2 from=$3 stall_ms=$4 wait_pct=$5 what=$6 base=${7:-$RL_STALL_BASE} ejected base_hb base_cyc base_wait base_window episodes last_ms taken_ms user cyc_limit
    sleep 3
    ejected=$(ejections_since "$mark")
    read -r base_hb base_cyc _ base_wait base_window <"$base" 2>/dev/null
    if [ "${base_window:-0}" -gt 0 ] && [ $((base_wait * 100 / base_window + 10)) -gt "$wait_pct" ]; then
        wait_pct=$((base_wait * 100 / base_window + 10))
    fi
    episodes=$(stat_sum fb_episodes "$from")
    # Time in episodes since the start: the stall's, and short ones that can come and go at a load's start.
    last_ms=$(stat_sum fb_ms "$from")
    taken_ms=0
    [ "$stall_ms" -gt 0 ] && taken_ms=$((last_ms + 250 - stall_ms))
    user=$(stat_sum user "$RL_STALL_RESUMED_FROM")
    tail -n +"$from" "$RL_SCHED_OUT" | sed "s/^/$RL_SCHED $scenario| /" >&3
    local figures target=met
    # The target is 30 ms. Under TCG the default scheduler's own waker reaches 20 ms now and then (a host busy
    # with builds), so the verdict allows three times the default's max of the same boot when that is more, and
    # the detail says whether 30 ms held (docs/reliability.md has the figures).
    [ "$RL_CYC_MAX_US" -gt 30000 ] && target=missed
    cyc_limit=$((${base_cyc:-0} * 3))
    [ "$cyc_limit" -lt 30000 ] && cyc_limit=30000
    figures="$(stall_figures) (30 ms target $target); default: ${base_hb:-?} ms hackbench, waker max ${base_cyc:-?} us; episodes=$episodes, ${last_ms} ms in them (user space back ${taken_ms} ms after the window), fallback=$(stat_sum fallback "$from") reclaimed=$(stat_sum fb_reclaimed "$from")"
    if [ -n "$ejected" ]; then
        rl_result "$scenario" fail "ejected: $ejected; $figures"
    elif ! sched_alive || ! sched_attached; then
        rl_result "$scenario" fail "state=$(scx_state) alive=$(sched_alive && echo yes || echo no): $(out_tail 3); $figures"
    elif [ -z "$base_hb" ] || [ "$RL_HB_MS" -le 0 ] || [ "$RL_HB_MS" -gt $((base_hb * 2)) ]; then
        rl_result "$scenario" fail "hackbench over 2x the default scheduler's; $figures"
    elif [ "$RL_CYC_MAX_US" -le 0 ] || [ "$RL_CYC_MAX_US" -gt "$cyc_limit" ]; then
        rl_result "$scenario" fail "the periodic waker's max latency over $((cyc_limit / 1000)) ms; $figures"
    elif [ $((RL_STALL_WAIT_MS * 100)) -gt $((RL_STALL_MS * wait_pct)) ]; then
        rl_result "$scenario" fail "a hog worker waited over $wait_pct % of the window; $figures"
    elif { [ "$stall_ms" -gt 0 ] && [ "$episodes" -lt 1 ]; } || [ "$taken_ms" -gt 500 ] || [ "$taken_ms" -lt -500 ]; then
        rl_result "$scenario" fail "user space did not take over within 500 ms; $figures"
    elif [ "$user" -le 0 ]; then
        rl_result "$scenario" fail "no user dispatches after the window, while the hogs still ran: $(out_tail 3); $figures"
    else
        rl_result "$scenario" pass "$what; $figures"
    fi
}

sc_sigstop() {
    need_running sigstop || return
    kmark "sigstop-$RL_SCHED"
    local from
    from=$(($(out_lines) + 1))
    stall_window sched_sigstop sched_sigcont
    stall_verdict sigstop "sigstop-$RL_SCHED" "$from" "$RL_STALL_MS" 60 "stopped ${RL_STALL_SECS}s under 2 hogs"
}

# A live scheduler that makes no progress: its policy's pick_next spins for the
# whole window (RUSTLAND_TEST_SPIN_AT, crates/runner/src/test_faults.rs).
sc_spin() {
    sched_quit
    kmark "spin-$RL_SCHED"
    export RUSTLAND_TEST_SPIN_AT=3 RUSTLAND_TEST_SPIN_SECS=$RL_STALL_SECS
    sched_attach
    unset RUSTLAND_TEST_SPIN_AT RUSTLAND_TEST_SPIN_SECS
    if ! sched_attached; then
        rl_result spin fail "could not start $RL_SCHED with a spinning policy: $(out_tail 3)"
        return
    fi
    local from
    from=$(($(out_lines) + 1))
    # stall_hogs takes 2 s; the spin begins 3 s after the start.
    stall_window true true
    # The spinning thread is a third CPU-bound task on two CPUs: at a fair share each hog waits a third of the
    # window before hackbench's tasks take their turn (54-65 % measured, docs/reliability.md), so 75 % here.
    stall_verdict spin "spin-$RL_SCHED" "$from" "$((RL_STALL_SECS * 1000))" 75 "pick_next spun ${RL_STALL_SECS}s under 2 hogs"
    sched_quit
}

# Hundreds of tasks in the stopped scheduler's custody at once: every insert of
# the fallback checks for a free dispatch slot, so none overflows.
sc_custody() {
    fault_running custody || return
    kmark "custody-$RL_SCHED"
    local from burst ejected reclaimed
    from=$(($(out_lines) + 1))
    rm -f /tmp/gate && mkfifo /tmp/gate
    # The helper stops the scheduler and wakes all 400 threads at once, back to back (xtask/src/bin/rl-guest.rs).
    rl-guest burst 400 300 /tmp/gate "$RL_SCHED_PID" >/tmp/burst.log 2>&1 &
    burst=$!
    wait_for 40 process_gone "$burst"
    kill -CONT "$RL_SCHED_PID" 2>/dev/null
    sleep 2
    ejected=$(ejections_since "custody-$RL_SCHED")
    reclaimed=$(stat_sum fb_reclaimed "$from")
    if [ -n "$ejected" ]; then
        rl_result custody fail "ejected: $ejected; reclaimed=$reclaimed"
    elif ! sched_alive || ! sched_attached; then
        rl_result custody fail "state=$(scx_state): $(out_tail 3)"
    elif [ -d /proc/"$burst" ]; then
        rl_result custody fail "the 400 woken threads did not finish in 40 s; reclaimed=$reclaimed"
    elif [ "$reclaimed" -lt 300 ]; then
        rl_result custody fail "the fallback took back only $reclaimed tasks (300 wanted): $(tr '\n' '|' </tmp/burst.log)"
    else
        rl_result custody pass "400 threads woken at once while stopped; the fallback took back $reclaimed from custody, no overflow; episodes=$(stat_sum fb_episodes "$from")"
    fi
}
# process_gone PID: PID has exited
process_gone() { [ ! -d /proc/"$1" ]; }

# A live scheduler starved by a task of a higher scheduling class: its thread
# is pinned to cpu0, where a real-time busy loop runs, for the window (the
# kernel's deadline server lends our class 50 ms of cpu0 a second). The targets
# are the sigstop scenario's, against the default scheduler with the same busy
# loop (its waker, pinned to cpu0 too, waits up to a second); the scheduler
# never stops for good, so episodes come and go and none is required.
sc_starve() {
    if ! ext_server_present; then
        rl_result starve skip "no deadline server for sched_ext in this kernel: a real-time busy loop starves our class on its CPU whatever the BPF side does"
        return
    fi
    fault_running starve || return
    if [ ! -s "$RL_STALL_BASE-rt" ]; then
        rl_result starve fail "no baseline with the real-time busy loop"
        return
    fi
    kmark "starve-$RL_SCHED"
    local from
    from=$(($(out_lines) + 1))
    RL_CYC_SECS=$RT_CYC_SECS
    stall_window starve_start starve_stop
    RL_CYC_SECS=
    stall_verdict starve "starve-$RL_SCHED" "$from" 0 60 "scheduler thread pinned under a real-time busy loop for ${RL_STALL_SECS}s, 2 hogs" "$RL_STALL_BASE-rt"
    sched_quit
}
starve_start() {
    taskset -p -c 0 "$RL_SCHED_PID" >/dev/null
    rt_hog_start
}
starve_stop() {
    rt_hog_stop
    taskset -p -c 0-"$(($(nproc) - 1))" "$RL_SCHED_PID" >/dev/null
}

# The sigstop probe with 10,000 more threads asleep on the machine: the
# fallback finds the tasks in custody through its list, so its cost, and the
# machine's speed while it schedules alone, must not depend on them.
sc_threads() {
    fault_running threads || return
    local sleepers from nr
    rl-guest sleepers 10000 120 >/tmp/sleepers.log 2>&1 &
    sleepers=$!
    if ! wait_for 90 grep -q 'threads started' /tmp/sleepers.log; then
        rl_result threads fail "10000 sleeping threads not started in 90 s: $(tail -n 2 /tmp/sleepers.log | tr '\n' '|')"
        kill "$sleepers" 2>/dev/null
        return
    fi
    nr=$(ls -d /proc/[0-9]*/task/* 2>/dev/null | wc -l)
    kmark "threads-$RL_SCHED"
    from=$(($(out_lines) + 1))
    stall_window sched_sigstop sched_sigcont
    stall_verdict threads "threads-$RL_SCHED" "$from" "$RL_STALL_MS" 60 "stopped ${RL_STALL_SECS}s under 2 hogs with $nr threads on the machine"
    kill "$sleepers" 2>/dev/null
    wait "$sleepers" 2>/dev/null
    # The scenarios after this one start from a machine without a scheduler, as after panic.
    sched_quit
}
