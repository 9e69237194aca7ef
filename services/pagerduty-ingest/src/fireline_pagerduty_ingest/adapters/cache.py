"""A small in-process cache with a time-to-live, for PagerDuty lookups."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MISSING = object()


class TtlCache(Generic[K, V]):
    """Entries expire ``ttl_s`` after they were stored; the oldest go first when full.

    Per process on purpose: emails change rarely, a stale one for a few minutes is harmless, and
    a shared cache would be one more thing that can be down.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("need ttl_s >= 0 and max_entries >= 1")
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` for a live entry, ``(False, None)`` when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return False, None
        return True, value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` for ``ttl_s`` seconds from now."""
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl_s, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
