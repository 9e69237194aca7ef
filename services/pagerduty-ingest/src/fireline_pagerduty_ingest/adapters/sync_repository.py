"""PostgreSQL storage of Fireline → PagerDuty sync: incident links and the requests to send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from fireline_pagerduty_ingest.domain.sync import (
    ECHO_WINDOW,
    Action,
    IncidentOrigin,
    PagerDutyLink,
    SyncRequest,
    Verdict,
)
from fireline_runtime.db import Record
from fireline_runtime.unit_of_work import PgRepository

# Only the oldest pending request of each incident: an acknowledgement and the resolution after it
# reach PagerDuty in that order, across dispatchers and restarts. The older requests are looked up
# in sync_requests_of_incident; migration 0009 put sync_requests_due out of the lookup's reach,
# after statistics from before a backlog had the planner read every pending request for each
# candidate through it.
_CLAIM = """
    WITH candidates AS (
        SELECT r.id FROM sync_requests r
        WHERE r.state = 'pending' AND r.next_attempt_at <= $3
          AND NOT EXISTS (
              SELECT 1 FROM sync_requests earlier
              WHERE earlier.state = 'pending'
                AND earlier.incident_id = r.incident_id
                AND (earlier.created_at, earlier.id) < (r.created_at, r.id))
        ORDER BY r.next_attempt_at, r.created_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE sync_requests r
    SET claim_id = $2, next_attempt_at = $4, last_attempt_at = $3,
        attempts = r.attempts + 1
    FROM candidates c
    WHERE r.id = c.id
    RETURNING r.*
"""


class PgSyncRepository(PgRepository):
    async def link_syncing(self, origins: Sequence[IncidentOrigin]) -> int:
        status: str = await self._conn.execute(
            """
            INSERT INTO pagerduty_links (incident_id, org_id, integration_id, external_id)
            SELECT o.incident_id, o.org_id, first.integration_id, o.external_id
            FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS o (incident_id, org_id, external_id)
            CROSS JOIN LATERAL (
                SELECT d.integration_id FROM deliveries d
                WHERE d.org_id = o.org_id AND d.incident_id = o.external_id
                ORDER BY d.id LIMIT 1
            ) AS first
            JOIN integrations i ON i.id = first.integration_id
            WHERE i.sync_to_pagerduty AND i.deleted_at IS NULL
            ON CONFLICT (incident_id) DO NOTHING
            """,
            [o.incident_id for o in origins],
            [o.org_id for o in origins],
            [o.external_id for o in origins],
        )
        return int(status.rsplit(" ", 1)[1])

    async def link_of(self, incident_id: UUID) -> PagerDutyLink | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM pagerduty_links WHERE incident_id = $1", incident_id
        )
        if row is None:
            return None
        return PagerDutyLink(
            incident_id=row["incident_id"],
            org_id=row["org_id"],
            integration_id=row["integration_id"],
            external_id=row["external_id"],
        )

    async def add(
        self,
        *,
        request_id: UUID,
        source_event_id: UUID,
        link: PagerDutyLink,
        action: Action,
        note: str | None,
    ) -> bool:
        # created_at orders an incident's requests for the dispatcher. The column's default,
        # now(), is the transaction's start, the same for every request of a consumer batch
        # (an acknowledgement and the resolution after it), which would leave their order to
        # their random ids; clock_timestamp() moves on within the transaction.
        added = await self._conn.fetchval(
            """
            INSERT INTO sync_requests (id, source_event_id, org_id, incident_id, integration_id,
                                       external_id, action, note, state, next_attempt_at,
                                       created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', now(), clock_timestamp())
            ON CONFLICT (source_event_id) DO NOTHING
            RETURNING id
            """,
            request_id,
            source_event_id,
            link.org_id,
            link.incident_id,
            link.integration_id,
            link.external_id,
            action,
            note,
        )
        return added is not None

    async def claim(
        self, *, limit: int, claim_id: UUID, now: datetime, lease_until: datetime
    ) -> list[SyncRequest]:
        rows = await self._conn.fetch(
            _CLAIM,
            limit,
            claim_id,
            now,
            lease_until,
        )
        return [_request(row) for row in rows]

    async def record(
        self,
        request: SyncRequest,
        verdict: Verdict,
        *,
        at: datetime,
        pagerduty_user_id: str | None,
    ) -> bool:
        recorded = await self._conn.fetchval(
            """
            UPDATE sync_requests
            SET state = $3, schedule_step = $4, next_attempt_at = $5, claim_id = NULL,
                finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $6::timestamptz END,
                pagerduty_user_id = COALESCE($7, pagerduty_user_id)
            WHERE id = $1 AND claim_id = $2 AND state = 'pending'
            RETURNING id
            """,
            request.id,
            request.claim_id,
            verdict.state,
            verdict.schedule_step,
            verdict.next_attempt_at,
            at,
            pagerduty_user_id,
        )
        return recorded is not None

    async def match_echo(
        self,
        *,
        integration_id: UUID,
        external_id: str,
        action: Action,
        agent_id: str | None,
        received_at: datetime,
        event_id: str,
        note: str | None = None,
    ) -> UUID | None:
        matched: UUID | None = await self._conn.fetchval(
            """
            UPDATE sync_requests SET echo_event_id = $6
            WHERE id = (
                SELECT id FROM sync_requests
                WHERE integration_id = $1 AND external_id = $2 AND action = $3
                  AND echo_event_id IS NULL AND state <> 'failed'
                  AND last_attempt_at IS NOT NULL
                  AND last_attempt_at <= $5 AND last_attempt_at > $5 - $7::interval
                  AND (pagerduty_user_id IS NULL OR pagerduty_user_id = $4)
                  AND ($8::text IS NULL OR note = $8)
                ORDER BY created_at
                LIMIT 1
                FOR UPDATE
            )
            RETURNING id
            """,
            integration_id,
            external_id,
            action,
            agent_id,
            received_at,
            event_id,
            ECHO_WINDOW,
            note,
        )
        return matched


def _request(row: Record) -> SyncRequest:
    return SyncRequest(
        id=row["id"],
        org_id=row["org_id"],
        incident_id=row["incident_id"],
        integration_id=row["integration_id"],
        external_id=row["external_id"],
        action=row["action"],
        note=row["note"],
        attempts=row["attempts"],
        schedule_step=row["schedule_step"],
        claim_id=row["claim_id"],
    )
