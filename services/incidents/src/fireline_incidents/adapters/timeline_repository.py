"""The ``timeline_entries`` table: what happened to each incident, in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from fireline_incidents.adapters.incidents_repository import unnest_columns
from fireline_incidents.domain.timeline import (
    Actor,
    ActorKind,
    EntrySource,
    TimelineEntry,
    TimelinePosition,
)
from fireline_runtime.unit_of_work import PgRepository

_ENTRY_COLUMNS = """
    seq, id, org_id, incident_id, kind, occurred_at, actor_kind, actor_id, actor_name, source,
    source_event_id, summary, body
"""


def _entry(row: asyncpg.Record) -> TimelineEntry:
    return TimelineEntry(
        id=row["id"],
        org_id=row["org_id"],
        incident_id=row["incident_id"],
        kind=row["kind"],
        occurred_at=row["occurred_at"],
        # The values come from the domain's own literals (and a CHECK for the source).
        actor=Actor(
            kind=cast(ActorKind, row["actor_kind"]), id=row["actor_id"], name=row["actor_name"]
        ),
        source=cast(EntrySource, row["source"]),
        source_event_id=row["source_event_id"],
        summary=row["summary"],
        text=row["body"],
        seq=row["seq"],
    )


class PgTimelineRepository(PgRepository):
    async def add(self, entry: TimelineEntry) -> TimelineEntry | None:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO timeline_entries (id, org_id, incident_id, kind, occurred_at, actor_kind,
                actor_id, actor_name, source, source_event_id, summary, body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (incident_id, source, source_event_id) WHERE source_event_id IS NOT NULL
            DO NOTHING
            RETURNING {_ENTRY_COLUMNS}
            """,  # noqa: S608 - fixed fragments only
            entry.id,
            entry.org_id,
            entry.incident_id,
            entry.kind,
            entry.occurred_at,
            entry.actor.kind,
            entry.actor.id,
            entry.actor.name,
            entry.source,
            entry.source_event_id,
            entry.summary,
            entry.text,
        )
        return _entry(row) if row is not None else None

    async def add_many(self, entries: Sequence[TimelineEntry]) -> None:
        """Store entries in one statement, in order (a consumer batch's). An entry for a source
        event already recorded fails the statement: the caller checked, so someone else wrote it
        meanwhile, and the batch must be taken again one event at a time."""
        await self._conn.execute(
            """
            INSERT INTO timeline_entries (id, org_id, incident_id, kind, occurred_at, actor_kind,
                actor_id, actor_name, source, source_event_id, summary, body)
            SELECT id, org_id, incident_id, kind, occurred_at, actor_kind, actor_id, actor_name,
                   source, source_event_id, summary, body
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                        $12::text[])
                 WITH ORDINALITY AS e (id, org_id, incident_id, kind, occurred_at, actor_kind,
                                       actor_id, actor_name, source, source_event_id, summary,
                                       body, n)
            ORDER BY n
            """,
            *unnest_columns(
                (
                    e.id,
                    e.org_id,
                    e.incident_id,
                    e.kind,
                    e.occurred_at,
                    e.actor.kind,
                    e.actor.id,
                    e.actor.name,
                    e.source,
                    e.source_event_id,
                    e.summary,
                    e.text,
                )
                for e in entries
            ),
        )

    async def restamp_started(self, incident_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE timeline_entries SET occurred_at = $2 WHERE incident_id = $1 "
            "AND kind = 'started'",
            incident_id,
            at,
        )

    async def list(
        self, incident_id: UUID, *, after: TimelinePosition | None, limit: int
    ) -> list[TimelineEntry]:
        rows = await self._conn.fetch(
            f"""
            SELECT {_ENTRY_COLUMNS} FROM timeline_entries
            WHERE incident_id = $1
              AND ($2::timestamptz IS NULL OR (occurred_at, seq) > ($2, $3::bigint))
            ORDER BY occurred_at, seq
            LIMIT $4
            """,  # noqa: S608 - fixed fragments only
            incident_id,
            after.occurred_at if after else None,
            after.seq if after else None,
            limit,
        )
        return [_entry(row) for row in rows]
