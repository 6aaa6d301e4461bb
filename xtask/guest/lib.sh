# Guest-side library of the rustland VM harness (sourced by /init).
#
# Protocol: every line the host must understand goes to fd 3 (the second
# serial port) and starts with "@@RL ":
#   @@RL hello <nonce> <kernel release>      first line, proves the channel works
#   @@RL info <key> <value...>               progress the host may show
#   @@RL result <subject> <scenario> pass|fail|skip <detail...>
#   @@RL done                                the job finished
# Other lines on fd 3 are program output (streamed by `vm-run`, logged always).
#
# /init calls rl_main, the one entry point: it runs the job that RL_MODE names
# (test: the scenarios, run: `vm-run`, bench: `bench`, from bench.sh) between
# the hello and done lines.
#
# Scenarios are shell functions named sc_<name>; the job lists them in
# RL_SCENARIOS and they run in that order for each scheduler. A scenario reports
# exactly one result with rl_result. To add one: write sc_<name> (use
# need_running, sched_attach, sched_stop, stat_sum, kmark/ejections_since) and
# add its name to the scenario list on the host (xtask/src/vm.rs).

RL_SCX=/sys/kernel/sched_ext
RL_SCHED=
RL_SCHED_PID=
RL_SCHED_OUT=/dev/null
RL_SCHED_RC=
RL_RUNS=0
: "${RL_ATTACH_SECS:=30}"
: "${RL_STOP_TIMEOUT:=30}"
: "${RL_SURVIVAL_SECS:=30}"
: "${RL_SIGSTOP_SECS:=10}"
: "${RL_STRESS:=-c 2 -f 2 --affinity 2 --affinity-delay 1 --affinity-pin}"

rl() { echo "@@RL $*" >&3; }
# rl_result <scenario> pass|fail|skip <detail...>, for the current scheduler
rl_result() {
    local scenario=$1 status=$2
    shift 2
    rl result "${RL_SCHED:-kernel}" "$scenario" "$status" "$(echo "$*" | tr '\n' ' ')"
}

now() { cut -d. -f1 /proc/uptime; }
scx_state() { cat $RL_SCX/state 2>/dev/null || echo absent; }
scx_ops() { cat $RL_SCX/root/ops 2>/dev/null; }
enable_seq() { cat $RL_SCX/enable_seq 2>/dev/null || echo 0; }
scx_disabled() { [ "$(scx_state)" = disabled ]; }

# wait_for SECS CMD...: run CMD every 0.2 s until it succeeds or SECS pass
wait_for() {
    local deadline=$(($(now) + $1))
    shift
    while ! "$@"; do
        [ "$(now)" -ge "$deadline" ] && return 1
        usleep 200000
    done
}

# Kernel log markers: kmark NAME, then ejection_lines NAME lists the sched_ext
# disable/error/stall lines logged after the marker, ejections_since NAME the
# first three of them on one line.
kmark() { echo "rustland: mark $1" >/dev/kmsg; }
dmesg_since() { dmesg | awk -v m="rustland: mark $1" 'found { print } index($0, m) { found = 1 }'; }
ejection_lines() {
    dmesg_since "$1" | grep -E 'sched_ext: .*(disabled|error|stall)|runnable task stall|watchdog failed'
}
ejections_since() { ejection_lines "$1" | head -n 3 | tr '\n' ' '; }

# --- the scheduler process --------------------------------------------------

sched_alive() {
    [ -n "$RL_SCHED_PID" ] && [ -d /proc/$RL_SCHED_PID ] &&
        ! grep -q '^State:[[:space:]]*Z' /proc/$RL_SCHED_PID/status 2>/dev/null
}
# sched_attached: sched_ext is enabled with $RL_SCHED's ops (any ops with RL_ANY_OPS=1,
# for binaries that name their ops otherwise)
sched_attached() {
    [ "$(scx_state)" = enabled ] || return 1
    [ "${RL_ANY_OPS:-0}" = 1 ] && return 0
    case "$(scx_ops)" in "${RL_SCHED}_"*) return 0 ;; *) return 1 ;; esac
}
attached_or_dead() { sched_attached || ! sched_alive; }
sched_dead() { ! sched_alive; }

