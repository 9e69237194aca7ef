"""The outbox's relay wake: one NOTIFY per committed write, or one per deferred_wake block.

PostgreSQL serialises the commits of transactions that NOTIFY, so bursts of writes (a consumed
batch, an ingest worker pass) defer the wake to the end of the burst. The relay must still be
woken, only once, and only after the rows are committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fireline_contracts import KEYS, KeyRenamed
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime.db import create_pool
from fireline_runtime.migrations import apply, runtime_migrations
from fireline_runtime.outbox import NOTIFY_CHANNEL, OutboxWriter, deferred_wake

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await apply(conn, runtime_migrations())
    yield pool
    await pool.close()


def renamed() -> KeyRenamed:
    return KeyRenamed(
        org_id=uuid.uuid4(), payload=KeyRenamedPayload(key_id=uuid.uuid4(), name="ci")
    )


async def write(pool: asyncpg.Pool, outbox: OutboxWriter) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, KEYS, renamed())


async def test_a_deferred_burst_wakes_the_relay_once_after_its_rows_committed(
    database: str, pool: asyncpg.Pool
) -> None:
    wakes: list[int] = []
    listener = await asyncpg.connect(database)

    def on_wake(*_: object) -> None:
        wakes.append(1)

    await listener.add_listener(NOTIFY_CHANNEL, on_wake)
    outbox = OutboxWriter()
    try:
        await write(pool, outbox)  # outside a block: its own wake
        await asyncio.sleep(0.2)
        assert len(wakes) == 1

        async with deferred_wake(pool):
            await asyncio.gather(*(write(pool, outbox) for _ in range(5)))
            await asyncio.sleep(0.2)
            assert len(wakes) == 1, "no wake while the burst is still going on"
        await asyncio.sleep(0.2)
        assert len(wakes) == 2, "one wake for the whole burst"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 6

        async with deferred_wake(pool):
            pass  # nothing written: nothing to wake for
        await asyncio.sleep(0.2)
        assert len(wakes) == 2
    finally:
        await listener.close()
