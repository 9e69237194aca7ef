"""The ``deliveries`` and ``delivery_attempts`` tables: what is owed to each endpoint, and
the log of every attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from fireline_notifications.domain.delivery import Attempt, Delivery, Outcome, Verdict
from fireline_notifications.service_layer.unit_of_work import PendingAge
from fireline_runtime.unit_of_work import PgRepository

_DELIVERY_COLUMNS = """
    id, endpoint_id, org_id, event_type, body, state, attempts, schedule_step, created_at,
    next_attempt_at
"""


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        org_id=row["org_id"],
        event_type=row["event_type"],
        body=row["body"],
        state=row["state"],
        attempts=row["attempts"],
        schedule_step=row["schedule_step"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
    )


def _delivery_row(d: Delivery) -> tuple[object, ...]:
    """A delivery's values in the order of ``_DELIVERY_COLUMNS``."""
    return (
        d.id,
        d.endpoint_id,
        d.org_id,
        d.event_type,
        d.body,
        d.state,
        d.attempts,
        d.schedule_step,
        d.created_at,
        d.next_attempt_at,
    )


class PgDeliveryRepository(PgRepository):
    async def add(self, delivery: Delivery) -> bool:
        status = await self._conn.execute(
            f"""
            INSERT INTO deliveries ({_DELIVERY_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO NOTHING
            """,  # noqa: S608 - fixed fragments only
            *_delivery_row(delivery),
        )
        return bool(status.endswith(" 1"))

    async def add_many(self, deliveries: Sequence[Delivery]) -> int:
        if not deliveries:
            return 0
        # One statement for a whole consumer batch: a column array each (unnest), rather than
        # a round trip per delivery.
        columns = list(zip(*(_delivery_row(d) for d in deliveries), strict=True))
        status = await self._conn.execute(
            f"""
            INSERT INTO deliveries ({_DELIVERY_COLUMNS})
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                $6::text[], $7::int[], $8::int[], $9::timestamptz[], $10::timestamptz[])
            ON CONFLICT (id) DO NOTHING
            """,  # noqa: S608 - fixed fragments only
            *(list(c) for c in columns),
        )
        return int(status.split()[-1])

    async def get(self, endpoint_id: UUID, delivery_id: UUID) -> Delivery | None:
        row = await self._conn.fetchrow(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id = $1 AND endpoint_id = $2",  # noqa: S608 - fixed fragments only
            delivery_id,
            endpoint_id,
        )
        return _delivery(row) if row else None

    async def claim(
        self,
        *,
        per_endpoint: int,
        total: int,
        in_flight: dict[UUID, int],
        now: datetime,
        lease_until: datetime,
    ) -> list[Delivery]:
        # Per endpoint first (LATERAL … LIMIT), then the oldest of those overall: one endpoint's
        # backlog can never fill a pass and starve the others.
        rows = await self._conn.fetch(
            f"""
            WITH claimed AS (
                SELECT d.id, d.next_attempt_at FROM webhook_endpoints e
                LEFT JOIN unnest($4::uuid[], $6::int[]) AS busy (endpoint_id, n)
                    ON busy.endpoint_id = e.id
                CROSS JOIN LATERAL (
                    SELECT id, next_attempt_at FROM deliveries
                    WHERE endpoint_id = e.id AND state = 'pending' AND next_attempt_at <= $3
                    ORDER BY next_attempt_at, id
                    LIMIT greatest($1 - coalesce(busy.n, 0), 0)
                    FOR UPDATE SKIP LOCKED
                ) d
                WHERE e.enabled
                ORDER BY d.next_attempt_at
                LIMIT $2
            )
            UPDATE deliveries SET next_attempt_at = $5
            FROM claimed WHERE deliveries.id = claimed.id
            RETURNING {", ".join("deliveries." + c.strip() for c in _DELIVERY_COLUMNS.split(","))}
            """,  # noqa: S608 - fixed fragments only
            per_endpoint,
            total,
            now,
            list(in_flight),
            lease_until,
            list(in_flight.values()),
        )
        return [_delivery(r) for r in rows]

    async def record(self, delivery: Delivery, verdict: Verdict, attempt: Attempt) -> None:
        # One round trip for both rows: every attempt pays it.
        await self._conn.execute(
            """
            WITH delivery AS (
                UPDATE deliveries SET state = $12, attempts = attempts + 1, schedule_step = $13,
                    next_attempt_at = $14,
                    finished_at = CASE WHEN $12 = 'pending' THEN NULL ELSE $5::timestamptz END
                WHERE id = $2
            )
            INSERT INTO delivery_attempts (id, delivery_id, endpoint_id, event_type, attempted_at,
                status_code, latency_ms, error, response_body, outcome, next_retry_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
            attempt.id,
            delivery.id,
            attempt.endpoint_id,
            attempt.event_type,
            attempt.attempted_at,
            attempt.status_code,
            attempt.latency_ms,
            attempt.error,
            attempt.response_body,
            attempt.outcome,
            attempt.next_retry_at,
            verdict.state,
            verdict.schedule_step,
            verdict.next_attempt_at,
        )

    async def reschedule(self, delivery_id: UUID, at: datetime) -> None:
        # A retry by hand starts the schedule over: the admin fixed something.
        await self._conn.execute(
            """
            UPDATE deliveries SET state = 'pending', next_attempt_at = $2, schedule_step = 0,
                finished_at = NULL
            WHERE id = $1
            """,
            delivery_id,
            at,
        )

    async def attempts(self, endpoint_id: UUID, *, before: int | None, limit: int) -> list[Attempt]:
        rows = await self._conn.fetch(
            """
            SELECT id, delivery_id, endpoint_id, event_type, attempted_at, status_code,
                latency_ms, error, response_body, outcome, next_retry_at, seq
            FROM delivery_attempts
            WHERE endpoint_id = $1 AND ($2::bigint IS NULL OR seq < $2)
            ORDER BY seq DESC
            LIMIT $3
            """,
            endpoint_id,
            before,
            limit,
        )
        return [
            Attempt(
                id=r["id"],
                delivery_id=r["delivery_id"],
                endpoint_id=r["endpoint_id"],
                event_type=r["event_type"],
                attempted_at=r["attempted_at"],
                status_code=r["status_code"],
                latency_ms=r["latency_ms"],
                error=r["error"],
                response_body=r["response_body"],
                outcome=cast(Outcome, r["outcome"]),
                next_retry_at=r["next_retry_at"],
                seq=r["seq"],
            )
            for r in rows
        ]

    async def prune(self, finished_before: datetime) -> int:
        status = await self._conn.execute(
            """
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries WHERE state <> 'pending' AND finished_at < $1
                LIMIT 5000 FOR UPDATE SKIP LOCKED
            )
            """,
            finished_before,
        )
        return int(status.split()[-1])

    async def pending_ages(self, now: datetime) -> list[PendingAge]:
        rows = await self._conn.fetch(
            """
            SELECT endpoint_id, count(*) AS pending,
                   greatest(extract(epoch FROM $1 - min(created_at)), 0) AS oldest
            FROM deliveries WHERE state = 'pending' GROUP BY endpoint_id
            """,
            now,
        )
        return [PendingAge(r["endpoint_id"], r["pending"], float(r["oldest"])) for r in rows]
