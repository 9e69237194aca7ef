"""Loopback ports for locally started servers."""

from __future__ import annotations

import contextlib
import socket


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick; a race is possible but rare)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