# sched_start ARGS...: start $RL_SCHED in the background, its output to a
# file (or, with RL_STREAM=1, straight to the host channel)
sched_start() {
    RL_RUNS=$((RL_RUNS + 1))
    if [ "${RL_STREAM:-0}" = 1 ]; then
        RL_SCHED_OUT=/dev/null
        "$RL_SCHED" "$@" >&3 2>&3 &
    else
        RL_SCHED_OUT=/tmp/$RL_SCHED.$RL_RUNS.out
        "$RL_SCHED" "$@" >"$RL_SCHED_OUT" 2>&1 &
    fi
    RL_SCHED_PID=$!
    rl info started "$RL_SCHED" "pid=$RL_SCHED_PID" "$*"
}

# sched_wait_attached: wait up to RL_ATTACH_SECS for the scheduler to attach or
# exit; true when it is attached and alive
sched_wait_attached() {
    wait_for "$RL_ATTACH_SECS" attached_or_dead
    sched_attached && sched_alive
}
# sched_attach ARGS...: start $RL_SCHED with --stats 1 ARGS and wait for it to
# attach (see sched_wait_attached). A scheduler that exited is not reaped here:
# the caller reports it.
sched_attach() {
    sched_start --stats 1 "$@"
    sched_wait_attached
}

# sched_stop SIGNAL: signal the scheduler and wait for it, killing it after
# RL_STOP_TIMEOUT s; exit status in RL_SCHED_RC (137 = had to be killed)
sched_stop() {
    local watchdog
    [ -n "$RL_SCHED_PID" ] || return 0
    kill -"$1" "$RL_SCHED_PID" 2>/dev/null
    (sleep "$RL_STOP_TIMEOUT" && kill -KILL "$RL_SCHED_PID" 2>/dev/null) &
    watchdog=$!
    wait "$RL_SCHED_PID"
    RL_SCHED_RC=$?
    kill "$watchdog" 2>/dev/null
    RL_SCHED_PID=
}
# sched_quit: stop the scheduler if it runs (SIGTERM), then wait up to 10 s for
# sched_ext to be disabled
sched_quit() {
    if sched_alive; then sched_stop TERM; fi
    wait_for 10 scx_disabled
}

out_lines() { wc -l <"$RL_SCHED_OUT"; }
# out_tail [N]: the last N lines of the output on one line, colours removed
RL_ESC=$(printf '\033')
out_tail() { tail -n "${1:-3}" "$RL_SCHED_OUT" | sed "s/${RL_ESC}\[[0-9;]*m//g" | grep -v '^[[:space:]]*$' | tr '\n' '|'; }
# stat_sum KEY [FROM_LINE]: sum of KEY=N over the stats lines of the output
stat_sum() {
    awk -v key="$1" -v from="${2:-1}" -v tag="[$RL_SCHED]" '
        NR >= from && index($0, tag) {
            for (i = 1; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == key) s += substr($i, n + 1) }
        }
        END { print s + 0 }' "$RL_SCHED_OUT"
}
# stat_last KEY: the last value of KEY in the stats lines
stat_last() {
    awk -v key="$1" -v tag="[$RL_SCHED]" '
        index($0, tag) {
            for (i = 1; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == key) v = substr($i, n + 1) }
        }
        END { print v + 0 }' "$RL_SCHED_OUT"
}
stats_lines() { grep -c "\[$RL_SCHED\]" "$RL_SCHED_OUT"; }
# stats_lines_since FROM_LINE: stats lines of the output from that line on
stats_lines_since() { tail -n "+$1" "$RL_SCHED_OUT" | grep -c "\[$RL_SCHED\]"; }
# print_kernel_dump PREFIX: the kernel's debug dump of an ejection (which task waited where, each CPU's state),
# in full, to the host log
print_kernel_dump() { sed -n '/kernel debug dump:/,$p' "$RL_SCHED_OUT" | sed "s/^/$1| /" >&3; }

# need_running SCENARIO: report a skip (and fail the call) unless attached
need_running() {
    if sched_alive && sched_attached; then return 0; fi
    rl_result "$1" skip "scheduler not running (state=$(scx_state))"
    return 1
}

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

