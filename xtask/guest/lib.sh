# Guest-side library of the rustland VM harness: the channel to the host and
# the helpers that drive a scheduler. xtask/src/initramfs.rs joins it with
# scenarios.sh, faults.sh and main.sh into the guest's /rustland/lib.sh, which
# /init sources.
#
# Protocol: every line the host must understand goes to fd 3 (the second
# serial port) and starts with "@@RL ":
#   @@RL hello <nonce> <kernel release>      first line, proves the channel works
#   @@RL info <key> <value...>               progress the host may show
#   @@RL result <subject> <scenario> pass|fail|skip <detail...>
#   @@RL done                                the job finished
# Other lines on fd 3 are program output (streamed by `vm-run`, logged always).
#
# /init calls rl_main (main.sh), the one entry point: it runs the job that
# RL_MODE names (test: the scenarios, run: `vm-run`, bench: `bench`, from
# bench.sh) between the hello and done lines.
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
# metrc_ops FILE NAME: bogo ops/s (real time) of stressor NAME in stress-ng's --metrics-brief output
metrc_ops() {
    awk -v name="$2" '/metrc:/ { for (i = 1; i < NF; i++) if ($i == name && $(i + 1) ~ /^[0-9.]+$/ && $(i + 5) ~ /^[0-9.]+$/) v = $(i + 5) } END { print v + 0 }' "$1"
}
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

