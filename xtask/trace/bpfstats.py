#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Time per call of each BPF program, from the S0/S1 lines that a wrap-bpfstats.sh wrapper printed into a VM log.

Usage: bpfstats.py VM_LOG   (one table per scheduler process found in the log)
"""
import re
import sys


def main(path):
    snaps = {}
    for line in open(path, errors="replace"):
        m = re.match(r"(S[01]) (\d+) .*prog_id: (\d+) run_time_ns: (\d+) run_cnt: (\d+) .*verified_insns: (\d+)", line)
        if m:
            tag, _fd, pid, ns, cnt, insns = m.groups()
            snaps.setdefault(tag, {})[int(pid)] = (int(ns), int(cnt), int(insns))
            if tag == "S1" and len(snaps["S1"]) == len(snaps.get("S0", {})):
                report(snaps)
                snaps = {}


def report(snaps):
    print("prog_id  insns     calls  us/call  ms total")
    for pid in sorted(snaps["S1"]):
        ns1, cnt1, insns = snaps["S1"][pid]
        ns0, cnt0, _ = snaps["S0"].get(pid, (0, 0, insns))
        calls = cnt1 - cnt0
        if calls:
            print(f"{pid:7d} {insns:6d} {calls:9d} {(ns1 - ns0) / calls / 1000:8.1f} {(ns1 - ns0) / 1e6:9.1f}")
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
