"""The unit of work: one database transaction, and the outbox events that commit with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from fireline_contracts import EventEnvelope, TopicSpec
from fireline_runtime.db import Connection
from fireline_runtime.outbox import OutboxWriter


@dataclass(frozen=True)
class Transaction:
    conn: Connection
    outbox: OutboxWriter

    async def emit(self, spec: TopicSpec, event: EventEnvelope) -> None:
        """Queue an event; it is published only if this transaction commits."""
        await self.outbox.add(self.conn, spec, event)


class UnitOfWork:
    """Hands out transactions; the pool is looked up late because it exists only after start."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], outbox: OutboxWriter) -> None:
        self._pool = pool
        self._outbox = outbox

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Transaction]:
        async with self._pool().acquire() as conn, conn.transaction():
            yield Transaction(conn, self._outbox)
