"""Group commit for webhook deliveries: the deliveries that arrive together share one INSERT.

Each delivery must be durable before its 202, so each costs a statement and a commit (a WAL
flush). Under load many deliveries wait for the same thing at the same time; here the first one
writes at once, and whoever arrives while that write is in flight joins the next one. An idle
receiver therefore adds no delay, and a busy one pays one round trip and one commit per batch
instead of per delivery (BENCHMARKS.md has the measurements).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable

import asyncpg

from fireline_pagerduty_ingest.adapters.deliveries_repository import PgDeliveryRepository
from fireline_pagerduty_ingest.domain.delivery import NewDelivery
from fireline_runtime import tracing
from fireline_runtime.db import TRANSIENT_DB_ERRORS

MAX_BATCH = 128
"""Rows per statement; bounds one statement's size (bodies are up to 256 KB) and its latency."""


class DeliveryWriter:
    """The receiver's ``DeliveryInbox``: one autocommitted INSERT per batch, on a pooled connection.

    It bypasses the unit of work on purpose: BEGIN and COMMIT around the batch's one statement
    would add two round trips to every webhook's answer.
    """

    def __init__(self, pool: Callable[[], asyncpg.Pool], *, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._waiting: list[tuple[NewDelivery, asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, delivery: NewDelivery) -> int | None:
        """Store ``delivery``; its id, or None when its dedupe key is already stored.

        Raises what the database raised for it: for the whole batch when the database is
        unreachable, for this delivery alone when only its row was refused. If the caller gives
        up (a timeout), the delivery may still be stored: a retry of it is then answered as a
        duplicate.
        """
        if tracing.enabled():
            # Taken here, in the request's task: the batch is written from another task.
            delivery = dataclasses.replace(delivery, traceparent=tracing.traceparent())
        stored: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, stored))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name="delivery-group-commit")
        return await stored

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[NewDelivery, asyncio.Future[int | None]]]) -> None:
        try:
            await self._insert(batch)
        except TRANSIENT_DB_ERRORS as exc:
            # The database is away: every delivery of the batch gets the 503 (PagerDuty retries).
            _fail(batch, exc)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            # One delivery the database refuses must not fail the others it was batched with:
            # each is written on its own, so only the bad one gets an error.
            for one in batch:
                try:
                    await self._insert([one])
                except Exception as row_exc:
                    _fail([one], row_exc)
        except BaseException:
            # Cancelled (shutdown): every waiter is cancelled with it rather than left hanging.
            for _, stored in [*batch, *self._waiting]:
                stored.cancel()
            self._waiting.clear()
            raise

    async def _insert(self, batch: list[tuple[NewDelivery, asyncio.Future[int | None]]]) -> None:
        async with self._pool().acquire() as conn:
            ids = await PgDeliveryRepository(conn).add_many([d for d, _ in batch])
        for (_, stored), delivery_id in zip(batch, ids, strict=True):
            if not stored.done():  # its caller may have timed out meanwhile
                stored.set_result(delivery_id)

    async def close(self) -> None:
        """Let the batch in flight finish (its callers are waiting for their answers)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer


def _fail(batch: list[tuple[NewDelivery, asyncio.Future[int | None]]], exc: Exception) -> None:
    for _, stored in batch:
        if not stored.done():
            stored.set_exception(exc)
