"""The receiver's ``DeliveryInbox``: deliveries that arrive together share one INSERT.

Each delivery must be durable before its 202; concurrent ones are group-committed
(``fireline_runtime.group_commit``), so a busy receiver pays one round trip and one commit per
batch of deliveries, and an idle one waits for nobody.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import asyncpg

from fireline_contracts import ALERTS
from fireline_pagerduty_ingest.adapters.deliveries_repository import PgDeliveryRepository
from fireline_pagerduty_ingest.domain.delivery import NewDelivery, Stored
from fireline_runtime import tracing
from fireline_runtime.group_commit import GroupCommit
from fireline_runtime.outbox import OutboxWriter, Row

MAX_BATCH = 128
"""Rows per statement; bounds one statement's size (bodies are up to 256 KB) and its latency."""


class DeliveryWriter:
    """One autocommitted INSERT per batch, on a pooled connection.

    It bypasses the unit of work on purpose: BEGIN and COMMIT around the batch's one statement
    would add two round trips to every webhook's answer.
    """

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        outbox: OutboxWriter,
        *,
        wake_relay: Callable[[], None],
        max_batch: int = MAX_BATCH,
    ) -> None:
        """``outbox`` makes the rows of the alerts published with their deliveries, and
        ``wake_relay`` is called once a batch that published some has committed."""
        self._pool = pool
        self._outbox = outbox
        self._wake_relay = wake_relay
        self._group = GroupCommit(self._insert, max_batch=max_batch, name="delivery-group-commit")

    async def add(self, delivery: NewDelivery) -> Stored | None:
        """Store ``delivery``, with its alert when it has one (``NewDelivery.alert``); None when
        its dedupe key is already stored.

        Raises what the database raised for it: for the whole batch when the database is
        unreachable, for this delivery alone when only its row was refused. If the caller gives
        up (a timeout), the delivery may still be stored: a retry of it is then answered as a
        duplicate.
        """
        if tracing.enabled():
            # Taken here, in the request's task: the batch is written from another task.
            delivery = dataclasses.replace(delivery, traceparent=tracing.traceparent())
        if delivery.alert is None:
            return await self._group.submit((delivery, None))
        # Also in the request's task: the row carries its correlation id and trace context.
        row = self._outbox.row(ALERTS, delivery.alert)
        try:
            return await self._group.submit((delivery, row))
        except asyncpg.DataError:
            # The alert holds something PostgreSQL will not store. The delivery itself is fine:
            # stored without it, the worker finds the same problem and records it.
            return await self._group.submit((dataclasses.replace(delivery, alert=None), None))

    async def _insert(self, batch: Sequence[tuple[NewDelivery, Row | None]]) -> list[Stored | None]:
        locks = [self._incident_lock(delivery, row) for delivery, row in batch]
        async with self._pool().acquire() as conn:
            stored = await PgDeliveryRepository(conn).add_many(
                [delivery for delivery, _ in batch], [row for _, row in batch], locks
            )
        if any(s is not None and s.status == "published" for s in stored):
            self._wake_relay()
        return stored

    def _incident_lock(self, delivery: NewDelivery, row: Row | None) -> str | None:
        """The lock the batch's statement takes for ``delivery``: its alert row's when it has one
        (that row is inserted under it), else its incident's alerts' lock, so that a delivery
        left to the worker still holds back a concurrent batch's (``PgDeliveryRepository``)."""
        if row is not None:
            return str(row[6])
        if delivery.incident_id is None:
            return None
        return self._outbox.lock(ALERTS, delivery.incident_id)

    async def close(self) -> None:
        """Let the batch in flight finish (its callers are waiting for their answers)."""
        await self._group.close()
