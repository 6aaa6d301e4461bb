# The default scenarios of `vm-test`, run in order for each scheduler (part of
# the guest library: xtask/src/initramfs.rs joins lib.sh, scenarios.sh,
# faults.sh, stall.sh and main.sh into the guest's /rustland/lib.sh). The
# stall scenarios (sigstop, custody, spin) are in stall.sh.

# --- scenarios ----------------------------------------------------------------

sc_attach() {
    if ! scx_disabled; then
        rl_result attach fail "sched_ext is $(scx_state) ($(scx_ops)) before the start"
        return
    fi
    local t0
    t0=$(now)
    if sched_attach; then
        rl_result attach pass "ops=$(scx_ops) after $(($(now) - t0))s"
    elif ! sched_alive; then
        wait "$RL_SCHED_PID"
        RL_SCHED_RC=$?
        rl_result attach fail "scheduler exited with status $RL_SCHED_RC before attaching: $(out_tail 4)"
        RL_SCHED_PID=
    else
        rl_result attach fail "not attached after ${RL_ATTACH_SECS}s: state=$(scx_state) ops=$(scx_ops): $(out_tail 4)"
    fi
}

sc_survival() {
    need_running survival || return
    kmark "survival-$RL_SCHED"
    RL_LOAD_FROM=$(($(out_lines) + 1))
    local rc ejected
    # shellcheck disable=SC2086
    (cd /tmp && stress-ng $RL_STRESS -t "${RL_SURVIVAL_SECS}s" --metrics-brief) >/tmp/stress.log 2>&1
    rc=$?
    RL_LOAD_TO=$(out_lines)
    ejected=$(ejections_since "survival-$RL_SCHED")
    if [ -n "$ejected" ]; then
        rl_result survival fail "ejected under load: $ejected $(grep -m 1 'EXIT:' "$RL_SCHED_OUT")"
        wait_for 5 sched_dead
        print_kernel_dump "$RL_SCHED dump"
    elif ! sched_alive; then
        rl_result survival fail "scheduler exited under load: $(out_tail 4)"
    elif ! sched_attached; then
        rl_result survival fail "no longer attached: state=$(scx_state) ops=$(scx_ops)"
    elif [ "$rc" -ne 0 ]; then
        rl_result survival fail "stress-ng exited with $rc: $(tail -n 3 /tmp/stress.log | tr '\n' '|')"
    else
        rl_result survival pass "${RL_SURVIVAL_SECS}s of stress-ng $RL_STRESS; still attached, no stall"
    fi
    sed "s/^/$RL_SCHED survival| /" /tmp/stress.log >&3
}

sc_dispatch() {
    local from=$RL_LOAD_FROM lines user
    if [ -z "$from" ]; then
        rl_result dispatch skip "the survival load did not run"
        return
    fi
    lines=$(stats_lines)
    user=$(stat_sum user "$from")
    if [ "$lines" -eq 0 ]; then
        rl_result dispatch fail "no stats lines starting with [$RL_SCHED] in the output: $(out_tail 3)"
    elif [ "$user" -gt 0 ]; then
        rl_result dispatch pass "user=$user kernel=$(stat_sum kernel "$from") bounced=$(stat_sum bounced "$from") congested=$(stat_sum congested "$from") fallback=$(stat_sum fallback "$from") under load"
    else
        rl_result dispatch fail "user=0 over $lines stats lines (kernel=$(stat_sum kernel "$from"))"
    fi
}

# Direct wakeups (crates/bpf/README.md): cyclictest's timer wakeups (1 ms,
# pinned) under two CPU hogs. A scheduler that has them on by default
# (scx_rustland) must put at least a quarter of them on their CPU itself
# (direct=), and the preempted hogs must still be dispatched through user space
# (user>0); one that has them off must report direct=0.
sc_direct() {
    need_running direct || return
    local from hogs loops direct user
    from=$(($(out_lines) + 1))
    (cd /tmp && stress-ng -c 2 --cpu-method int64 -t 8s) >/dev/null 2>&1 &
    hogs=$!
    sleep 1
    cyclictest -t 1 -i 1000 -D 5s -q >/tmp/direct-cyc.log 2>&1
    wait "$hogs"
    # Two more stats lines, so that the last second is counted.
    sleep 2
    loops=$(awk '{ for (i = 1; i < NF; i++) if ($i == "C:") print $(i + 1) + 0 }' /tmp/direct-cyc.log | tail -n 1)
    direct=$(stat_sum direct "$from")
    user=$(stat_sum user "$from")
    case $RL_SCHED in
    scx_rustland) ;;
    *)
        if [ "$direct" -eq 0 ]; then
            rl_result direct pass "off by default: direct=0 over ${loops:-?} cyclictest wakeups under 2 hogs; user=$user"
        else
            rl_result direct fail "direct=$direct although $RL_SCHED has direct wakeups off by default"
        fi
        return
        ;;
    esac
    if [ -z "$loops" ] || [ "$loops" -eq 0 ]; then
        rl_result direct fail "cyclictest did not run: $(tail -n 3 /tmp/direct-cyc.log | tr '\n' '|')"
    elif ! sched_alive || ! sched_attached; then
        rl_result direct fail "scheduler gone: state=$(scx_state) $(out_tail 3)"
    elif [ $((direct * 4)) -lt "$loops" ] || [ "$user" -le 0 ]; then
        rl_result direct fail "direct=$direct for $loops cyclictest wakeups under 2 hogs (want at least a quarter), user=$user"
    else
        rl_result direct pass "direct=$direct for $loops cyclictest wakeups under 2 hogs; user=$user kernel=$(stat_sum kernel "$from") fallback=$(stat_sum fallback "$from"); $(grep -o 'Avg: *[0-9]*' /tmp/direct-cyc.log | tail -n 1) us"
    fi
}