sc_sigstop() {
    need_running sigstop || return
    local load during from user ejected
    kmark "sigstop-$RL_SCHED"
    (cd /tmp && stress-ng -c 2 -f 1 -t "$((RL_SIGSTOP_SECS + 10))s") >/dev/null 2>&1 &
    load=$!
    sleep 2
    kill -STOP "$RL_SCHED_PID"
    sleep "$RL_SIGSTOP_SECS"
    during=$(scx_state)
    from=$(($(out_lines) + 1))
    kill -CONT "$RL_SCHED_PID"
    sleep 5
    user=$(stat_sum user "$from")
    ejected=$(ejections_since "sigstop-$RL_SCHED")
    wait "$load"
    if [ -n "$ejected" ]; then
        rl_result sigstop fail "ejected while stopped: $ejected"
    elif [ "$during" != enabled ] || ! sched_attached || ! sched_alive; then
        rl_result sigstop fail "state while stopped=$during, now=$(scx_state) alive=$(sched_alive && echo yes || echo no)"
    elif [ "$user" -le 0 ]; then
        rl_result sigstop fail "no user dispatches in the 5s after SIGCONT: $(out_tail 3)"
    else
        rl_result sigstop pass "stopped ${RL_SIGSTOP_SECS}s under load, stayed enabled; user=$user after SIGCONT"
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

# --- fault scenarios (vm-test --faults; docs/reliability.md) ------------------

: "${RL_FAULT_LOAD_SECS:=10}"

# fault_running SCENARIO [ARGS...]: make sure $RL_SCHED runs and is attached,
# starting it with --stats 1 ARGS if it is not; reports a fail otherwise
fault_running() {
    local scenario=$1
    shift
    if sched_alive && sched_attached; then return 0; fi
    sched_quit
    sched_attach "$@" && return 0
    rl_result "$scenario" fail "could not start $RL_SCHED: state=$(scx_state) $(out_tail 3)"
    return 1
}
# ms since boot
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
vmrss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null; }
# sched_field PID FIELD: a field of /proc/PID/sched ("policy", "ext.enabled")
sched_field() { awk -F: -v f="$2" '{ k = $1; gsub(/ /, "", k) } k == f { gsub(/ /, "", $2); print $2 }' /proc/"$1"/sched 2>/dev/null; }
# stress_rate STRESSOR FILE: bogo ops/s (real time) of a stressor in --metrics-brief output
stress_rate() { awk -v s="$1" '$4 == s && $5 ~ /^[0-9]+$/ { print int($9) }' "$2" | head -n 1; }
# stress_cpu_ms STRESSOR FILE: CPU time (user + system, ms) its workers got, from --metrics-brief output
stress_cpu_ms() { awk -v s="$1" '$4 == s && $5 ~ /^[0-9]+$/ { print int(($7 + $8) * 1000) }' "$2" | head -n 1; }
# fault_load_check SCENARIO MARK FROM RC WHAT: the common verdict after a load
fault_load_check() {
    local scenario=$1 mark=$2 from=$3 rc=$4 what=$5 ejected cancelled
    ejected=$(ejections_since "$mark")
    cancelled=$(tail -n +"$from" "$RL_SCHED_OUT" | grep "\[$RL_SCHED\]" | grep -c ' cancelled=')
    if [ -n "$ejected" ]; then
        rl_result "$scenario" fail "ejected: $ejected $(grep -m 1 'EXIT:' "$RL_SCHED_OUT")"
    elif ! sched_alive || ! sched_attached; then
        rl_result "$scenario" fail "scheduler gone: state=$(scx_state) $(out_tail 3)"
    elif [ "$rc" -ne 0 ]; then
        rl_result "$scenario" fail "load exited with $rc: $(tail -n 3 /tmp/fault.log | tr '\n' '|')"
    elif [ "$cancelled" -eq 0 ]; then
        rl_result "$scenario" fail "no stats line with a cancelled= counter during the load"
    elif [ "$(stat_sum user "$from")" -le 0 ]; then
        rl_result "$scenario" fail "no user dispatches during the load"
    else
        rl_result "$scenario" pass "$what; attached, no stall; user=$(stat_sum user "$from") kernel=$(stat_sum kernel "$from") cancelled=$(stat_sum cancelled "$from") bounced=$(stat_sum bounced "$from") fallback=$(stat_sum fallback "$from") direct=$(stat_sum direct "$from")"
    fi
}

