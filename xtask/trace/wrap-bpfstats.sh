#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: wrap-bpfstats.sh WRAPPER SCHEDULER
# Writes WRAPPER, a script to pass to `cargo xtask bench --compare-bin`. In the guest it turns on the kernel's BPF
# run-time statistics (kernel.bpf_stats_enabled) and runs /usr/bin/SCHEDULER; 4 s and 9 s into the phase it prints
# the fdinfo of every BPF program the scheduler holds (prog_id, run_time_ns, run_cnt, verified_insns) to the
# console, on lines starting "S0 " and "S1 ". The difference of the two is the time per call of each struct_ops
# callback; fdinfo has no program names, tell them apart by call counts (running = stopping, enqueue, dispatch).
[ $# -eq 2 ] || { echo "usage: $0 WRAPPER SCHEDULER" >&2; exit 2; }
cat > "$1" <<EOW
#!/bin/sh
echo 1 > /proc/sys/kernel/bpf_stats_enabled
/usr/bin/$2 "\$@" &
pid=\$!
trap 'kill -TERM \$pid' TERM
trap 'kill -INT \$pid' INT
(
  sleep 4
  for f in /proc/\$pid/fdinfo/*; do grep -q prog_type \$f 2>/dev/null && echo "S0 \$(basename \$f) \$(tr '\n\t' '  ' < \$f)" ; done > /tmp/s0.txt
  sleep 5
  for f in /proc/\$pid/fdinfo/*; do grep -q prog_type \$f 2>/dev/null && echo "S1 \$(basename \$f) \$(tr '\n\t' '  ' < \$f)" ; done > /tmp/s1.txt
  cat /tmp/s0.txt /tmp/s1.txt > /dev/console
) &
wait \$pid
EOW
chmod +x "$1"
