# Guest side of `cargo xtask bench` (appended to the boot's job script, after
# lib.sh is sourced, so it reuses lib.sh's helpers). It sets RL_MODE=bench:
# lib.sh's rl_main then runs rl_bench.
#
# Extra tagged lines (parsed on the host by xtask/src/bench.rs):
#   @@RL bench sample <phase> <sched> <workload> <rep> key=value...
#   @@RL bench hist <phase> <sched> <rep> <upper_us>:<count>... over:<count>
#   @@RL bench status <phase> <sched> key=value...
# <sched> is `default` for the kernel's own scheduler. Progress goes out as
# `@@RL info phase ...` lines, which the host prints as they come.
#
# Job variables: RL_BENCH_SCHEDS (bundled schedulers, ops name checked),
# RL_BENCH_EXTRA (other sched_ext binaries, any ops name), RL_BENCH_REPEAT,
# RL_BENCH_CYC_SECS, RL_BENCH_HOG_SECS, RL_BENCH_SWITCH_SECS,
# RL_BENCH_HB_GROUPS, RL_BENCH_HB_LOOPS, RL_BENCH_HIST_US, RL_BENCH_WORKLOADS
# (the workloads to run, in order).

: "${RL_BENCH_REPEAT:=3}"
: "${RL_BENCH_CYC_SECS:=10}"
: "${RL_BENCH_HOG_SECS:=6}"
: "${RL_BENCH_SWITCH_SECS:=4}"
: "${RL_BENCH_HB_GROUPS:=4}"
: "${RL_BENCH_HB_LOOPS:=100}"
: "${RL_BENCH_HIST_US:=500000}"
: "${RL_BENCH_WORKLOADS:=hackbench cyclictest hogs switch}"
: "${RL_BENCH_TMP:=/tmp}"
RL_MODE=bench

uptime_s() { cut -d' ' -f1 /proc/uptime; }
# CPU time (utime + stime, clock ticks) of the scheduler process, 0 without one
sched_ticks() {
    if [ -n "$RL_SCHED_PID" ] && [ -r /proc/$RL_SCHED_PID/stat ]; then
        awk '{ print $14 + $15 }' /proc/$RL_SCHED_PID/stat
    else
        echo 0
    fi
}
# bench_attached: the phase's scheduler is attached (always true under the
# default scheduler)
bench_attached() {
    [ -n "$RL_SCHED_PID" ] || return 0
    sched_attached
}

# ctxt_count: context switches of the whole machine since boot
ctxt_count() { awk '/^ctxt / { print $2 }' /proc/stat; }
# idle_ticks: "cpuN:T ..." with T the idle + iowait clock ticks of each CPU
idle_ticks() { awk '/^cpu[0-9]/ { printf "%s:%d ", $1, $5 + $6 }' /proc/stat; }
# idle_pct BEFORE AFTER SECONDS: "idle_cpuN=P ..." with P the percentage of the
# window each CPU spent idle (clock ticks are 1/100 s)
idle_pct() {
    awk -v a="$1" -v b="$2" -v secs="$3" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) {
            split(x[i], p, ":"); split(y[i], q, ":")
            if (secs > 0 && p[1] == q[1]) printf "idle_%s=%.1f ", p[1], (q[2] - p[2]) / secs
        }
    }'
}

# bench_sample WORKLOAD REP METRICS...: one sample line, with the scheduler's
# CPU time and dispatches and each CPU's idle time over the workload's window
# appended
bench_sample() {
    local w=$1 rep=$2 ticks wall user kernel direct batched att idle ctxt
    shift 2
    ticks=$((${RL_T1:-$(sched_ticks)} - RL_T0))
    ctxt=$((${RL_CX1:-$(ctxt_count)} - RL_CX0))
    wall=$(awk -v a="$RL_UP0" -v b="${RL_UP1:-$(uptime_s)}" 'BEGIN { printf "%.2f", b - a }')
    if [ -n "$RL_SCHED_PID" ]; then
        user=$(stat_sum user "$RL_L0")
        kernel=$(stat_sum kernel "$RL_L0")
        direct=$(stat_sum direct "$RL_L0")
        batched=$(stat_sum batched "$RL_L0")
    else
        user=0
        kernel=0
        direct=0
        batched=0
    fi
    att=1
    bench_attached || att=0
    idle=$(idle_pct "$RL_IDLE0" "${RL_IDLE1:-$(idle_ticks)}" "$wall")
    # shellcheck disable=SC2086
    rl bench sample "$RL_PHASE" "$RL_BENCH_NAME" "$w" "$rep" "$@" \
        "wall_s=$wall" "sched_ticks=$ticks" "user=$user" "kernel=$kernel" "direct=$direct" "batched=$batched" "ctxt=$ctxt" "attached=$att" $idle
}

