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


class Lingering:
    """A relay on a fake broker with ``waiting`` rows already in the outbox, and the size of
    each pass it makes. A long poll leaves the wakes alone to start the passes (polling would
    find the rows too)."""

    def __init__(self, database: str, pool: asyncpg.Pool, *, linger_s: float) -> None:
        self.pool = pool
        self.outbox = OutboxWriter()
        self.passes: list[int] = []
        self._first_pass = asyncio.Event()

        async def sender() -> _Sender:
            return _Sender()

        self.relay = OutboxRelay(
            dsn=database,
            pool=pool,
            sender_factory=sender,
            poll_interval_s=30.0,
            linger_s=linger_s,
            on_published=self._published,
        )

    def _published(self, sent: int) -> None:
        self.passes.append(sent)
        self._first_pass.set()

    async def start_with(self, waiting: int) -> None:
        """Start the relay on ``waiting`` rows and return once its first pass sent them."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.outbox.insert(
                conn, [self.outbox.row(KEYS, renamed()) for _ in range(waiting)]
            )
        self.relay.start()
        await asyncio.wait_for(self._first_pass.wait(), 10)

    async def write(self) -> None:
        await write(self.pool, self.outbox)

    async def all_sent(self, total: int) -> list[int]:
        """The passes, once ``total`` rows have been sent."""

        async def sent() -> bool:
            return sum(self.passes) == total

        assert await wait_for(sent, timeout=10)
        return self.passes


async def test_while_rows_keep_coming_the_relay_lets_them_gather_between_passes(
    database: str, pool: asyncpg.Pool
) -> None:
    lingering = Lingering(database, pool, linger_s=1.0)
    try:
        await lingering.start_with(3)
        # Two rows, each its own transaction and wake, while the relay lingers after a pass that
        # sent three: they leave together in the next pass, not one pass each.
        await lingering.write()
        await lingering.write()

        assert await lingering.all_sent(5) == [3, 2]
    finally:
        await lingering.relay.stop()


async def test_after_a_burst_sized_pass_the_relay_lingers_longer(
    database: str, pool: asyncpg.Pool
) -> None:
    """A pass of 16 rows or more is a burst: the next pass waits three lingers, not one, so the
    rows written in between leave in one pass (one produce request, one fetch downstream)."""
    lingering = Lingering(database, pool, linger_s=1.0)
    try:
        await lingering.start_with(16)
        await lingering.write()
        # Not a wait for something not to happen: it places the second row past one linger
        # (1 s), where after a smaller pass the first row would have gone alone, and well
        # inside three (3 s).
        await asyncio.sleep(1.5)
        await lingering.write()

        assert await lingering.all_sent(18) == [16, 2]
    finally:
        await lingering.relay.stop()


async def test_stopping_during_a_linger_still_publishes_what_was_written_before(
    database: str, pool: asyncpg.Pool
) -> None:
    """A shutdown does not wait out the linger: its last pass sends the rows written meanwhile,
    well within the time it allows itself (here the linger is longer than that time)."""
    lingering = Lingering(database, pool, linger_s=60.0)
    await lingering.start_with(3)
    await lingering.write()  # while the relay lingers after a pass of three

    await lingering.relay.stop(flush_timeout_s=5.0)

    assert lingering.passes == [3, 1]
