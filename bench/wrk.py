"""Running wrk (Debian's 4.1.0) with the scripts in ``bench/lua`` and reading its figures.

Every script loads ``lua/report.lua``, whose ``done()`` prints wrk's summary as one JSON line
(``BENCH_WRK {...}``): the harness reads exact numbers instead of wrk's rounded text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH_WRK "
POLL_S = 0.005


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian package ``wrk``; ``make bench`` installs it)."""


@dataclass(frozen=True)
class WrkSettings:
    threads: int
    connections: int
    seconds: int
    timeout_s: int = 10
    """wrk's default (2 s) would count a slow answer under load as an error, not as latency."""

    def as_json(self) -> dict[str, int]:
        return {
            "threads": self.threads,
            "connections": self.connections,
            "seconds": self.seconds,
            "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True)
class WrkRun:
    """One wrk run, as ``report.lua`` printed it."""

    duration_s: float
    requests: int
    non_2xx: int
    """wrk's "Non-2xx or 3xx responses": statuses above 399."""
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def figures(self) -> dict[str, Any]:
        """The JSON figures every wrk scenario reports."""
        return {
            "requests_per_s": round(self.requests_per_s, 1),
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "latency_ms": self.latency_ms,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
        }


def binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    return found


def version() -> str:
    """wrk's version as ``wrk -v`` prints it, e.g. ``debian/4.1.0-3+b2``."""
    # `wrk -v` prints its banner and usage, then exits 1: the exit code says nothing.
    out = subprocess.run(  # noqa: S603 - wrk from PATH, fixed arguments
        [binary(), "-v"], capture_output=True, text=True, check=False
    )
    match = re.search(r"^wrk (\S+)", out.stdout + out.stderr, re.M)
    return match.group(1) if match else "unknown"


async def run(
    url: str,
    script: str,
    settings: WrkSettings,
    *,
    env: dict[str, str] | None = None,
    seconds: float | None = None,
    finished: Callable[[], bool] | None = None,
) -> WrkRun:
    """Run ``script`` against ``url`` for ``seconds`` (default ``settings.seconds``).

    wrk sleeps out its whole duration even when every thread has stopped itself; ``finished``
    lets a script that ends on its own end the run: once it returns true wrk gets SIGINT, which
    makes it print its summary at once, over the time actually spent.
    """
    duration = math.ceil(seconds if seconds is not None else settings.seconds)
    command = [
        binary(),
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{duration}s",
        f"--timeout={settings.timeout_s}s",
        "--latency",
        "-s",
        str(LUA / script),
        url,
    ]
    # Secrets (Basic credentials, tokens) reach the scripts through the environment: a command
    # line is visible to every user of the machine.
    proc = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    watcher = asyncio.create_task(_interrupt_when(proc, finished)) if finished else None
    try:
        out, err = await proc.communicate()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _parse(out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode)


async def _interrupt_when(proc: asyncio.subprocess.Process, finished: Callable[[], bool]) -> None:
    while proc.returncode is None:
        if finished():
            proc.send_signal(signal.SIGINT)
            return
        await asyncio.sleep(POLL_S)


def _parse(out: str, err: str, returncode: int | None) -> WrkRun:
    line = next((ln for ln in out.splitlines() if ln.startswith(MARKER)), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {returncode}): {(err or out).strip()[-2000:]}")
    data = json.loads(line[len(MARKER) :])
    return WrkRun(
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        non_2xx=data["non_2xx"],
        socket_errors={
            "connect": data["connect_errors"],
            "read": data["read_errors"],
            "write": data["write_errors"],
            "timeout": data["timeouts"],
        },
        latency_ms={name: round(us / 1000, 3) for name, us in data["latency_us"].items()},
        counters=data["counters"],
    )
