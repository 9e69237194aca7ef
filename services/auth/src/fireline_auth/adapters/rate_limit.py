"""Failed-attempt rate limiting: a sliding window per identifier, kept in this process's memory.

Per process on purpose: it needs no shared store and costs no database write per failure. With N
replicas an attacker gets at most N times the budget, which still makes guessing a 160-bit key
hopeless; the limit is there to stop noisy clients and credential stuffing, not to be exact.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping


class SlidingWindowLimiter:
    """Blocks an identifier once it has ``limit`` failures within ``window_s`` seconds.

    Identifiers are ``kind:value``; ``limits_by_kind`` gives some kinds their own limit (the
    client address, shared by every client behind one proxy, gets a higher one).
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        limits_by_kind: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 100_000,
    ) -> None:
        kinds = dict(limits_by_kind or {})
        if min([limit, *kinds.values()]) < 1 or window_s <= 0:
            raise ValueError("limits must be >= 1 and window_s > 0")
        self._limit = limit
        self._limits_by_kind = kinds
        self._window_s = window_s
        self._clock = clock
        self._max_tracked = max_tracked
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, identifier: str, now: float) -> deque[float] | None:
        failures = self._failures.get(identifier)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if not failures:
            del self._failures[identifier]
            return None
        return failures

    def retry_after(self, identifiers: Iterable[str]) -> int | None:
        """Seconds until the most blocked of ``identifiers`` may try again; None if none is."""
        now = self._clock()
        wait = 0.0
        for identifier in identifiers:
            failures = self._recent(identifier, now)
            if failures is not None and len(failures) >= self._limit_of(identifier):
                wait = max(wait, failures[0] + self._window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def record_failure(self, identifiers: Iterable[str]) -> None:
        now = self._clock()
        for identifier in identifiers:
            failures = self._recent(identifier, now)
            if failures is None:
                if len(self._failures) >= self._max_tracked:
                    self._sweep(now)
                # Only the newest `limit` failures matter for the decision.
                failures = self._failures[identifier] = deque(maxlen=self._limit_of(identifier))
            failures.append(now)

    def _limit_of(self, identifier: str) -> int:
        kind, _, _ = identifier.partition(":")
        return self._limits_by_kind.get(kind, self._limit)

    def _sweep(self, now: float) -> None:
        for identifier in list(self._failures):
            self._recent(identifier, now)
        if len(self._failures) >= self._max_tracked:
            # Still full of live entries: forget the oldest half rather than grow without bound.
            oldest = sorted(self._failures, key=lambda i: self._failures[i][-1])
            for identifier in oldest[: len(oldest) // 2]:
                del self._failures[identifier]
