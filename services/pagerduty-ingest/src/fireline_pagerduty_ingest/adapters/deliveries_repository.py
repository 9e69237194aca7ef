"""PostgreSQL storage of webhook deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from fireline_pagerduty_ingest.domain.delivery import (
    ClaimedDelivery,
    DeliveryStatus,
    FailedAttempt,
    NewDelivery,
    Stored,
)
from fireline_runtime.db import Record
from fireline_runtime.outbox import Row, row_columns
from fireline_runtime.unit_of_work import PgRepository

_FIRST_SCAN = 256
"""Pending deliveries the first claim statement looks at: a storm's backlog of one delivery per
incident fills a batch from the first few hundred, and a longer look costs its sort."""

_CLAIM = """
    WITH head AS MATERIALIZED (
        SELECT id, incident_id,
               row_number() OVER (PARTITION BY incident_id ORDER BY id) AS nth
        FROM (
            SELECT id, incident_id FROM deliveries
            WHERE status = 'received'
            ORDER BY id
            LIMIT $4
        ) AS oldest
    ),
    claimable AS (
        SELECT d.id FROM deliveries d
        -- NOT EXISTS (an earlier pending delivery of the incident) in a form whose plan does
        -- not hang on the statistics: with a backlog the last ANALYZE did not see, the planner
        -- ran that as a scan of every pending row for each candidate (2 s a claim at 15,000
        -- pending, in BENCHMARKS.md), and a storm's backlog only grew. An array of ids, not a
        -- join, so that the rows are always fetched by id, whatever the table's size.
        WHERE d.id = ANY (ARRAY(
                SELECT h.id FROM head h WHERE h.nth = 1 OR h.incident_id IS NULL))
          AND d.status = 'received'
          AND (d.lease_until IS NULL OR d.lease_until < now())
        ORDER BY d.id
        -- After the lock: a row another worker holds is skipped and the next one taken.
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
    ),
    claimed AS (
        UPDATE deliveries d
        SET claim_id = $2, lease_until = now() + make_interval(secs => $3),
            attempts = d.attempts + 1
        FROM claimable c
        WHERE d.id = c.id
        RETURNING d.id, d.integration_id, d.org_id, d.dedupe_key, d.body, d.incident_type,
                  d.severity, d.correlation_id, d.attempts, d.received_at, d.traceparent,
                  d.parsed_event
    )
    -- One row even when nothing was claimed, to say how much of the prefix there was.
    SELECT (SELECT count(*) FROM head) AS scanned, claimed.*
    FROM (VALUES (1)) AS one LEFT JOIN claimed ON true
"""

# The receiver's one statement for a batch of deliveries, with the alerts it publishes itself.
# Each step is a CTE so the whole batch costs one round trip and one commit (autocommitted):
# - ``key_locks``: an advisory lock per PagerDuty incident of the batch, in a fixed order, before
#   anything is read or inserted. It is the outbox's per-key lock of the incident's alerts
#   (fireline_runtime.outbox), taken for every delivery of an incident, not only the published
#   ones: a concurrent batch (another replica's) with a delivery of the same incident waits here
#   until this one commits. The alerts' ids then follow their commit order, and two batches
#   cannot deadlock on a dedupe key.
# - ``decided``: a delivery with an alert row is published now unless a delivery of its incident
#   is pending (the worker publishes in PagerDuty's order; this one then waits its turn there).
#   The check runs after the locks, in ``delivery_pending`` (migration 0011), which sees what
#   committed while this statement waited; the statement's own snapshot predates the wait, and
#   would miss a delivery a concurrent batch had just left to the worker.
# - ``stored``: the deliveries, ids in arrival order (the worker's per-incident order relies on
#   it); a dedupe key already stored is skipped.
# - ``published``: the outbox rows of the deliveries stored as published. The relay is woken
#   by the writer after the commit (``fireline_runtime.outbox.RelayWaker``), not by a NOTIFY
#   here: one per batch cost every listening connection a transaction.
_STORE = """
    WITH input AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::bytea[], $9::text[], $10::text[],
                             $11::text[], $12::text[], $13::text[],
                             $14::uuid[], $15::text[], $16::text[], $17::text[], $18::bytea[],
                             $19::text[], $20::text[], $21::text[])
            WITH ORDINALITY AS t(integration_id, org_id, dedupe_key, event_id, event_type,
                                 incident_id, status, body, incident_type, severity,
                                 correlation_id, traceparent, parsed_event,
                                 alert_event_id, alert_topic, alert_key, alert_type,
                                 alert_payload, alert_headers, alert_lock, incident_lock,
                                 position)
    ),
    key_locks AS MATERIALIZED (
        SELECT count(pg_advisory_xact_lock(hashtext(incident_lock))) AS taken
        FROM (SELECT DISTINCT incident_lock FROM input
              WHERE incident_lock IS NOT NULL ORDER BY 1) AS keys
    ),
    decided AS MATERIALIZED (
        -- Joined to key_locks so that no row is decided before every lock is held.
        SELECT i.*,
               CASE WHEN i.alert_lock IS NULL THEN false
                    ELSE NOT delivery_pending(i.org_id, i.incident_id) END AS publish_now
        FROM input i, key_locks
    ),
    stored AS (
        INSERT INTO deliveries (integration_id, org_id, dedupe_key, event_id, event_type,
                                incident_id, status, body, incident_type, severity,
                                correlation_id, traceparent, parsed_event, processed_at,
                                enrichment_status)
        SELECT integration_id, org_id, dedupe_key, event_id, event_type, incident_id,
               CASE WHEN publish_now THEN 'published' ELSE status END,
               body, incident_type, severity, correlation_id, traceparent, parsed_event,
               CASE WHEN publish_now OR status = 'ignored' THEN now() END,
               CASE WHEN publish_now THEN 'skipped' END
        FROM decided
        ORDER BY position
        ON CONFLICT ON CONSTRAINT deliveries_dedupe DO NOTHING
        RETURNING id, integration_id, dedupe_key, status
    ),
    published AS (
        INSERT INTO outbox (event_id, topic, kafka_key, event_type, payload, headers)
        SELECT d.alert_event_id, d.alert_topic, d.alert_key, d.alert_type, d.alert_payload,
               d.alert_headers::jsonb
        FROM stored s
        JOIN decided d ON d.integration_id = s.integration_id
                      AND d.dedupe_key = s.dedupe_key AND d.publish_now
        WHERE s.status = 'published'
        ORDER BY d.position
    )
    SELECT s.id, s.integration_id, s.dedupe_key, s.status FROM stored s
