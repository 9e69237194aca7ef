"""The use-case tests' fake unit of work against the runtime's, on real PostgreSQL.

Each scenario every unit of work must pass (support.uow_scenarios) runs on both: the runtime's
PgUnitOfWork with a repository written the way the services write theirs, and the fake. A
scenario the fake passes and PostgreSQL fails (or the reverse) means the use-case tests assert
something production does not do.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from fireline_contracts import KEYS, KeyRenamed
from fireline_runtime import migrations
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.db import create_pool
from fireline_runtime.outbox import OutboxWriter
from support.uow_scenarios import SCENARIOS, Backend, FakeBackend

pytestmark = pytest.mark.integration

NOTES = migrations.Migration(
    "honesty", "0001_notes", "CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL);"
)


class PgNotes(runtime_uow.PgRepository):
    async def add(self, text: str) -> None:
        await self._conn.execute("INSERT INTO notes (text) VALUES ($1)", text)

    async def all(self) -> list[str]:
        return [r["text"] for r in await self._conn.fetch("SELECT text FROM notes ORDER BY id")]


class PgNotesUnitOfWork(runtime_uow.PgUnitOfWork):
    """As a service's adapters/postgres.py declares its repositories."""

    notes = runtime_uow.repository(PgNotes)

    async def publish(self, event: KeyRenamed) -> None:
        await self.emit(KEYS, event)


class PgBackend:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._outbox = OutboxWriter()

    def uow(self) -> PgNotesUnitOfWork:
        return PgNotesUnitOfWork(self._outbox, pool=self._pool)

    async def committed_notes(self) -> list[str]:
        rows = await self._pool.fetch("SELECT text FROM notes ORDER BY text")
        return [r["text"] for r in rows]

    async def published(self) -> list[uuid.UUID]:
        rows = await self._pool.fetch("SELECT event_id FROM outbox ORDER BY id")
        return [r["event_id"] for r in rows]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, max_size=2)
    async with pool.acquire() as conn:
        await migrations.apply(conn, [*migrations.runtime_migrations(), NOTES])
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.parametrize("kind", ["postgresql", "fake"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_fake_and_postgresql_keep_the_same_promise(
    scenario: Callable[[Backend], Awaitable[None]], kind: str, pool: asyncpg.Pool
) -> None:
    backend: Backend = PgBackend(pool) if kind == "postgresql" else FakeBackend()
    await scenario(backend)
