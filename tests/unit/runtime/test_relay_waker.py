"""``RelayWaker``: the relay woken in process when it is here, else by few NOTIFYs, none lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg

from fireline_runtime.outbox import NOTIFY_CHANNEL, OutboxRelay, RelayWaker


class _Conn:
    def __init__(self, pool: _Pool) -> None:
        self._pool = pool

    async def execute(self, query: str, *args: object) -> None:
        await self._pool.gate.wait()
        self._pool.sent.append(args)


class _Pool:
    """Records each NOTIFY; ``gate`` holds them in flight until the test lets them through."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []
        self.gate = asyncio.Event()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Conn]:
        yield _Conn(self)


class _Relay:
    def __init__(self, *, active: bool) -> None:
        self.active = active
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def waker(pool: _Pool, relay: _Relay | None) -> RelayWaker:
    return RelayWaker(lambda: cast(asyncpg.Pool, pool), lambda: cast(OutboxRelay | None, relay))


async def test_the_active_relay_of_this_process_is_woken_without_a_notify() -> None:
    pool, relay = _Pool(), _Relay(active=True)
    pool.gate.set()

    wakes = waker(pool, relay)
    wakes.wake()
    # Any NOTIFY it had started would have gone out (the gate is open) by the time this returns.
    await asyncio.wait_for(wakes.sent(), 5)

    assert relay.woken == 1
    assert pool.sent == []


async def test_wakes_while_a_notify_is_in_flight_become_one_more_notify() -> None:
    pool, standby = _Pool(), _Relay(active=False)
    wakes = waker(pool, standby)

    wakes.wake()
    await asyncio.sleep(0)  # the first NOTIFY is in flight, held at the gate
    for _ in range(5):
        wakes.wake()
    pool.gate.set()
    await asyncio.wait_for(wakes.sent(), 5)  # a wake that loops forever fails, not hangs

    assert pool.sent == [(NOTIFY_CHANNEL,), (NOTIFY_CHANNEL,)]
    assert standby.woken == 0
