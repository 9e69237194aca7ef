"""Correlation ids: one id follows a request from HTTP, through the outbox, to every consumer.

The id lives in a context variable so that log records, outbox rows and outgoing HTTP calls pick it
up without every function passing it along.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

HEADER = "X-Correlation-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_current: ContextVar[str | None] = ContextVar("fireline_correlation_id", default=None)


def get() -> str | None:
    return _current.get()


def set_(value: str | None) -> None:
    _current.set(value)


def new() -> str:
    # 128 random bits as hex, like uuid4().hex without building a UUID object on every request.
    return os.urandom(16).hex()


def accept(candidate: str | None) -> str:
    """Take a caller's id if it is safe to log and echo back, else mint one."""
    if candidate and _VALID.match(candidate):
        return candidate
    return new()
