"""CPU time by process over a measured window, from ``/proc/<pid>/stat``.

A process's CPU is its user+system time (``utime + stime``) plus that of the children it has
waited for (``cutime + cstime``). PostgreSQL forks a backend per connection, and a backend may exit
inside the window, so PostgreSQL's figure is the postmaster's own four fields plus ``utime +
stime`` of every live process whose parent is the postmaster: when a backend exits, its time moves
from the second sum into the postmaster's ``cutime/cstime``, so the total stays continuous and a
difference of two readings is exactly the CPU spent in between.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Watched:
    """A process to account for; ``with_children`` adds its live children (PostgreSQL)."""

    pid: int
    with_children: bool = False


@dataclass(frozen=True)
class _Stat:
    ppid: int
    own_ticks: int
    """utime + stime"""
    reaped_ticks: int
    """cutime + cstime: children already waited for"""


def _stat(pid: int | str) -> _Stat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    # Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of proc(5), counted from 1.
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return _Stat(ppid, utime + stime, cutime + cstime)


def _children_ticks(parent: int) -> int:
    total = 0
    for entry in PROC.iterdir():
        stat = _stat(entry.name) if entry.name.isdigit() else None
        if stat is not None and stat.ppid == parent:
            total += stat.own_ticks
    return total


def ticks(watched: Watched) -> int | None:
    """CPU ticks the process (and, if asked, its live children) used so far; None if gone."""
    stat = _stat(watched.pid)
    if stat is None:
        return None
    total = stat.own_ticks + stat.reaped_ticks
    if watched.with_children:
        total += _children_ticks(watched.pid)
    return total


Reading = dict[str, int | None]


def read(processes: Mapping[str, Watched]) -> Reading:
    return {name: ticks(w) for name, w in processes.items()}


def per_delivery_ms(before: Reading, after: Reading, deliveries: int) -> dict[str, float | None]:
    """Milliseconds of CPU per delivery by process; None for one that was gone at either end."""
    budget: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        if start is None or end is None or deliveries <= 0:
            budget[name] = None
            continue
        budget[name] = round((end - start) / TICKS_PER_S * 1000 / deliveries, 3)
    return budget


JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
"""HotSpot's compiler threads, as ``/proc`` names them (a thread's name is cut at 15 bytes)."""


def jit_ticks(watched: Watched) -> int | None:
    """CPU ticks a JVM's live just-in-time compiler threads used so far; None if the process is
    gone or has no such thread (not a JVM, ``-Xint``, or threads named otherwise).

    Compilation is a start-up cost: a broker that has run for a while has compiled its hot paths,
    so this share of the broker's figure is what a fresh broker pays on top. A lower bound: a
    compiler thread that ends takes its time with it (HotSpot may stop threads it added under
    load, though never its last C1 and C2 one, which are all a 2-core machine gets)."""
    tasks = PROC / str(watched.pid) / "task"
    try:
        entries = list(tasks.iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    total, found = 0, False
    for task in entries:
        try:
            if (task / "comm").read_text().strip() not in JIT_THREADS:
                continue
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended
        stat = _stat(f"{watched.pid}/task/{task.name}")
        if stat is not None:
            total += stat.own_ticks
            found = True
    return total if found else None
