"""The machine a run measured, so results from different machines are not compared blindly.

Deliberately absent: host name, user name and any path.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "asyncpg",
    "aiokafka",
    "faststream",
    "pyjwt",
    "cryptography",
)


def describe(
    *,
    wrk_version: str,
    postgres_version: str,
    broker: str,
    load_average: tuple[float, float, float] | None = None,
) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_total_mib": _memory_total_mib(),
        "os": platform.system(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "wrk": wrk_version,
        "postgresql": postgres_version,
        "broker": broker,
        # Other work on the machine slows every rate; CPU per delivery is the robust figure.
        "load_average": list(load_average or load_average_now()),
    }


def load_average_now() -> tuple[float, float, float]:
    return os.getloadavg()


def _cpu_model() -> str | None:
    for line in _read("/proc/cpuinfo").splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return None


def _memory_total_mib() -> int | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024  # reported in kB
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
