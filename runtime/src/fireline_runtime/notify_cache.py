"""A read-through cache of database rows that every replica drops on PostgreSQL NOTIFY.

Hot paths read the same few rows for every request (an API key on each token exchange, an
integration and its signing secrets on each webhook). Caching them saves a round trip each time;
the hard part is never serving a row that has changed. The rule here:

* whoever changes a cached row calls :func:`notify` in the same transaction. PostgreSQL delivers
  the notification to every listening session when (and only if) that transaction commits;
* every replica LISTENs on the channel and drops the named entry;
* a read that overlapped an invalidation is not cached: :meth:`NotifyCache.put` takes the epoch
  :meth:`NotifyCache.epoch` returned before the database read, and refuses the value if any
  notification arrived in between (it may have been read before the change committed);
* without a live listener nothing is served from the cache and nothing is stored: a replica that
  cannot hear invalidations reads the database every time, and forgets everything when the
  listener reconnects, because notifications sent meanwhile are lost.

A caller may cache a row's absence too, as long as every write that creates such a row notifies
(then the row is found as soon as its creation commits). The cache is bounded either way: a flood
of made-up keys evicts the oldest entries, which then cost a database read again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import asyncpg

from fireline_runtime.db import Connection, listen

K = TypeVar("K")
V = TypeVar("V")


async def notify(conn: Connection, channel: str, key: object) -> None:
    """Tell every replica's cache on ``channel`` to drop ``key`` when this transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, str(key))


class NotifyCache(Generic[K, V]):
    def __init__(
        self, channel: str, parse_key: Callable[[str], K], *, max_entries: int = 10_000
    ) -> None:
        self.channel = channel
        self._parse_key = parse_key
        self._max_entries = max_entries
        self._entries: dict[K, V] = {}
        self._epoch = 0
        self.listening = False

    def get(self, key: K) -> V | None:
        if not self.listening:
            return None
        return self._entries.get(key)

    def epoch(self) -> int:
        """Take before reading the database; hand it to :meth:`put` with what was read."""
        return self._epoch

    def put(self, key: K, value: V, epoch: int) -> None:
        if not self.listening or epoch != self._epoch:
            return
        if len(self._entries) >= self._max_entries and key not in self._entries:
            # Oldest first; a busy key is read again and re-enters at once.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = value

    def invalidate(self, key: K | None = None) -> None:
        """Drop ``key`` (every entry if None) and refuse reads that overlapped this call."""
        self._epoch += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            key = self._parse_key(str(payload))
        except ValueError:
            self.invalidate()  # a payload we cannot read: drop everything rather than guess
            return
        self.invalidate(key)

    def _set_listening(self, listening: bool) -> None:
        self.invalidate()
        self.listening = listening

    async def run(self, dsn: str) -> None:
        """Listen for the service's lifetime; while the listener is down, nothing is cached."""

        async def listening(_conn: asyncpg.Connection) -> None:
            # Only now: a change committed before LISTEN took effect was not heard, so whatever
            # was cached before this point is dropped.
            self._set_listening(True)

        await listen(
            dsn,
            self.channel,
            self._on_notify,
            on_listening=listening,
            on_lost=lambda: self._set_listening(False),
        )
