#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Where each cyclictest cycle's latency goes, from the traces wrap-trace.sh wrappers printed into a VM log.

Usage: cycles.py VM_LOG

For every trace section (the scheduler's, then the default scheduler's), per cycle of cyclictest's measuring
thread: timer expiry (hrtimer_start's expires) -> hrtimer_expire_entry (hx) -> sched_waking (wk) -> switched in (sw)
-> clock_nanosleep returns (ret), with the median and mean of each step in microseconds.
"""
import re
import statistics
import sys

from tracelog import sections


def cycle(events, start):
    """The steps of the cycle whose timer cyclictest armed with events[start], or None if one is missing."""
    armed = events[start]
    expiry = int(re.search(r"expires=(\d+)", armed.fields).group(1)) / 1000.0
    timer = re.search(r"hrtimer=(\S+)", armed.fields).group(1)
    me = "pid=%d " % armed.pid
    steps = {"exp": expiry}
    for e in events[start + 1 :]:
        if e.us > expiry + 30000:
            break
        if e.name == "local_timer_entry" and e.cpu == armed.cpu and e.us >= expiry - 5:
            steps.setdefault("irq", e.us)
        elif e.name == "hrtimer_expire_entry" and timer in e.fields:
            steps.setdefault("hx", e.us)
        elif e.name == "sched_waking" and me in e.fields and e.us >= expiry - 5:
            steps.setdefault("wk", e.us)
        elif e.name == "sched_switch" and "next_" + me in e.fields and "wk" in steps:
            steps.setdefault("sw", e.us)
        elif e.name == "sys_clock_nanosleep" and e.pid == armed.pid and "sw" in steps:
            steps["ret"] = e.us
            return steps if "hx" in steps else None
    return None


def main(path):
    for label, events in sections(path):
        starts = [
            i
            for i, e in enumerate(events)
            if e.name == "hrtimer_start" and e.comm == "cyclictest" and "hrtimer_wakeup" in e.fields
        ]
        cycles = [c for c in (cycle(events, i) for i in starts) if c]
        print("==", label, len(cycles), "cycles")
        if not cycles:
            continue
        for a, b in [("exp", "hx"), ("hx", "wk"), ("wk", "sw"), ("sw", "ret"), ("exp", "ret"), ("exp", "irq")]:
            d = [c[b] - c[a] for c in cycles if b in c]
            if d:
                print("  %4s->%-4s p50 %6.0f mean %6.0f" % (a, b, statistics.median(d), statistics.mean(d)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