# bench_window: start measuring the scheduler over a workload
bench_window() {
    RL_T1= RL_UP1= RL_IDLE1= RL_CX1=
    RL_T0=$(sched_ticks)
    RL_CX0=$(ctxt_count)
    RL_UP0=$(uptime_s)
    RL_IDLE0=$(idle_ticks)
    if [ -n "$RL_SCHED_PID" ]; then RL_L0=$(($(out_lines) + 1)); else RL_L0=1; fi
}

# bench_window_end: the workload is over (for a workload whose results take long
# to process, so that the processing is not part of the window)
bench_window_end() {
    RL_UP1=$(uptime_s)
    RL_IDLE1=$(idle_ticks)
    RL_CX1=$(ctxt_count)
    RL_T1=$(sched_ticks)
}

w_hackbench() {
    local t
    bench_window
    t=$(cd /tmp && hackbench -g "$RL_BENCH_HB_GROUPS" -l "$RL_BENCH_HB_LOOPS" 2>&1 | awk '/^Time:/ { print $2 }')
    bench_sample hackbench "$1" "time_s=${t:-nan}"
}

w_cyclictest() {
    local hogs rep=$1
    bench_window
    (cd /tmp && stress-ng -c 2 --cpu-method int64 -t "$((RL_BENCH_CYC_SECS + 2))s" --metrics-brief) >$RL_BENCH_TMP/cyc-hogs.log 2>&1 &
    hogs=$!
    sleep 1
    rm -f $RL_BENCH_TMP/cyc.hist
    cyclictest -t 1 -i 1000 -D "${RL_BENCH_CYC_SECS}s" -q -h "$RL_BENCH_HIST_US" --histfile=$RL_BENCH_TMP/cyc.hist >$RL_BENCH_TMP/cyc.log 2>&1
    wait "$hogs"
    bench_window_end
    # Percentiles from the 1 us histogram (overflows count as above its end);
    # log2 buckets for the plot. cyclictest pads numbers with zeros, which
    # busybox awk would read as octal: dec() strips them.
    awk -v limit="$RL_BENCH_HIST_US" -v hogs="$(metrc_ops $RL_BENCH_TMP/cyc-hogs.log cpu)" '
        function dec(s) { sub(/^0+/, "", s); return s + 0 }
        /^[0-9]/ { us = dec($1); c = dec($2); n[us] = c; total += c; next }
        /# Avg Latencies:/ { avg = dec($4) }
        /# Max Latencies:/ { max = dec($4) }
        /# Min Latencies:/ { min = dec($4) }
        /# Histogram Overflows:/ { over = dec($4) }
        END {
            all = total + over
            if (all == 0) { print "cyclictest samples=0 hog_ops_s=" hogs; exit }
            want50 = all * 0.50; want99 = all * 0.99; want999 = all * 0.999
            p50 = p99 = p999 = -1; acc = 0; b = 1; line = ""
            for (us = 0; us < limit; us++) {
                acc += n[us]
                if (p50 < 0 && acc >= want50) p50 = us
                if (p99 < 0 && acc >= want99) p99 = us
                if (p999 < 0 && acc >= want999) p999 = us
                while (us >= b) { line = line " " b ":" bc; bc = 0; b *= 2 }
                bc += n[us]
            }
            line = line " " b ":" bc " over:" over
            if (p50 < 0) p50 = limit; if (p99 < 0) p99 = limit; if (p999 < 0) p999 = limit
            printf "cyclictest samples=%d avg_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d min_us=%d overflows=%d hog_ops_s=%s\n", all, avg, p50, p99, p999, max, min, over, hogs
            print "hist" line
        }' $RL_BENCH_TMP/cyc.hist >$RL_BENCH_TMP/cyc.sum
    # shellcheck disable=SC2046
    bench_sample cyclictest "$rep" $(sed -n '1s/^cyclictest //p' $RL_BENCH_TMP/cyc.sum)
    rl bench hist "$RL_PHASE" "$RL_BENCH_NAME" "$rep" $(sed -n '2s/^hist //p' $RL_BENCH_TMP/cyc.sum)
}

# Three single-hog stress-ng instances on two CPUs: total bogo ops/s and
# Jain's fairness index over the three.
w_hogs() {
    local i pids=
    bench_window
    for i in 1 2 3; do
        (cd /tmp && stress-ng -c 1 --cpu-method int64 -t "${RL_BENCH_HOG_SECS}s" --metrics-brief) >$RL_BENCH_TMP/hog$i.log 2>&1 &
        pids="$pids $!"
    done
    # shellcheck disable=SC2086
    wait $pids
    set -- "$1" "$(metrc_ops $RL_BENCH_TMP/hog1.log cpu)" "$(metrc_ops $RL_BENCH_TMP/hog2.log cpu)" "$(metrc_ops $RL_BENCH_TMP/hog3.log cpu)"
    bench_sample hogs "$1" $(awk -v a="$2" -v b="$3" -v c="$4" 'BEGIN {
        s = a + b + c; q = a * a + b * b + c * c
        printf "ops_s=%.2f jain=%.4f hog1=%s hog2=%s hog3=%s", s, (q > 0 ? s * s / (3 * q) : 0), a, b, c }')
}

