"""NotifyCache against a real PostgreSQL: what one replica commits, every replica forgets.

Two caches stand for two replicas of a service. Each listens on its own connection, as replicas
do; the writer notifies inside its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from uuid import UUID, uuid4

import asyncpg
import pytest

from fireline_runtime.notify_cache import NotifyCache, notify
from support.waiting import wait_for

pytestmark = pytest.mark.integration

CHANNEL = "fireline_test_cache"


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    async def check() -> bool:
        return predicate()

    return await wait_for(check, timeout=timeout, interval=0.01)


@contextlib.asynccontextmanager
async def listening(database: str, *caches: NotifyCache[UUID, str]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c.run(database)) for c in caches]
    try:
        assert await until(lambda: all(c.listening for c in caches), timeout=10)
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def cached(cache: NotifyCache[UUID, str], key: UUID, value: str) -> None:
    cache.put(key, value, cache.epoch())
    assert cache.get(key) == value


async def test_a_committed_change_reaches_every_replica(database: str) -> None:
    replicas = [NotifyCache[UUID, str](CHANNEL, UUID) for _ in range(2)]
    key, other = uuid4(), uuid4()
    async with listening(database, *replicas):
        for r in replicas:
            cached(r, key, "old")
            cached(r, other, "untouched")
        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                await notify(conn, CHANNEL, key)
        finally:
            await conn.close()

        assert await until(lambda: all(r.get(key) is None for r in replicas), timeout=5)
        assert [r.get(other) for r in replicas] == ["untouched", "untouched"]


async def test_a_rolled_back_change_invalidates_nothing(database: str) -> None:
    cache = NotifyCache[UUID, str](CHANNEL, UUID)
    key, marker = uuid4(), uuid4()
    async with listening(database, cache):
        cached(cache, key, "kept")
        conn = await asyncpg.connect(database)
        try:
            with contextlib.suppress(RuntimeError):
                async with conn.transaction():
                    await notify(conn, CHANNEL, key)
                    raise RuntimeError("the change fails")
            # A committed notification sent after the rolled-back one: once it has arrived, the
            # rolled-back one would have too.
            cached(cache, marker, "marker")
            await notify(conn, CHANNEL, marker)
        finally:
            await conn.close()

        assert await until(lambda: cache.get(marker) is None, timeout=5)
        assert cache.get(key) == "kept"


def test_a_read_that_overlapped_an_invalidation_is_not_cached() -> None:
    cache = NotifyCache[UUID, str](CHANNEL, UUID)
    cache.listening = True  # as if the listener were up; the epoch rule is what is under test
    key = uuid4()
    before_read = cache.epoch()
    cache.invalidate(key)  # the change commits while the row is being read
    cache.put(key, "read before the change", before_read)
    assert cache.get(key) is None

    cache.put(key, "read after the change", cache.epoch())
    assert cache.get(key) == "read after the change"


async def test_without_a_listener_nothing_is_served_from_memory(database: str) -> None:
    cache = NotifyCache[UUID, str](CHANNEL, UUID)
    key = uuid4()
    cache.put(key, "never listened", cache.epoch())
    assert cache.get(key) is None, "not listening yet: a change could go unheard"

    admin = await asyncpg.connect(database)
    try:
        async with listening(database, cache):
            cached(cache, key, "value")
            # The listener's backend dies (a restart, a network cut): notifications sent until it
            # is back are lost, so the cache must stop serving and start again empty.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert await until(lambda: not cache.listening, timeout=5)
            assert cache.get(key) is None
            assert await until(lambda: cache.listening, timeout=10), "it reconnects"
            assert cache.get(key) is None, "entries from before the gap are gone"
    finally:
        await admin.close()
