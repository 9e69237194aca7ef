"""The ``incidents`` table and its org counters: the incidents of each org."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import cast
from uuid import UUID

import asyncpg

from fireline_incidents.domain.model import (
    Assignee,
    Incident,
    IncidentFilter,
    Source,
    Status,
)
from fireline_incidents.domain.pagination import PagePosition
from fireline_runtime.unit_of_work import PgRepository

INCIDENT_COLUMNS = """
    id, org_id, number, title, status, severity, incident_type, creator_id, source_kind,
    external_id, html_url, service_id, service_name, created_at, acknowledged_at, resolved_at,
    updated_at, reopen_count, merged_into, assignees, escalation_policy_id, escalation_policy_name,
    source_priority, source_state_at
"""


# The pool's codec (fireline_runtime.db) turns jsonb into Python values and back.
def _assignees_json(assignees: tuple[Assignee, ...]) -> list[dict[str, str | None]]:
    return [{"id": a.id, "name": a.name} for a in assignees]


def _assignees(raw: list[dict[str, str | None]]) -> tuple[Assignee, ...]:
    return tuple(Assignee(id=str(item["id"]), name=item.get("name")) for item in raw)


def incident_from_row(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"],
        org_id=row["org_id"],
        number=row["number"],
        title=row["title"],
        status=cast(Status, row["status"]),  # the table's CHECK constraint admits only these
        severity=row["severity"],
        incident_type=row["incident_type"],
        creator_id=row["creator_id"],
        source=Source(
            kind=row["source_kind"],
            external_id=row["external_id"],
            html_url=row["html_url"],
            service_id=row["service_id"],
            service_name=row["service_name"],
        ),
        created_at=row["created_at"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
        updated_at=row["updated_at"],
        reopen_count=row["reopen_count"],
        merged_into=row["merged_into"],
        assignees=_assignees(row["assignees"]),
        escalation_policy_id=row["escalation_policy_id"],
        escalation_policy_name=row["escalation_policy_name"],
        source_priority=row["source_priority"],
        source_state_at=row["source_state_at"],
    )


class PgIncidentRepository(PgRepository):
    async def reserve_number(self, org_id: UUID) -> int:
        # One statement creates the org's counter or row-locks and increments it: incident starts
        # of one org serialise on this lock, so every round trip it is held for caps their rate.
        number = await self._conn.fetchval(
            """
            INSERT INTO org_counters (org_id, last_number) VALUES ($1, 1)
            ON CONFLICT (org_id) DO UPDATE SET last_number = org_counters.last_number + 1
            RETURNING last_number
            """,
            org_id,
        )
        return int(number)

    async def unreserve_number(self, org_id: UUID, number: int) -> None:
        await self._conn.execute(
            "UPDATE org_counters SET last_number = $2 - 1 WHERE org_id = $1 AND last_number = $2",
            org_id,
            number,
        )

    async def get(
        self, org_id: UUID, incident_id: UUID, *, for_update: bool = False
    ) -> Incident | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE org_id = $1 AND id = $2{lock}",  # noqa: S608 - fixed fragments only
            org_id,
            incident_id,
        )
        return incident_from_row(row) if row is not None else None

    async def get_by_source(
        self, org_id: UUID, source: str, external_id: str, *, for_update: bool = False
    ) -> Incident | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT {INCIDENT_COLUMNS} FROM incidents
            WHERE org_id = $1 AND source_kind = $2 AND external_id = $3{lock}
            """,  # noqa: S608 - fixed fragments only
            org_id,
            source,
            external_id,
        )
        return incident_from_row(row) if row is not None else None

    async def add(self, incident: Incident) -> None:
        source = incident.source
        await self._conn.execute(
            f"""
            INSERT INTO incidents ({INCIDENT_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    $18, $19, $20::jsonb, $21, $22, $23, $24)
            """,  # noqa: S608 - fixed fragments only
            incident.id,
            incident.org_id,
            incident.number,
            incident.title,
            incident.status,
            incident.severity,
            incident.incident_type,
            incident.creator_id,
            source.kind,
            source.external_id,
            source.html_url,
            source.service_id,
            source.service_name,
            *self._timestamps_and_mirror(incident),
        )

    async def add_many(self, incidents: Sequence[Incident]) -> None:
        """Store new incidents in one statement (a consumer batch's starts)."""
        await self._conn.execute(
            f"""
            INSERT INTO incidents ({INCIDENT_COLUMNS})
            SELECT id, org_id, number, title, status, severity, incident_type, creator_id,
                   source_kind, external_id, html_url, service_id, service_name, created_at,
                   acknowledged_at, resolved_at, updated_at, reopen_count, merged_into,
                   assignees::jsonb, escalation_policy_id, escalation_policy_name,
                   source_priority, source_state_at
            FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[], $11::text[],
                $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[],
                $16::timestamptz[], $17::timestamptz[], $18::int[], $19::text[], $20::text[],
                $21::text[], $22::text[], $23::text[], $24::timestamptz[])
                AS i ({INCIDENT_COLUMNS})
            """,  # noqa: S608 - fixed fragments only
            *unnest_columns(
                (
                    i.id,
                    i.org_id,
                    i.number,
                    i.title,
                    i.status,
                    i.severity,
                    i.incident_type,
                    i.creator_id,
                    i.source.kind,
                    i.source.external_id,
                    i.source.html_url,
                    i.source.service_id,
                    i.source.service_name,
                    *self._timestamps_and_mirror(i, assignees_as_text=True),
                )
                for i in incidents
            ),
        )

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        """Store the state of existing incidents in one statement (a consumer batch's changes)."""
        await self._conn.execute(
            """
            UPDATE incidents AS i
            SET title = s.title, status = s.status, severity = s.severity,
                incident_type = s.incident_type, creator_id = s.creator_id,
                html_url = s.html_url, service_id = s.service_id, service_name = s.service_name,
                created_at = s.created_at, acknowledged_at = s.acknowledged_at,
                resolved_at = s.resolved_at, updated_at = s.updated_at,
                reopen_count = s.reopen_count, merged_into = s.merged_into,
                assignees = s.assignees::jsonb, escalation_policy_id = s.escalation_policy_id,
                escalation_policy_name = s.escalation_policy_name,
                source_priority = s.source_priority, source_state_at = s.source_state_at
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                        $7::uuid[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
                        $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::int[],
                        $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                        $21::timestamptz[])
                 AS s (org_id, id, title, status, severity, incident_type, creator_id, html_url,
                       service_id, service_name, created_at, acknowledged_at, resolved_at,
                       updated_at, reopen_count, merged_into, assignees, escalation_policy_id,
                       escalation_policy_name, source_priority, source_state_at)
            WHERE i.org_id = s.org_id AND i.id = s.id
            """,
            *unnest_columns(self._update_values(i, assignees_as_text=True) for i in incidents),
        )

    @classmethod
    def _update_values(
        cls, incident: Incident, *, assignees_as_text: bool = False
    ) -> tuple[object, ...]:
        """``save``'s parameters, in its order."""
        source = incident.source
        return (
            incident.org_id,
            incident.id,
            incident.title,
            incident.status,
            incident.severity,
            incident.incident_type,
            incident.creator_id,
            source.html_url,
            source.service_id,
            source.service_name,
            *cls._timestamps_and_mirror(incident, assignees_as_text=assignees_as_text),
        )

    @staticmethod
    def _timestamps_and_mirror(
        incident: Incident, *, assignees_as_text: bool = False
    ) -> tuple[object, ...]:
        """The columns both the insert and the update end with, in their order.

        ``assignees_as_text`` gives the assignees as JSON text, for the multi-row statements:
        inside a jsonb[] parameter asyncpg would take their list for a sub-array.
        """
        assignees = _assignees_json(incident.assignees)
        return (
            incident.created_at,
            incident.acknowledged_at,
            incident.resolved_at,
            incident.updated_at,
            incident.reopen_count,
            incident.merged_into,
            json.dumps(assignees) if assignees_as_text else assignees,
            incident.escalation_policy_id,
            incident.escalation_policy_name,
            incident.source_priority,
            incident.source_state_at,
        )

    async def save(self, incident: Incident) -> None:
        await self._conn.execute(
            """
            UPDATE incidents
            SET title = $3, status = $4, severity = $5, incident_type = $6, creator_id = $7,
                html_url = $8, service_id = $9, service_name = $10, created_at = $11,
                acknowledged_at = $12, resolved_at = $13, updated_at = $14, reopen_count = $15,
                merged_into = $16, assignees = $17::jsonb, escalation_policy_id = $18,
                escalation_policy_name = $19, source_priority = $20, source_state_at = $21
            WHERE org_id = $1 AND id = $2
            """,
            *self._update_values(incident),
        )

    async def list(
        self, org_id: UUID, filters: IncidentFilter, *, after: PagePosition | None, limit: int
    ) -> list[Incident]:
        rows = await self._conn.fetch(
            f"""
            SELECT {INCIDENT_COLUMNS} FROM incidents
            WHERE org_id = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR source_kind = $3)
              AND ($4::text IS NULL OR external_id = $4)
              AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
              AND ($8::text IS NULL OR severity = $8)
              AND ($9::text IS NULL OR strpos(lower(title), lower($9)) > 0)
            ORDER BY created_at DESC, id DESC
            LIMIT $7
            """,  # noqa: S608 - fixed fragments only
            org_id,
            filters.status,
            filters.source,
            filters.external_id,
            after.created_at if after else None,
            after.incident_id if after else None,
            limit,
            filters.severity,
            filters.title,
        )
        return [incident_from_row(row) for row in rows]

    async def count_by_status(self, org_id: UUID) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT status, count(*) AS n FROM incidents WHERE org_id = $1 GROUP BY status",
            org_id,
        )
        return {str(row["status"]): int(row["n"]) for row in rows}


def unnest_columns(rows: Iterable[tuple[object, ...]]) -> list[list[object]]:
    """Rows as the column arrays a multi-row ``unnest`` statement takes."""
    return [list(column) for column in zip(*rows, strict=True)]
