"""The sandboxed process tree as seen from the grader, through /proc: who is in it, how much
memory and CPU it uses, and killing all of it.

The tree is the launched process and its descendants (for bwrap: bwrap, the sandbox's init and
everything under it, since orphans inside a pid namespace are adopted by that init). Memory is
anonymous plus shared resident memory (RssAnon + RssShmem): it catches what RLIMIT_DATA does not
count, such as shared anonymous mappings, and what the per-process limit cannot, several
processes each under it. Forked copies of the same pages are counted once per process, so the
total errs high, never low.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    cpu_seconds: float
    tasks: int  # processes and threads


def tree(root: int) -> list[int]:
    """`root` and its live descendants; processes that vanish while being read are skipped."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as children:
                    queue.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def usage(pids: list[int]) -> Usage:
    """Memory, CPU time (the processes' own and that of the children they reaped) and task count."""
    memory_kib, ticks, tasks = 0, 0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat_file:
                stat = stat_file.read()
            with open(f"/proc/{pid}/status") as status_file:
                status = status_file.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        tasks += int(fields[17])
        for line in status.splitlines():
            if line.startswith(("RssAnon:", "RssShmem:")):
                memory_kib += int(line.split()[1])
    return Usage(memory_bytes=memory_kib * 1024, cpu_seconds=ticks / CLOCK_TICKS, tasks=tasks)


def kill_tree(root: int) -> None:
    """SIGKILL the root's process group and every descendant, including those that left the group."""
    pids = tree(root)
    try:
        os.killpg(root, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill(pids)


def kill(pids: list[int]) -> None:
    """SIGKILL each of `pids` that is still there."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def tasks_of_user(uid: int) -> int:
    """Processes and threads whose real uid is `uid`: what RLIMIT_NPROC counts outside a user namespace."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status_file:
                status = dict(line.split(":", 1) for line in status_file.read().splitlines() if ":" in line)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(status["Uid"].split()[0]) == uid:
            count += int(status["Threads"])
    return count