# Batched wakeups (crates/bpf/README.md): three CPU hogs on two CPUs end a
# slice every few milliseconds, and while every CPU runs a hog the record of
# the one whose slice ended waits for the scheduler's next round instead of
# waking it (batched=). The waits must stay short: no fallback episode, and in
# each of RL_BATCHED_ROUNDS runs of 5 s the three hogs get a fair share each
# (Jain's index over their bogo ops). Several runs, because a hog starved by a
# scheduling pattern shows in only some of them.
RL_BATCHED_ROUNDS=${RL_BATCHED_ROUNDS:-3}
sc_batched() {
    need_running batched || return
    local from i r pids ops jain worst=9 worst_ops= batched episodes
    from=$(($(out_lines) + 1))
    for r in $(seq "$RL_BATCHED_ROUNDS"); do
        pids=
        for i in 1 2 3; do
            (cd /tmp && stress-ng -c 1 --cpu-method int64 -t 5s --metrics-brief) >/tmp/batched-hog$i.log 2>&1 &
            pids="$pids $!"
        done
        # shellcheck disable=SC2086
        wait $pids
        ops=$(for i in 1 2 3; do metrc_ops /tmp/batched-hog$i.log cpu; done | tr '\n' ' ')
        jain=$(echo "$ops" | awk '{ s = $1 + $2 + $3; q = $1 * $1 + $2 * $2 + $3 * $3; printf "%.3f", (q > 0 ? s * s / (3 * q) : 0) }')
        echo "batched round $r: bogo ops/s $ops fairness $jain"
        if awk -v j="$jain" -v w="$worst" 'BEGIN { exit !(j < w) }'; then
            worst=$jain
            worst_ops=$ops
        fi
    done
    # Two more stats lines, so that the last second is counted.
    sleep 2
    batched=$(stat_sum batched "$from")
    episodes=$(stat_sum fb_episodes "$from")
    if ! sched_alive || ! sched_attached; then
        rl_result batched fail "scheduler gone: state=$(scx_state) $(out_tail 3)"
    elif [ "$batched" -le 0 ] || [ "$episodes" -ne 0 ]; then
        rl_result batched fail "batched=$batched fb_episodes=$episodes under 3 hogs on 2 CPUs (want batched>0, no episode)"
    elif awk -v j="$worst" 'BEGIN { exit !(j < 0.95) }'; then
        rl_result batched fail "hogs' bogo ops/s $worst_ops: fairness $worst < 0.95 (batched=$batched)"
    else
        rl_result batched pass "batched=$batched user=$(stat_sum user "$from") fb_episodes=0 under 3 hogs on 2 CPUs; least fair of $RL_BATCHED_ROUNDS runs: bogo ops/s $worst_ops (fairness $worst)"
    fi
}

sc_exits() {
    local exits
    if [ -z "$RL_LOAD_FROM" ]; then
        rl_result exits skip "the survival load did not run"
        return
    fi
    exits=$(stat_last exits)
    if [ "$exits" -gt 0 ]; then
        rl_result exits pass "exits=$exits exit notifications"
    else
        rl_result exits fail "exits=$exits after a fork-heavy load"
    fi
}

sc_hotplug() {
    need_running hotplug || return
    local online=/sys/devices/system/cpu/cpu1/online seq0 from restarts
    if [ ! -w "$online" ]; then
        rl_result hotplug skip "cpu1 cannot be taken offline"
        return
    fi
    seq0=$(enable_seq)
    from=$(($(out_lines) + 1))
    if ! echo 0 >"$online"; then
        rl_result hotplug fail "cannot take cpu1 offline"
        return
    fi
    sleep 3
    echo 1 >"$online"
    sleep 3
    sched_wait_attached
    sleep 2
    restarts=$(tail -n +"$from" "$RL_SCHED_OUT" | grep -c restarting)
    if ! sched_alive; then
        rl_result hotplug fail "scheduler exited after hotplug: $(out_tail 4)"
    elif ! sched_attached; then
        rl_result hotplug fail "not attached after hotplug: state=$(scx_state) ops=$(scx_ops): $(out_tail 3)"
    elif [ "$(enable_seq)" -gt "$seq0" ]; then
        rl_result hotplug pass "re-attached after cpu1 off/on (enable_seq $seq0 -> $(enable_seq), $restarts 'restarting' lines)"
    else
        rl_result hotplug pass "stayed attached through cpu1 off/on without a restart"
    fi
}

sc_sigterm() {
    need_running sigterm || return
    sched_stop TERM
    local exit_line
    exit_line=$(grep -m 1 'EXIT:' "$RL_SCHED_OUT")
    if [ "$RL_SCHED_RC" = 0 ]; then
        rl_result sigterm pass "exit status 0; ${exit_line:-no EXIT: line}"
    elif [ "$RL_SCHED_RC" = 137 ]; then
        rl_result sigterm fail "still running ${RL_STOP_TIMEOUT}s after SIGTERM (killed): $(out_tail 3)"
    else
        rl_result sigterm fail "exit status $RL_SCHED_RC: $(out_tail 3)"
    fi
}

sc_detach() {
    if wait_for 10 scx_disabled; then
        rl_result detach pass "state back to disabled"
    else
        rl_result detach fail "state=$(scx_state) ops=$(scx_ops) 10s after the scheduler stopped"
    fi
}

