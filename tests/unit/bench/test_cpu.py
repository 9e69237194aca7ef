"""The bench's CPU attribution: a process's children count whether they are alive or reaped.

PostgreSQL's figure is the postmaster plus its backends, and backends come and go inside a burst;
these tests use this test process as the "postmaster" and a child that burns a known amount of its
own CPU time as the "backend".
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from bench import cpu

BURN_S = 0.3
BURNER = f"""
import sys, time
while time.process_time() < {BURN_S}:
    pass
print("burnt", flush=True)
sys.stdin.readline()  # stay alive until the test has looked
"""


def _ticks(with_children: bool) -> int:
    reading = cpu.ticks(cpu.Watched(os.getpid(), with_children=with_children))
    assert reading is not None
    return reading


def _burner() -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "burnt"  # it has used BURN_S of CPU by now
    return child


def _finish(child: subprocess.Popen[str]) -> None:
    child.communicate("\n", timeout=30)


def test_a_live_child_counts_only_when_children_are_watched() -> None:
    before_with, before_without = _ticks(True), _ticks(False)
    child = _burner()
    try:
        gained_with = _ticks(True) - before_with
        gained_without = _ticks(False) - before_without
    finally:
        _finish(child)
    burnt = BURN_S * cpu.TICKS_PER_S
    assert gained_with >= burnt * 0.9
    # Without children, only this process's own (small) work while it waited is counted.
    assert gained_without < burnt * 0.5


def test_a_child_that_exits_inside_the_window_is_still_counted() -> None:
    """Once reaped, its time moves into the parent's cutime/cstime: the sum stays continuous."""
    before = _ticks(True)
    child = _burner()
    alive = _ticks(True) - before
    _finish(child)  # waited for: reaped
    after_exit = _ticks(True) - before
    assert alive >= BURN_S * cpu.TICKS_PER_S * 0.9
    assert after_exit >= alive


def test_per_delivery_budget_is_milliseconds_per_delivery_and_none_for_a_vanished_process() -> None:
    budget = cpu.per_delivery_ms(
        {"ingest": 0, "gone": 10},
        {"ingest": 2 * cpu.TICKS_PER_S, "gone": None},
        deliveries=1000,
    )
    assert budget == {"ingest": 2.0, "gone": None}  # 2 s of CPU over 1,000 deliveries


@contextlib.contextmanager
def _burnt_thread(name: str) -> Iterator[None]:
    """A live thread named ``name`` (as a JVM names its own) that has burnt BURN_S of CPU."""
    burnt, done = threading.Event(), threading.Event()

    def burn() -> None:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(name)
        while time.thread_time() < BURN_S:
            pass
        burnt.set()
        done.wait(30)  # alive until read: an ended thread leaves /proc/<pid>/task

    thread = threading.Thread(target=burn)
    thread.start()
    try:
        assert burnt.wait(30)
        yield
    finally:
        done.set()
        thread.join()


def test_only_the_compiler_threads_count_as_the_jit_share() -> None:
    """The broker's figure is split by thread name: its compiler threads are its JIT share, and
    a process without one has no JIT figure rather than a zero that would read as "warm"."""
    me = cpu.Watched(os.getpid())
    assert cpu.jit_ticks(me) is None  # this test process compiles nothing
    with _burnt_thread("C2 CompilerThre"):
        compiler = cpu.jit_ticks(me)
    with _burnt_thread("data-plane-kafk"):
        other = cpu.jit_ticks(me)
    assert compiler is not None
    assert compiler >= BURN_S * cpu.TICKS_PER_S * 0.9
    assert other is None  # a busy thread of another name is not compilation
