# The jobs and the entry point rl_main that /init calls (part of the guest
# library, see scenarios.sh).

# --- jobs ---------------------------------------------------------------------

rl_kernel_checks() {
    RL_SCHED=kernel
    rl_result boot pass "$(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"
    if [ ! -d $RL_SCX ]; then
        rl_result sched_ext fail "no $RL_SCX: this kernel lacks sched_ext (CONFIG_SCHED_CLASS_EXT)"
    elif scx_disabled; then
        rl_result sched_ext pass "state=disabled enable_seq=$(enable_seq)"
    else
        rl_result sched_ext fail "state=$(scx_state) before any scheduler ran"
    fi
    if [ -r /sys/kernel/btf/vmlinux ]; then
        rl_result btf pass "/sys/kernel/btf/vmlinux present"
    else
        rl_result btf fail "no /sys/kernel/btf/vmlinux (BPF schedulers need kernel BTF)"
    fi
    if (cd /tmp && stress-ng -c 1 -t 1s && hackbench -g 2 -l 20) >/tmp/tools.log 2>&1; then
        rl_result tools pass "stress-ng and hackbench run"
    else
        rl_result tools fail "guest tools failed: $(tail -n 3 /tmp/tools.log | tr '\n' '|')"
    fi
    # The same-boot reference of the stall scenarios (stall.sh).
    case " $RL_SCENARIOS " in
    *" sigstop "* | *" spin "* | *" threads "* | *" starve "*) rl_stall_baseline ;;
    esac
}

# rl_test_sched NAME: every scenario of RL_SCENARIOS for one scheduler
rl_test_sched() {
    RL_SCHED=$1
    RL_LOAD_FROM=
    rl info testing "$RL_SCHED"
    for scenario in $RL_SCENARIOS; do
        kmark "$RL_SCHED-$scenario"
        "sc_$scenario"
    done
    if sched_alive; then
        sched_stop KILL
    elif [ -n "$RL_SCHED_PID" ]; then
        # It exited on its own (ejected or crashed): record how.
        wait "$RL_SCHED_PID"
        rl info exited "$RL_SCHED" "status=$?" "$(grep -m 1 'EXIT:' "$RL_SCHED_OUT")"
        RL_SCHED_PID=
    fi
    wait_for 10 scx_disabled
    sed "s/^/$RL_SCHED| /" "$RL_SCHED_OUT" >&3
}

rl_test() {
    rl_kernel_checks
    for sched in $RL_SCHEDS; do
        rl_test_sched "$sched"
    done
}

# vm-run: one scheduler with --stats 1 and the user's arguments, streamed,
# under a demo workload for RL_RUN_SECS seconds
rl_run() {
    RL_SCHED=$RL_RUN_SCHED
    RL_STREAM=1
    if ! scx_disabled; then
        rl_result attach fail "sched_ext is $(scx_state) before the start"
        return
    fi
    eval "set -- $RL_RUN_ARGS"
    sched_attach "$@"
    if ! sched_attached; then
        if sched_alive; then
            rl_result attach fail "not attached after ${RL_ATTACH_SECS}s: state=$(scx_state)"
            sched_stop TERM
        else
            wait "$RL_SCHED_PID"
            RL_SCHED_RC=$?
            rl_result attach fail "the scheduler exited with status $RL_SCHED_RC before attaching"
        fi
        return
    fi
    rl_result attach pass "ops=$(scx_ops)"
    rl info workload "$RL_WORKLOAD for ${RL_RUN_SECS}s"
    local end=$(($(now) + RL_RUN_SECS))
    case "$RL_WORKLOAD" in
    stress)
        (cd /tmp && stress-ng -c 2 -f 1 -t "${RL_RUN_SECS}s" --metrics-brief) >&3 2>&3
        ;;
    hackbench)
        while [ "$(now)" -lt "$end" ]; do
            hackbench -g 4 -l 100 >/dev/null 2>&1 || break
        done
        ;;
    *)
        sleep "$RL_RUN_SECS"
        ;;
    esac
    if ! sched_alive; then
        rl_result run fail "scheduler exited during the run (state=$(scx_state))"
    elif ! sched_attached; then
        rl_result run fail "scheduler no longer attached (state=$(scx_state))"
    else
        rl_result run pass "attached for the whole ${RL_RUN_SECS}s"
    fi
    sched_stop TERM
    if [ "$RL_SCHED_RC" = 0 ]; then
        rl_result exit pass "exit status 0"
    else
        rl_result exit fail "exit status ${RL_SCHED_RC:-unknown}"
    fi
    sc_detach
}

# The entry point (called by /init): the job RL_MODE names, between hello and
# done. `bench` is defined by bench.sh, which the bench job script appends.
rl_main() {
    rl hello "$RL_NONCE" "$(uname -r)"
    case "$RL_MODE" in
    test) rl_test ;;
    run) rl_run ;;
    bench) rl_bench ;;
    *) rl info error "unknown mode $RL_MODE" ;;
    esac
    rl done
}