sc_churn() {
    fault_running churn || return
    RL_RSS0=$(vmrss_kb "$RL_SCHED_PID")
    RL_FAULT_PID=$RL_SCHED_PID
    kmark "churn-$RL_SCHED"
    local from rc pinned fork exits0
    from=$(($(out_lines) + 1))
    exits0=$(stat_last exits)
    (cd /tmp && taskset -c 1 stress-ng -c 2 -t "${RL_FAULT_LOAD_SECS}s") >/dev/null 2>&1 &
    pinned=$!
    (cd /tmp && stress-ng --affinity 1 --affinity-rand --nice 1 --fork 1 --vfork 1 --pthread 1 --pthread-max 64 -t "${RL_FAULT_LOAD_SECS}s" --metrics-brief) >/tmp/fault.log 2>&1
    rc=$?
    wait "$pinned" || rc=$((rc + 100))
    fork="fork $(stress_rate fork /tmp/fault.log)/s, vfork $(stress_rate vfork /tmp/fault.log)/s, threads $(stress_rate pthread /tmp/fault.log)/s; task exits seen by the policy: $((($(stat_last exits) - exits0) / RL_FAULT_LOAD_SECS))/s"
    fault_load_check churn "churn-$RL_SCHED" "$from" "$rc" \
        "${RL_FAULT_LOAD_SECS}s of affinity churn (random re-pinning), nice changes, fork/exit storm ($fork), 2 hogs pinned to cpu1"
    sed 's/^/stress-ng: /' /tmp/fault.log >&3
}

sc_cimix() {
    fault_running cimix || return
    kmark "cimix-$RL_SCHED"
    local from rc
    from=$(($(out_lines) + 1))
    (cd /tmp && stress-ng --aggressive -M -c 2 -f 2 --affinity 1 --affinity-delay 1 --affinity-pin -t "${RL_FAULT_LOAD_SECS}s") >/tmp/fault.log 2>&1
    rc=$?
    fault_load_check cimix "cimix-$RL_SCHED" "$from" "$rc" \
        "${RL_FAULT_LOAD_SECS}s of the upstream CI mix (--aggressive -M -c 2 -f 2 --affinity 1 --affinity-delay 1 --affinity-pin)"
}

# Two hogs pinned to each CPU and one free hog: the free one must get a fair
# share of CPU time (5 hogs on 2 CPUs: 40 % of a CPU each; at least 3/4 of a
# pinned hog's), not wait behind pinned tasks taking turns on their CPU. The
# verdict is on CPU time, which is what the scheduler hands out; bogo ops per
# second also depend on how fast qemu happens to emulate each vCPU (on a loaded
# host, +-30 % between runs of the same schedule), so they are only reported.
sc_pinned() {
    fault_running pinned || return
    kmark "pinned-$RL_SCHED"
    local from rc p0 p1 free_ms pin0_ms pin1_ms per_pinned_ms ops
    from=$(($(out_lines) + 1))
    (cd /tmp && taskset -c 0 stress-ng -c 2 --cpu-method int64 -t "${RL_FAULT_LOAD_SECS}s" --metrics-brief) >/tmp/pin0.log 2>&1 &
    p0=$!
    (cd /tmp && taskset -c 1 stress-ng -c 2 --cpu-method int64 -t "${RL_FAULT_LOAD_SECS}s" --metrics-brief) >/tmp/pin1.log 2>&1 &
    p1=$!
    (cd /tmp && stress-ng -c 1 --cpu-method int64 -t "${RL_FAULT_LOAD_SECS}s" --metrics-brief) >/tmp/fault.log 2>&1
    rc=$?
    wait "$p0" || rc=$((rc + 100))
    wait "$p1" || rc=$((rc + 100))
    free_ms=$(stress_cpu_ms cpu /tmp/fault.log)
    pin0_ms=$(stress_cpu_ms cpu /tmp/pin0.log)
    pin1_ms=$(stress_cpu_ms cpu /tmp/pin1.log)
    per_pinned_ms=$(((${pin0_ms:-0} + ${pin1_ms:-0}) / 4))
    ops="bogo ops/s: free $(stress_rate cpu /tmp/fault.log), cpu0's two $(stress_rate cpu /tmp/pin0.log), cpu1's two $(stress_rate cpu /tmp/pin1.log)"
    if [ -z "$free_ms" ] || [ "$per_pinned_ms" -le 0 ]; then
        rl_result pinned fail "no stress-ng metrics (free=${free_ms:-none} cpu0=${pin0_ms:-none} cpu1=${pin1_ms:-none} ms): $(tail -n 3 /tmp/fault.log | tr '\n' '|')"
    elif [ $((free_ms * 4)) -lt $((per_pinned_ms * 3)) ]; then
        rl_result pinned fail "the free hog got $free_ms ms of CPU, under 3/4 of a pinned hog's $per_pinned_ms ms (starved behind pinned tasks); $ops"
    else
        fault_load_check pinned "pinned-$RL_SCHED" "$from" "$rc" \
            "${RL_FAULT_LOAD_SECS}s of 2 hogs pinned to each CPU and 1 free hog: CPU ms: free hog $free_ms, pinned hogs $per_pinned_ms each; $ops"
    fi
}

