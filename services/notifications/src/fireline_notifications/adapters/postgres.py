"""PostgreSQL repositories and the unit of work; the only place this service's SQL lives.

URLs and signing secrets are sealed here on the way in and opened on the way out, each bound to
its row, so nothing above this module handles ciphertext and nothing below it sees plaintext.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from fireline_contracts import NOTIFICATIONS
from fireline_notifications.domain.delivery import Attempt, Delivery, Outcome, Verdict
from fireline_notifications.domain.endpoint import (
    DisabledReason,
    Endpoint,
    Format,
    SigningSecret,
)
from fireline_notifications.domain.message import IncidentSnapshot
from fireline_notifications.service_layer.unit_of_work import EndpointEvent, PendingAge
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.db import Connection
from fireline_runtime.outbox import OutboxWriter
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import PgRepository

_ENDPOINT_COLUMNS = """
    id, org_id, url_sealed, description, event_types, format, enabled, disabled_reason,
    disabled_at, failing_since, created_at, updated_at
"""
_DELIVERY_COLUMNS = """
    id, endpoint_id, org_id, event_type, body, state, attempts, schedule_step, created_at,
    next_attempt_at
"""


def _url_context(endpoint_id: UUID) -> str:
    return f"webhook-endpoint-url:{endpoint_id}"


def _secret_context(secret_id: UUID) -> str:
    return f"webhook-endpoint-secret:{secret_id}"


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


class PgEndpointRepository(PgRepository):
    def __init__(self, conn: Connection, box: SecretBox) -> None:
        super().__init__(conn)
        self._box = box

    def _endpoint(self, row: asyncpg.Record) -> Endpoint:
        return Endpoint(
            id=row["id"],
            org_id=row["org_id"],
            url=self._box.open_text(row["url_sealed"], context=_url_context(row["id"])),
            description=row["description"],
            event_types=tuple(row["event_types"]),
            format=cast(Format, row["format"]),  # the CHECK constraint admits only these
            enabled=row["enabled"],
            disabled_reason=cast(DisabledReason | None, row["disabled_reason"]),
            disabled_at=row["disabled_at"],
            failing_since=row["failing_since"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def add(self, endpoint: Endpoint, secret: SigningSecret) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO webhook_endpoints ({_ENDPOINT_COLUMNS}, host)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,  # noqa: S608 - fixed fragments only
            *self._row(endpoint),
        )
        await self.add_secret(endpoint.id, secret)

    def _row(self, e: Endpoint) -> tuple[object, ...]:
        sealed = self._box.seal_text(e.url, context=_url_context(e.id))
        return (
            e.id,
            e.org_id,
            sealed,
            e.description,
            list(e.event_types),
            e.format,
            e.enabled,
            e.disabled_reason,
            e.disabled_at,
            e.failing_since,
            e.created_at,
            e.updated_at,
            e.host,
        )

    async def get(
        self, org_id: UUID | None, endpoint_id: UUID, *, for_update: bool = False
    ) -> Endpoint | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"  # noqa: S608 - fixed fragments only
            f" WHERE id = $1 AND ($2::uuid IS NULL OR org_id = $2){lock}",
            endpoint_id,
            org_id,
        )
        return self._endpoint(row) if row else None

    async def _select(self, condition: str, *args: object) -> list[Endpoint]:
        rows = await self._conn.fetch(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {condition}",  # noqa: S608 - fixed fragments only
            *args,
        )
        return [self._endpoint(r) for r in rows]

    async def of_org(self, org_id: UUID) -> list[Endpoint]:
        return await self._select("org_id = $1 ORDER BY created_at, id", org_id)

    async def of_orgs(self, org_ids: Collection[UUID]) -> list[Endpoint]:
        return await self._select(
            "org_id = ANY ($1::uuid[]) ORDER BY org_id, created_at, id", list(org_ids)
        )

    async def save(self, endpoint: Endpoint) -> None:
        await self._conn.execute(
            """
            UPDATE webhook_endpoints SET url_sealed = $3, description = $4, event_types = $5,
                format = $6, enabled = $7, disabled_reason = $8, disabled_at = $9,
                failing_since = $10, created_at = $11, updated_at = $12, host = $13
            WHERE id = $1 AND org_id = $2
            """,
            *self._row(endpoint),
        )

    async def delete(self, org_id: UUID, endpoint_id: UUID) -> bool:
        status = await self._conn.execute(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND org_id = $2", endpoint_id, org_id
        )
        return bool(status.endswith(" 1"))

    async def enabled_of(self, endpoint_ids: Collection[UUID]) -> list[Endpoint]:
        return await self._select("id = ANY ($1::uuid[]) AND enabled", list(endpoint_ids))

    async def signing_secrets(
        self, endpoint_ids: Collection[UUID], now: datetime
    ) -> dict[UUID, list[SigningSecret]]:
        rows = await self._conn.fetch(
            """
            SELECT id, endpoint_id, secret_sealed, created_at, expires_at FROM endpoint_secrets
            WHERE endpoint_id = ANY ($1::uuid[]) AND (expires_at IS NULL OR expires_at > $2)
            ORDER BY endpoint_id, created_at DESC, id
            """,
            list(endpoint_ids),
            now,
        )
        found: dict[UUID, list[SigningSecret]] = {}
        for r in rows:
            found.setdefault(r["endpoint_id"], []).append(
                SigningSecret(
                    id=r["id"],
                    secret=self._box.open_text(
                        r["secret_sealed"], context=_secret_context(r["id"])
                    ),
                    created_at=r["created_at"],
                    expires_at=r["expires_at"],
                )
            )
        return found

    async def add_secret(self, endpoint_id: UUID, secret: SigningSecret) -> None:
        await self._conn.execute(
            """
            INSERT INTO endpoint_secrets (id, endpoint_id, secret_sealed, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5)
            """,
            secret.id,
            endpoint_id,
            self._box.seal_text(secret.secret, context=_secret_context(secret.id)),
            secret.created_at,
            secret.expires_at,
        )

    async def expire_secrets(self, endpoint_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            """
            UPDATE endpoint_secrets SET expires_at = $2
            WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
            """,
            endpoint_id,
            at,
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


class PgIncidentDirectory(PgRepository):
    async def get_many(self, incident_ids: Sequence[UUID]) -> list[IncidentSnapshot]:
        rows = await self._conn.fetch(
            """
            SELECT incident_id, org_id, number, title, severity, status, pagerduty_url
            FROM incidents WHERE incident_id = ANY ($1::uuid[])
            """,
            list(incident_ids),
        )
        return [IncidentSnapshot(**dict(row)) for row in rows]

    async def save_many(self, snapshots: Sequence[IncidentSnapshot]) -> None:
        if not snapshots:
            return
        columns = zip(
            *(
                (s.incident_id, s.org_id, s.number, s.title, s.severity, s.status, s.pagerduty_url)
                for s in snapshots
            ),
            strict=True,
        )
        await self._conn.execute(
            """
            INSERT INTO incidents (incident_id, org_id, number, title, severity, status,
                pagerduty_url)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                $6::text[], $7::text[])
            ON CONFLICT (incident_id) DO UPDATE SET number = excluded.number,
                title = excluded.title, severity = excluded.severity, status = excluded.status,
                pagerduty_url = excluded.pagerduty_url
            """,
            *(list(c) for c in columns),
        )


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Endpoints, deliveries and the incidents projection, on one transaction with the outbox."""

    _endpoints: PgEndpointRepository | None = None
    _deliveries: PgDeliveryRepository | None = None
    _incidents: PgIncidentDirectory | None = None

    def __init__(
        self,
        outbox: OutboxWriter,
        box: SecretBox,
        *,
        pool: asyncpg.Pool | None = None,
        conn: Connection | None = None,
    ) -> None:
        super().__init__(outbox, pool=pool, conn=conn)
        self._box = box

    def _bind(self, conn: Connection) -> None:
        self._endpoints = PgEndpointRepository(conn, self._box)
        self._deliveries = PgDeliveryRepository(conn)
        self._incidents = PgIncidentDirectory(conn)

    def _unbind(self) -> None:
        self._endpoints = None
        self._deliveries = None
        self._incidents = None

    @property
    def endpoints(self) -> PgEndpointRepository:
        if self._endpoints is None:
            raise RuntimeError("enter the unit of work first")
        return self._endpoints

    @property
    def deliveries(self) -> PgDeliveryRepository:
        if self._deliveries is None:
            raise RuntimeError("enter the unit of work first")
        return self._deliveries

    @property
    def incidents(self) -> PgIncidentDirectory:
        if self._incidents is None:
            raise RuntimeError("enter the unit of work first")
        return self._incidents

    async def publish(self, event: EndpointEvent) -> None:
        await self.emit(NOTIFICATIONS, event)
