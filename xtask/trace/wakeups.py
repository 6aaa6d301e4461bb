#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The user-space round trip of each cyclictest wakeup, from the traces wrap-trace.sh wrappers printed.

Usage: wakeups.py VM_LOG SCHED_COMM [SLOW_US]

For every trace section of the scheduler (comm SCHED_COMM), per wakeup of cyclictest that went through it: waking
-> the scheduler's own waking (swake, if it slept) -> scheduler switched in (son) -> its syscall returns (sret:
poll, epoll_wait or sched_yield) -> it enters the next one (senter: the round's user-space work in between) ->
cyclictest switched in (run). With SLOW_US, prints the events of up to four wakeups whose senter -> run step took
longer.
"""
import statistics
import sys

from tracelog import sections


def wakeup(events, start, sched):
    """The steps of the wakeup at events[start], or None if cyclictest is not switched in soon after."""
    steps = {"wake": events[start].us}
    for e in events[start + 1 : start + 60]:
        if e.name == "sched_waking" and "comm=" + sched in e.fields:
            steps.setdefault("swake", e.us)
        elif e.name == "sched_switch" and "next_comm=" + sched in e.fields:
            steps.setdefault("son", e.us)
        elif e.name == "sched_switch" and "next_comm=cyclictest" in e.fields:
            steps["run"] = e.us
            return steps
        elif e.comm == sched and e.name.startswith("sys_") and "son" in steps:
            if e.fields.startswith("->"):
                steps.setdefault("sret", e.us)
            elif e.fields.startswith("(") and "sret" in steps:
                steps.setdefault("senter", e.us)
    return None


def main(path, sched, slow_us):
    for label, events in sections(path):
        if label != "ours":
            continue
        found = [
            w
            for w in (
                wakeup(events, i, sched)
                for i, e in enumerate(events)
                if e.name == "sched_waking" and "comm=cyclictest" in e.fields
            )
            if w
        ]
        via = [w for w in found if w.get("son", w["run"]) < w["run"]]
        print("%d wakeups, %d through the scheduler" % (len(found), len(via)))
        if not found:
            continue
        total = [w["run"] - w["wake"] for w in found]
        print("total p50 %.0f mean %.0f" % (statistics.median(total), statistics.mean(total)))
        for a, b in [("wake", "swake"), ("wake", "son"), ("son", "sret"), ("sret", "senter"), ("senter", "run")]:
            d = [w[b] - w[a] for w in via if a in w and b in w]
            if d:
                print("%6s->%-6s n=%3d p50 %6.0f mean %6.0f" % (a, b, len(d), statistics.median(d), statistics.mean(d)))
        if slow_us is None:
            continue
        slow = [w for w in via if "senter" in w and w["run"] - w["senter"] > slow_us][:4]
        for w in slow:
            print("---- slow: senter->run %.0f" % (w["run"] - w["senter"]))
            for e in events:
                if w["wake"] - 5 <= e.us <= w["run"] + 1:
                    print("%10.0f [%d] %-14s %s %s" % (e.us - w["wake"], e.cpu, e.comm, e.name, e.fields[:110]))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else None)
