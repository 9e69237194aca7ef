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
from fireline_runtime.outbox import NOTIFY_CHANNEL, OutboxRelay, OutboxWriter, deferred_wake
from support.waiting import wait_for

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


class Wakes:
    """The relay's wake-ups as a listener sees them, and a way to know it has seen them all.

    ``settle`` sends a marker NOTIFY on the same channel and waits for it: PostgreSQL delivers
    notifications in commit order, so every wake committed before the marker has arrived by then.
    That positive signal replaces a fixed sleep before counting what did (not) happen.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.count = 0
        self._markers: dict[str, asyncio.Event] = {}

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if isinstance(payload, str) and payload in self._markers:
            self._markers[payload].set()
        else:
            self.count += 1

    async def settle(self) -> int:
        marker = f"marker-{uuid.uuid4().hex}"
        self._markers[marker] = asyncio.Event()
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, marker)
        await asyncio.wait_for(self._markers[marker].wait(), 10)
        return self.count


async def test_a_deferred_burst_wakes_the_relay_once_after_its_rows_committed(
    database: str, pool: asyncpg.Pool
) -> None:
    wakes = Wakes(pool)
    listener = await asyncpg.connect(database)
    await listener.add_listener(NOTIFY_CHANNEL, wakes.on_notify)
    outbox = OutboxWriter()
    try:
        await write(pool, outbox)  # outside a block: its own wake
        assert await wakes.settle() == 1

        async with deferred_wake(pool):
            await asyncio.gather(*(write(pool, outbox) for _ in range(5)))
            assert await wakes.settle() == 1, "no wake while the burst is still going on"
        assert await wakes.settle() == 2, "one wake for the whole burst"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 6

        async with deferred_wake(pool):
            pass  # nothing written: nothing to wake for
        assert await wakes.settle() == 2
    finally:
        await listener.close()


class _Batch:
    """A record batch that takes every record (the relay only appends and sends)."""

    def append(self, **_: object) -> object:
        return object()


class _Sender:
    """A broker that acknowledges every batch at once, on one partition."""

    async def send_and_wait(self, topic: str, **_: object) -> None:
        return None

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(
        self, batch: object, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


async def test_while_rows_keep_coming_the_relay_lets_them_gather_between_passes(
    database: str, pool: asyncpg.Pool
) -> None:
    passes: list[int] = []
    first_pass = asyncio.Event()

    def published(sent: int) -> None:
        passes.append(sent)
        first_pass.set()

    async def sender() -> _Sender:
        return _Sender()

    outbox = OutboxWriter()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.insert(conn, [outbox.row(KEYS, renamed()) for _ in range(3)])
    # Polling would find the rows too: a long poll leaves the wakes alone to start the passes.
    relay = OutboxRelay(
        dsn=database,
        pool=pool,
        sender_factory=sender,
        poll_interval_s=30.0,
        linger_s=1.0,
        on_published=published,
    )
    relay.start()
    try:
        await asyncio.wait_for(first_pass.wait(), 10)
        # Two rows, each its own transaction and wake, while the relay lingers after a pass that
        # sent three: they leave together in the next pass, not one pass each.
        await write(pool, outbox)
        await write(pool, outbox)

        async def all_sent() -> bool:
            return sum(passes) == 5

        assert await wait_for(all_sent, timeout=10)
        assert passes == [3, 2]
    finally:
        await relay.stop()


async def test_after_a_burst_sized_pass_the_relay_lingers_longer(
    database: str, pool: asyncpg.Pool
) -> None:
    """A pass of 16 rows or more is a burst: the next pass waits three lingers, not one, so the
    rows written in between leave in one pass (one produce request, one fetch downstream)."""
    passes: list[int] = []
    first_pass = asyncio.Event()

    def published(sent: int) -> None:
        passes.append(sent)
        first_pass.set()

    async def sender() -> _Sender:
        return _Sender()

    outbox = OutboxWriter()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.insert(conn, [outbox.row(KEYS, renamed()) for _ in range(16)])
    relay = OutboxRelay(
        dsn=database,
        pool=pool,
        sender_factory=sender,
        poll_interval_s=30.0,
        linger_s=0.5,
        on_published=published,
    )
    relay.start()
    try:
        await asyncio.wait_for(first_pass.wait(), 10)
        await write(pool, outbox)
        # Past one linger (0.5 s), where a pass of fewer rows would have sent this row alone,
        # and well inside three (1.5 s).
        await asyncio.sleep(0.8)
        await write(pool, outbox)

        async def all_sent() -> bool:
            return sum(passes) == 18

        assert await wait_for(all_sent, timeout=10)
        assert passes == [16, 2]
    finally:
        await relay.stop()


async def test_stopping_during_a_linger_still_publishes_what_was_written_before(
    database: str, pool: asyncpg.Pool
) -> None:
    """A shutdown does not wait out the linger: its last pass sends the rows written meanwhile,
    well within the time it allows itself (here the linger is longer than that time)."""
    passes: list[int] = []
    first_pass = asyncio.Event()

    def published(sent: int) -> None:
        passes.append(sent)
        first_pass.set()

    async def sender() -> _Sender:
        return _Sender()

    outbox = OutboxWriter()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.insert(conn, [outbox.row(KEYS, renamed()) for _ in range(3)])
    relay = OutboxRelay(
        dsn=database,
        pool=pool,
        sender_factory=sender,
        poll_interval_s=30.0,
        linger_s=60.0,
        on_published=published,
    )
    relay.start()
    await asyncio.wait_for(first_pass.wait(), 10)
    await write(pool, outbox)  # while the relay lingers after a pass of three

    await relay.stop(flush_timeout_s=5.0)

    assert passes == [3, 1]
