#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: wrap-trace.sh WRAPPER SCHEDULER
# Writes WRAPPER, a script to pass to `cargo xtask bench --compare-bin`. In the guest it runs /usr/bin/SCHEDULER
# (a bundled binary, or another --compare-bin) with the bench's arguments and, 6 s into the phase (inside the first
# cyclictest run), records 150 ms of tracefs events under it, then stops it, records 150 ms under the kernel's
# default scheduler, and starts it again. Both traces go to the console, so into the VM log, between the lines
# TRACE-OURS, TRACE-DEFAULT and TRACE-END, each line prefixed "TR ". Read them with cycles.py and wakeups.py.
# The stop in the middle shows as one "watchdog exit" (the disable line) in the phase's report row.
[ $# -eq 2 ] || { echo "usage: $0 WRAPPER SCHEDULER" >&2; exit 2; }
cat > "$1" <<EOW
#!/bin/sh
T=/sys/kernel/tracing
[ -d \$T/events ] || mount -t tracefs nodev \$T
echo 0 > \$T/tracing_on
echo > \$T/trace
echo mono > \$T/trace_clock
echo 30000 > \$T/buffer_size_kb
for e in sched/sched_switch sched/sched_waking syscalls/sys_enter_epoll_wait syscalls/sys_exit_epoll_wait syscalls/sys_enter_poll syscalls/sys_exit_poll syscalls/sys_enter_sched_yield syscalls/sys_exit_sched_yield syscalls/sys_exit_clock_nanosleep timer/hrtimer_start timer/hrtimer_expire_entry irq_vectors/local_timer_entry irq_vectors/local_timer_exit irq_vectors/irq_work_entry irq_vectors/irq_work_exit; do
  echo 1 > \$T/events/\$e/enable 2>/dev/null || echo "no event \$e" > /dev/console
done
/usr/bin/$2 "\$@" &
pid=\$!
echo \$pid > /tmp/tr.pid
trap 'kill -TERM \$(cat /tmp/tr.pid)' TERM
trap 'kill -INT \$(cat /tmp/tr.pid)' INT
(
  sleep 6; echo 1 > \$T/tracing_on; sleep 0.15; echo 0 > \$T/tracing_on
  grep -v "^#" \$T/trace > /tmp/trace1.txt; echo > \$T/trace
  kill -INT \$(cat /tmp/tr.pid); sleep 1
  echo 1 > \$T/tracing_on; sleep 0.15; echo 0 > \$T/tracing_on
  grep -v "^#" \$T/trace > /tmp/trace2.txt
  /usr/bin/$2 "\$@" > /tmp/tr2.out 2>&1 &
  echo \$! > /tmp/tr.pid
  sleep 1
  wc -l /tmp/trace1.txt /tmp/trace2.txt > /dev/console
  echo "TRACE-OURS" > /dev/console; sed "s/^/TR /" /tmp/trace1.txt > /dev/console
  echo "TRACE-DEFAULT" > /dev/console; sed "s/^/TR /" /tmp/trace2.txt > /dev/console; echo "TRACE-END" > /dev/console
) &
wait \$pid
sleep 3
while kill -0 \$(cat /tmp/tr.pid) 2>/dev/null; do sleep 0.2; done
EOW
chmod +x "$1"
