"""The ``incidents`` projection: what a notification says about its incident."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from fireline_notifications.domain.message import IncidentSnapshot
from fireline_runtime.unit_of_work import PgRepository


class PgIncidentRepository(PgRepository):
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