sc_second() {
    fault_running second || return
    local other=$RL_SCHED s rc ops from user
    for s in $RL_SCHEDS; do
        if [ "$s" != "$RL_SCHED" ]; then other=$s; break; fi
    done
    ops=$(scx_ops)
    timeout 30 "$other" --stats 1 >/tmp/second.out 2>&1
    rc=$?
    from=$(($(out_lines) + 1))
    hackbench -g 2 -l 50 >/dev/null 2>&1
    sleep 2
    user=$(stat_sum user "$from")
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 143 ]; then
        rl_result second fail "$other started while $ops ran: exit status $rc: $(tr '\n' '|' </tmp/second.out)"
    elif ! grep -q "already running: ${RL_SCHED}_" /tmp/second.out; then
        rl_result second fail "$other: exit status $rc but the error does not name $ops: $(tr '\n' '|' </tmp/second.out)"
    elif ! sched_alive || ! sched_attached || [ "$(scx_ops)" != "$ops" ]; then
        rl_result second fail "the first scheduler was disturbed: state=$(scx_state) ops=$(scx_ops) $(out_tail 3)"
    elif [ "$user" -le 0 ]; then
        rl_result second fail "the first scheduler stopped dispatching (user=0 after the attempt)"
    else
        rl_result second pass "$other: exit $rc, '$(grep -m 1 'already running' /tmp/second.out)'; $ops still enabled, user=$user after"
    fi
}

sc_unpriv() {
    fault_running unpriv || return
    local rc ops
    ops=$(scx_ops)
    timeout 30 su -p -s /bin/sh nobody -c "/usr/bin/$RL_SCHED --stats 1" >/tmp/unpriv.out 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 143 ]; then
        rl_result unpriv fail "as nobody: exit status $rc: $(tr '\n' '|' </tmp/unpriv.out)"
    elif ! grep -q 'needs root' /tmp/unpriv.out; then
        rl_result unpriv fail "as nobody: exit status $rc without a clear error: $(tr '\n' '|' </tmp/unpriv.out)"
    elif ! sched_attached || [ "$(scx_ops)" != "$ops" ]; then
        rl_result unpriv fail "the running scheduler was disturbed: state=$(scx_state) ops=$(scx_ops)"
    else
        rl_result unpriv pass "as nobody: exit $rc, '$(grep -m 1 'needs root' /tmp/unpriv.out)'"
    fi
}

sc_memory() {
    if [ -z "$RL_RSS0" ] || [ "$RL_FAULT_PID" != "$RL_SCHED_PID" ] || ! sched_alive; then
        rl_result memory skip "the scheduler started by churn is not running any more"
        return
    fi
    local lines faults rss1 growth
    lines=$(grep "\[$RL_SCHED\]" "$RL_SCHED_OUT" | grep -c ' pgfaults=')
    faults=$(stat_last pgfaults)
    rss1=$(vmrss_kb "$RL_SCHED_PID")
    growth=$((rss1 - RL_RSS0))
    if [ "$lines" -eq 0 ]; then
        rl_result memory fail "no stats line with a pgfaults= counter"
    elif [ "$faults" -ne 0 ]; then
        rl_result memory fail "pgfaults=$faults after start (must stay 0); VmRSS ${RL_RSS0} -> ${rss1} kB"
    elif [ "$growth" -gt 1024 ]; then
        rl_result memory fail "VmRSS grew ${RL_RSS0} -> ${rss1} kB (+${growth} kB) through churn, cimix, pinned, second, unpriv"
    else
        rl_result memory pass "pgfaults=0 over $lines stats lines; VmRSS ${RL_RSS0} -> ${rss1} kB through churn, cimix, pinned, second, unpriv"
    fi
}

