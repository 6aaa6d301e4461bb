# SPDX-License-Identifier: GPL-2.0-only
"""Reading the traces a wrap-trace.sh wrapper printed into a VM log (shared by cycles.py and wakeups.py)."""
import re
from typing import NamedTuple

# "<comm>-<pid> [<cpu>] <flags> <seconds>: <event>: <fields>" or, for a syscall entry, "<event>(<args>)".
LINE = re.compile(r"\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\S+?)(?::? (.*)|(\(.*))$")


class Event(NamedTuple):
    us: float  # trace clock (mono), microseconds
    cpu: int
    name: str  # sched_switch, sys_poll, ...
    fields: str  # the rest; a syscall entry's starts with "(", its exit's with "->"
    comm: str
    pid: int


def parse(line):
    """The event on one "TR " line of the log, or None."""
    m = LINE.match(line[3:].rstrip())
    if not m:
        return None
    comm, pid, cpu, secs, name, fields, args = m.groups()
    return Event(float(secs) * 1e6, int(cpu), name.rstrip(":"), fields if fields is not None else args, comm, int(pid))


def sections(path):
    """[(label, events)] for each TRACE-OURS / TRACE-DEFAULT section of the log, in order."""
    found, current = [], None
    for line in open(path, errors="replace"):
        if "TRACE-OURS" in line or "TRACE-DEFAULT" in line:
            current = []
            found.append(("ours" if "TRACE-OURS" in line else "default", current))
        elif "TRACE-END" in line:
            current = None
        elif current is not None and line.startswith("TR "):
            event = parse(line)
            if event:
                current.append(event)
    return found