"""


class PgDeliveryRepository(PgRepository):
    """Webhook deliveries: the durable record the receiver writes and the worker drains."""

    async def add_many(
        self,
        deliveries: Sequence[NewDelivery],
        alert_rows: Sequence[Row | None],
        incident_locks: Sequence[str | None],
    ) -> list[Stored | None]:
        """Store deliveries in one statement, in order; each one as stored, or None if a
        duplicate. A dedupe key repeated within ``deliveries`` is stored once, for its first
        occurrence.

        ``alert_rows`` holds, beside each delivery, the outbox row of its alert when the
        receiver publishes it (``NewDelivery.alert``), else None. Such a delivery is stored as
        published with its row in the outbox, in the same statement, unless an earlier delivery
        of its incident is pending: then it is stored as received, and the worker publishes it
        after that one. Only the first occurrence of a repeated key may carry a row. The caller
        wakes the relay when some were published.

        ``incident_locks`` names, beside each delivery of a PagerDuty incident, the advisory lock
        of its incident's alerts (``OutboxWriter.lock``; a delivery with an alert row gives that
        row's lock); the statement holds them all while it decides and inserts.
        """
        publishable = _in_order(deliveries, alert_rows)
        outbox = row_columns(publishable)
        rows = await self._conn.fetch(
            _STORE,
            [d.integration_id for d in deliveries],
            [d.org_id for d in deliveries],
            [d.dedupe_key for d in deliveries],
            [d.event_id for d in deliveries],
            [d.event_type for d in deliveries],
            [d.incident_id for d in deliveries],
            [d.status for d in deliveries],
            [d.body for d in deliveries],
            [d.incident_type for d in deliveries],
            [d.severity for d in deliveries],
            [d.correlation_id for d in deliveries],
            [d.traceparent for d in deliveries],
            [d.parsed_event for d in deliveries],
            *outbox,
            list(incident_locks),
        )
        stored = {
            (row["integration_id"], row["dedupe_key"]): Stored(id=row["id"], status=row["status"])
            for row in rows
        }
        return [stored.pop((d.integration_id, d.dedupe_key), None) for d in deliveries]

    async def status_of(self, *, integration_id: UUID, dedupe_key: str) -> DeliveryStatus | None:
        status: DeliveryStatus | None = await self._conn.fetchval(
            "SELECT status FROM deliveries WHERE integration_id = $1 AND dedupe_key = $2",
            integration_id,
            dedupe_key,
        )
        return status

    async def claim(self, *, limit: int, claim_id: UUID, lease_s: float) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` pending deliveries, at most one per PagerDuty incident.

        Only the oldest pending delivery of each incident can be claimed: a later one waits until
        the earlier one is published (or failed), which keeps each incident's alerts in the order
        PagerDuty sent them, across workers and restarts. A lease that expires (its worker died)
        makes the delivery claimable again.

        Each statement looks at a prefix of the pending deliveries, oldest first. A delivery's
        earlier pending siblings are older, so they are in any prefix it is in: which deliveries
        of a prefix are their incident's oldest is known from the prefix alone. When a whole
        prefix yields fewer than ``limit`` (an incident with many pending updates ahead, their
        oldest in flight, or rows another worker is claiming), the next statement looks at a
        prefix four times as long. Its cost follows the batch, unless the oldest pending rows
        are queued behind deliveries in flight: then it grows with that queue, as the indexed
        ``NOT EXISTS`` did.
        """
        claimed: list[ClaimedDelivery] = []
        scan = max(_FIRST_SCAN, 4 * limit)
        while True:
            rows = await self._conn.fetch(_CLAIM, limit - len(claimed), claim_id, lease_s, scan)
            claimed.extend(_claimed(row) for row in rows if row["id"] is not None)
            if len(claimed) >= limit or rows[0]["scanned"] < scan:
                return sorted(claimed, key=lambda d: d.id)
            scan *= 4

    async def lock_claims(self, claims: Sequence[tuple[int, UUID]]) -> set[int]:
        """Lock the deliveries these claims still hold (no other worker took them over)."""
        ids, claim_ids = (list(column) for column in zip(*claims, strict=True))
        rows = await self._conn.fetch(
            """
            SELECT d.id FROM deliveries d
            JOIN unnest($1::bigint[], $2::uuid[]) AS c (id, claim_id)
              ON d.id = c.id AND d.claim_id = c.claim_id
            WHERE d.status = 'received'
            ORDER BY d.id
            FOR UPDATE OF d
            """,
            ids,
            claim_ids,
        )
        return {row["id"] for row in rows}

    async def mark_published(self, published: Sequence[tuple[int, str]]) -> None:
        ids, statuses = (list(column) for column in zip(*published, strict=True))
        await self._conn.execute(
            """
            UPDATE deliveries d
            SET status = 'published', enrichment_status = p.enrichment_status,
                processed_at = now(), lease_until = NULL, last_error = NULL
            FROM unnest($1::bigint[], $2::text[]) AS p (id, enrichment_status)
            WHERE d.id = p.id
            """,
            ids,
            statuses,
        )

    async def release(self, *, delivery_id: int, claim_id: UUID, failure: FailedAttempt) -> None:
        """Give a failed delivery back for a later retry, or mark it failed for good."""
        await self._conn.execute(
            """
            UPDATE deliveries
            SET last_error = $3,
                lease_until = CASE WHEN $5 THEN NULL ELSE now() + make_interval(secs => $4) END,
                status = CASE WHEN $5 THEN 'failed' ELSE status END,
                processed_at = CASE WHEN $5 THEN now() ELSE processed_at END,
                claim_id = NULL
            WHERE id = $1 AND claim_id = $2 AND status = 'received'
            """,
            delivery_id,
            claim_id,
            failure.error[:500],
            failure.retry_in_s,
            failure.give_up,
        )

    async def delete_finished(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that finished before the cutoff; how many went.

        Pending deliveries (``received``) are never touched, whatever their age. A finished
        delivery was received no later than it finished, so its dedupe key is older than the
        cutoff too. Rows another transaction holds are skipped, not waited for.
        """
        result = await self._conn.execute(
            """
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries
                WHERE status <> 'received' AND processed_at < $1 AND received_at < $1
                ORDER BY processed_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            """,
            finished_before,
            limit,
        )
        # asyncpg returns the command tag, e.g. "DELETE 42".
        return int(result.rsplit(" ", 1)[-1])


def _in_order(
    deliveries: Sequence[NewDelivery], alert_rows: Sequence[Row | None]
) -> list[Row | None]:
    """The alert rows the batch may publish now: none for a repeated dedupe key, nor for a
    delivery after one of its incident that goes to the worker (the statement cannot see its
    own rows, so it cannot tell that the worker's is pending)."""
    rows: list[Row | None] = []
    seen: set[tuple[UUID, str]] = set()
    to_worker: set[tuple[UUID, str | None]] = set()
    for delivery, row in zip(deliveries, alert_rows, strict=True):
        key = (delivery.integration_id, delivery.dedupe_key)
        incident = (delivery.org_id, delivery.incident_id)
        if key in seen:
            # Not stored at all (the first occurrence is): it sends no one to the worker.
            rows.append(None)
            continue
        if incident in to_worker:
            row = None
        seen.add(key)
        if row is None and delivery.status == "received":
            to_worker.add(incident)
        rows.append(row)
    return rows


def _claimed(row: Record) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row["id"],
        integration_id=row["integration_id"],
        org_id=row["org_id"],
        dedupe_key=row["dedupe_key"],
        body=bytes(row["body"]),
        incident_type=row["incident_type"],
        severity=row["severity"],
        correlation_id=row["correlation_id"],
        attempts=row["attempts"],
        received_at=row["received_at"],
        traceparent=row["traceparent"],
        parsed_event=row["parsed_event"],
    )