sc_sigkill() {
    fault_running sigkill || return
    local t0 t1 took state up pid=$RL_SCHED_PID
    # Shell builtins only while timing (a fork costs tens of ms under TCG):
    # /proc/uptime in centiseconds, the state read with `read`.
    read -r up _ </proc/uptime
    t0=${up%.*}${up#*.}
    kill -KILL "$pid"
    t1=$t0
    while [ $((t1 - t0)) -lt 500 ]; do
        read -r state <$RL_SCX/state
        read -r up _ </proc/uptime
        t1=${up%.*}${up#*.}
        [ "$state" = disabled ] && break
        usleep 10000
    done
    took=$(((t1 - t0) * 10))
    wait "$pid" 2>/dev/null
    RL_SCHED_PID=
    if ! scx_disabled; then
        rl_result sigkill fail "state=$(scx_state) 5 s after SIGKILL"
        return
    fi
    if ! sched_attach; then
        rl_result sigkill fail "disabled ${took} ms after SIGKILL, but a new start did not attach: $(out_tail 3)"
    elif [ "$took" -gt 1000 ]; then
        rl_result sigkill fail "state back to disabled only ${took} ms after SIGKILL (limit 1000 ms)"
    else
        rl_result sigkill pass "disabled ${took} ms after SIGKILL; a new start attached (ops=$(scx_ops))"
    fi
    sched_stop TERM
}

sc_partial() {
    sched_quit
    fault_running partial --partial || return
    local from ext norm ext_pol ext_on norm_pol norm_on done_ user fallback t0 hb took
    rl-guest ext sh -c 'while :; do :; done' &
    ext=$!
    sh -c 'while :; do :; done' &
    norm=$!
    sleep 2
    ext_pol=$(sched_field "$ext" policy)
    ext_on=$(sched_field "$ext" ext.enabled)
    norm_pol=$(sched_field "$norm" policy)
    norm_on=$(sched_field "$norm" ext.enabled)
    kill "$ext" "$norm" 2>/dev/null
    wait "$ext" "$norm" 2>/dev/null
    # Then wakeup-heavy SCHED_EXT work (hackbench's tasks inherit the
    # policy) on an otherwise idle machine: it must be dispatched by us.
    from=$(($(out_lines) + 1))
    t0=$(now_ms)
    rl-guest ext hackbench -g 2 -l 50 >/tmp/partial.log 2>&1
    hb=$?
    took=$(($(now_ms) - t0))
    sleep 2
    user=$(stat_sum user "$from")
    done_=$((user + $(stat_sum kernel "$from")))
    fallback=$(stat_sum fallback "$from")
    local seen="SCHED_EXT task: policy=$ext_pol ext.enabled=$ext_on; normal task: policy=$norm_pol ext.enabled=$norm_on"
    if ! sched_alive || ! sched_attached; then
        rl_result partial fail "scheduler gone: state=$(scx_state) $(out_tail 3)"
    elif [ "$hb" -ne 0 ]; then
        rl_result partial fail "SCHED_EXT hackbench exited with $hb: $(tail -n 3 /tmp/partial.log | tr '\n' '|')"
    elif [ "$ext_pol" != 7 ] || [ "$norm_pol" != 0 ]; then
        rl_result partial fail "policies not as set: $seen"
    elif [ "$ext_on" != 1 ] || [ "$norm_on" != 0 ]; then
        rl_result partial fail "$seen"
    elif [ "$done_" -le 0 ]; then
        rl_result partial fail "no dispatches with SCHED_EXT tasks (hackbench) running; fallback=$fallback, hackbench took ${took} ms, $(stats_lines_since "$from") stats line(s) since it started, last: $(out_tail 2); $seen"
    elif [ $((fallback * 10)) -gt "$user" ]; then
        # User space must be the one scheduling the SCHED_EXT tasks: the fallback taking over means the
        # scheduler thread could not run (it waited behind normal tasks on a CPU they had taken).
        rl_result partial fail "the fallback dispatched $fallback tasks, over 10% of user space's $user: user space was not running; $seen"
    else
        rl_result partial pass "$seen; SCHED_EXT hackbench ran ${took} ms, dispatched: user=$user total=$done_ fallback=$fallback"
    fi
    sched_stop TERM
    sed "s/^/$RL_SCHED partial| /" "$RL_SCHED_OUT" >&3
}

sc_panic() {
    sched_quit
    local pid rc alive start end
    export RUSTLAND_TEST_PANIC_AFTER=300
    sched_start --stats 1
    unset RUSTLAND_TEST_PANIC_AFTER
    pid=$RL_SCHED_PID
    start=$(now)
    end=$((start + 40))
    while sched_alive && [ "$(now)" -lt "$end" ]; do
        hackbench -g 2 -l 20 >/dev/null 2>&1
    done
    # The loop can end while the process is still exiting, and an exiting scheduler frees its locked, pre-faulted
    # arena, which under TCG on a busy host can take seconds (docs/reliability.md): give it 20 s before calling it
    # stuck, and name its state if it is.
    wait_for 20 sched_dead
    if sched_alive; then
        rl_result panic fail "still running $(($(now) - start)) s after the start with RUSTLAND_TEST_PANIC_AFTER=300 ($(grep -m 1 '^State:' /proc/"$pid"/status 2>/dev/null | tr -s '\t ' ' ')): $(out_tail 3)"
        sched_stop KILL
        return
    fi
    wait "$pid"
    rc=$?
    RL_SCHED_PID=
    wait_for 5 scx_disabled
    alive=$(sh -c 'echo alive')
    if ! grep -q 'panicked' "$RL_SCHED_OUT"; then
        rl_result panic fail "exit $rc without a panic report: $(out_tail 3)"
    elif [ "$rc" -eq 0 ]; then
        rl_result panic fail "a policy panic exited with status 0"
    elif ! scx_disabled || [ "$alive" != alive ]; then
        rl_result panic fail "state=$(scx_state) after the panic; shell: '$alive'"
    else
        rl_result panic pass "exit $rc, '$(grep -m 1 'EXIT:' "$RL_SCHED_OUT" | cut -c 1-90)'; state disabled, a shell still runs"
    fi
}

sc_badcli() {
    local args rc bad=
    for args in "--no-such-flag" "--stats -1" "--stats abc" "--exit-dump-len -1" "--direct-wakeup-us 5"; do
        # shellcheck disable=SC2086
        "$RL_SCHED" $args >/tmp/badcli.out 2>&1
        rc=$?
        if [ "$rc" -ne 2 ] || ! grep -q 'error' /tmp/badcli.out; then
            bad="$bad [$args: exit $rc $(head -n 1 /tmp/badcli.out)]"
        fi
    done
    RUSTLAND_TEST_PANIC_AFTER=soon "$RL_SCHED" >/tmp/badcli.out 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || bad="$bad [RUSTLAND_TEST_PANIC_AFTER=soon: exit $rc]"
    if [ -n "$bad" ]; then
        rl_result badcli fail "not a usage error:$bad"
    elif ! scx_disabled; then
        rl_result badcli fail "state=$(scx_state) after bad invocations"
    else
        rl_result badcli pass "unknown flag, negative/non-numeric --stats, negative --exit-dump-len, out-of-range --direct-wakeup-us: exit 2 with an error line"
    fi
}

# --- probe scenarios (only when named: vm-test --scenario cycles) -----------

: "${RL_CYCLES:=20}"

# Attach and detach RL_CYCLES times, each time under a short hackbench with CPU hogs beside it: every attach and
# detach flips the kernel's static keys (live code patching), where multi-threaded TCG can leave a stale int3
# behind (docs/reliability.md counts the kernel faults per boot).
sc_cycles() {
    sched_quit
    local i=0 load bad=
    while [ "$i" -lt "$RL_CYCLES" ] && [ -z "$bad" ]; do
        i=$((i + 1))
        (cd /tmp && stress-ng -c 2 -t 4s) >/dev/null 2>&1 &
        load=$!
        if ! sched_attach; then
            bad="cycle $i: did not attach: state=$(scx_state) $(out_tail 3)"
        fi
        hackbench -g 2 -l 50 >/dev/null 2>&1
        wait "$load"
        sched_stop TERM
        [ -n "$bad" ] || [ "$RL_SCHED_RC" = 0 ] || bad="cycle $i: exit status $RL_SCHED_RC: $(out_tail 3)"
        wait_for 10 scx_disabled || bad="${bad:-cycle $i: state=$(scx_state) 10 s after the exit}"
    done
    if [ -n "$bad" ]; then
        rl_result cycles fail "$bad"
    else
        rl_result cycles pass "$RL_CYCLES attach/detach cycles under hackbench and 2 hogs"
    fi
}

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