w_switch() {
    bench_window
    (cd /tmp && stress-ng --switch 1 -t "${RL_BENCH_SWITCH_SECS}s" --metrics-brief) >$RL_BENCH_TMP/switch.log 2>&1
    bench_sample switch "$1" "ops_s=$(metrc_ops $RL_BENCH_TMP/switch.log switch)"
}

# bench_phase LABEL [SCHEDULER [any]]: the workloads RL_BENCH_REPEAT times,
# under SCHEDULER (or the default scheduler)
bench_phase() {
    RL_PHASE=$1
    RL_SCHED=${2:-}
    RL_BENCH_NAME=${2:-default}
    RL_ANY_OPS=0
    [ "${3:-}" = any ] && RL_ANY_OPS=1
    local reps=$RL_BENCH_REPEAT rep w pf0=0 pf1=0 ejections rc=0 exit_line= t0
    case $RL_PHASE in warmup*) reps=1 ;; esac
    rl info phase "$RL_PHASE: $RL_BENCH_NAME, $reps repetition(s)"
    kmark "bench-$RL_PHASE"
    RL_SCHED_PID=
    if [ -n "$RL_SCHED" ]; then
        if ! scx_disabled; then
            rl bench status "$RL_PHASE" "$RL_BENCH_NAME" attached=0 "reason=sched_ext_already_$(scx_state)"
            return
        fi
        t0=$(now)
        if ! sched_attach; then
            rl bench status "$RL_PHASE" "$RL_BENCH_NAME" attached=0 "reason=not_attached_after_$(($(now) - t0))s"
            sed "s/^/$RL_BENCH_NAME| /" "$RL_SCHED_OUT" >&3
            sched_alive && sched_stop TERM
            RL_SCHED_PID=
            wait_for 10 scx_disabled
            return
        fi
        sleep 2
        pf0=$(stat_last pgfaults)
    fi
    for rep in $(seq 1 "$reps"); do
        for w in $RL_BENCH_WORKLOADS; do
            "w_$w" "$rep"
        done
    done
    if [ -n "$RL_SCHED" ]; then
        pf1=$(stat_last pgfaults)
        ejections=$(ejection_lines "bench-$RL_PHASE" | grep -c '')
        local alive=0 att=0
        sched_alive && alive=1
        bench_attached && att=1
        sched_alive && sched_stop TERM
        rc=${RL_SCHED_RC:-0}
        exit_line=$(grep -m 1 'EXIT:' "$RL_SCHED_OUT" | sed "s/${RL_ESC}\[[0-9;]*m//g" | tr -c 'A-Za-z0-9_.:=-' '_')
        wait_for 10 scx_disabled
        rl bench status "$RL_PHASE" "$RL_BENCH_NAME" attached=1 "attached_end=$att" "alive_end=$alive" \
            "ejections=$ejections" "exit_rc=$rc" "pgfaults_start=$pf0" "pgfaults_end=$pf1" \
            "stats_lines=$(stats_lines)" "exit=${exit_line:-none}"
        [ "$ejections" -gt 0 ] && print_kernel_dump "$RL_BENCH_NAME"
        tail -n 5 "$RL_SCHED_OUT" | sed "s/^/$RL_BENCH_NAME| /" >&3
    else
        rl bench status "$RL_PHASE" "$RL_BENCH_NAME" attached=1
    fi
    RL_SCHED=
    RL_SCHED_PID=
}

rl_bench() {
    rl info bench "$(uname -r), $(nproc) CPUs, repeat=$RL_BENCH_REPEAT"
    bench_phase warmup
    # The first sched_ext phase of a boot runs slowest (TCG translates the
    # kernel's sched_ext paths the first time they run): warm those up too,
    # with the first scheduler to be measured. Not reported either.
    set -- $RL_BENCH_SCHEDS
    if [ $# -gt 0 ]; then
        bench_phase warmup-scx "$1"
    else
        set -- $RL_BENCH_EXTRA
        [ $# -gt 0 ] && bench_phase warmup-scx "$1" any
    fi
    bench_phase default
    for s in $RL_BENCH_SCHEDS; do
        bench_phase "$s" "$s"
    done
    for s in $RL_BENCH_EXTRA; do
        bench_phase "$s" "$s" any
    done
    bench_phase default-again
}

