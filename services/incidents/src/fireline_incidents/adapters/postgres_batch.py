"""The unit of work a consumer batch runs on: everything read up front, written at the end.

A burst of PagerDuty alerts reached this service as a few hundred events a second, and the use
cases cost about fourteen statements each (lookups, the numbering lock, the incident, two timeline
entries, their outbox rows, savepoints), every one a round trip and a plan. Here a partition's
batch costs a handful in all, however many events it holds (BENCHMARKS.md, alert storms):

* :meth:`PgBatchUnitOfWork.prefetch` reads, in one statement each, the incidents the batch names
  (row-locked, as the one-by-one path locks them), the timeline entries its events may already
  have, and the users its emails may match, and reserves one range of incident numbers per org;
* the use cases then run unchanged against those in memory (an identity map: a later event of the
  batch sees what an earlier one did), and their writes are queued;
* :meth:`PgBatchUnitOfWork.flush` writes each table's rows in one statement.

Everything happens inside the consumer's one transaction. Nothing here decides anything: a write
the database refuses (a unique key another consumer took meanwhile) fails the whole batch, which
the runtime then applies one event at a time on :class:`~.postgres.PgUnitOfWork`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Self
from uuid import UUID

from fireline_contracts import INCIDENTS
from fireline_incidents.adapters.incidents_repository import (
    INCIDENT_COLUMNS,
    PgIncidentRepository,
    incident_from_row,
)
from fireline_incidents.adapters.timeline_repository import PgTimelineRepository
from fireline_incidents.adapters.users_repository import PgUserRepository
from fireline_incidents.domain.model import DirectoryUser, Incident
from fireline_incidents.domain.timeline import TimelineEntry
from fireline_incidents.service_layer.unit_of_work import IncidentEventType, SourceKey
from fireline_runtime.db import Connection
from fireline_runtime.outbox import OutboxWriter

_EntryKey = tuple[UUID, str, str]
"""(incident id, source, source event id): what makes a source event's entry unique."""


class BatchIncidents:
    """Incidents by source, loaded once for the batch; starts and changes written at flush."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._by_source: dict[SourceKey, Incident | None] = {}
        self._by_id: dict[UUID, Incident] = {}
        self._new: dict[UUID, Incident] = {}
        self._changed: dict[UUID, Incident] = {}
        self._numbers: dict[UUID, list[int]] = {}
        """Numbers reserved for the batch's starts, per org, next one last."""

    async def load(self, keys: Iterable[SourceKey]) -> list[Incident]:
        wanted = [key for key in dict.fromkeys(keys) if key not in self._by_source]
        if not wanted:
            return []
        orgs, sources, external_ids = (list(column) for column in zip(*wanted, strict=True))
        rows = await self._conn.fetch(
            f"""
            SELECT {INCIDENT_COLUMNS} FROM incidents
            WHERE (org_id, source_kind, external_id) IN (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]))
            ORDER BY id
            FOR UPDATE
            """,  # noqa: S608 - fixed fragments only
            orgs,
            sources,
            external_ids,
        )
        found = [incident_from_row(row) for row in rows]
        for key in wanted:
            self._by_source[key] = None
        for incident in found:
            self._remember(incident)
        return found

    async def reserve_numbers(self) -> None:
        """One range of numbers per org, for the sources the batch may start (those not found).

        Each org's counter row stays locked until the batch commits, as one start locks it.
        """
        starts: dict[UUID, int] = defaultdict(int)
        for (org_id, _, _), incident in self._by_source.items():
            if incident is None:
                starts[org_id] += 1
        for org_id, count in sorted(starts.items()):
            last = await self._conn.fetchval(
                """
                INSERT INTO org_counters (org_id, last_number) VALUES ($1, $2)
                ON CONFLICT (org_id) DO UPDATE
                SET last_number = org_counters.last_number + excluded.last_number
                RETURNING last_number
                """,
                org_id,
                count,
            )
            self._numbers[org_id] = list(range(int(last), int(last) - count, -1))

    def _remember(self, incident: Incident) -> None:
        source = incident.source
        if source.external_id is not None:
            self._by_source[(incident.org_id, source.kind, source.external_id)] = incident
        self._by_id[incident.id] = incident

    async def reserve_number(self, org_id: UUID) -> int:
        reserved = self._numbers.get(org_id)
        if reserved:
            return reserved.pop()
        # A start prefetch did not foresee: take the next number the one-by-one way.
        number = await PgIncidentRepository(self._conn).reserve_number(org_id)
        return number

    async def unreserve_number(self, org_id: UUID, number: int) -> None:
        self._numbers.setdefault(org_id, []).append(number)

    async def get_by_source(
        self, org_id: UUID, source: str, external_id: str, *, for_update: bool = False
    ) -> Incident | None:
        key = (org_id, source, external_id)
        if key not in self._by_source:
            await self.load([key])
        return self._by_source[key]

    async def add(self, incident: Incident) -> None:
        self._new[incident.id] = incident
        self._remember(incident)

    async def save(self, incident: Incident) -> None:
        if incident.id in self._new:
            self._new[incident.id] = incident
        else:
            self._changed[incident.id] = incident
        self._remember(incident)

    async def flush(self) -> None:
        await self._give_back_unused_numbers()
        if self._new:
            await PgIncidentRepository(self._conn).add_many(list(self._new.values()))
        if self._changed:
            await PgIncidentRepository(self._conn).save_many(list(self._changed.values()))

    async def _give_back_unused_numbers(self) -> None:
        # The unused numbers are the top of each org's range (they are handed out from the
        # bottom) and the counter row is still locked by this transaction: no gap is left.
        for org_id, unused in self._numbers.items():
            if unused:
                await self._conn.execute(
                    "UPDATE org_counters SET last_number = last_number - $2 WHERE org_id = $1",
                    org_id,
                    len(unused),
                )


class BatchTimeline:
    """Timeline entries of the batch, written at flush; source events already recorded are
    known from one read, so a redelivered PagerDuty event is still recognised."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._recorded: set[_EntryKey] = set()
        self._new: list[TimelineEntry] = []

    async def load(self, keys: Iterable[_EntryKey]) -> None:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return
        incident_ids, sources, event_ids = (list(column) for column in zip(*wanted, strict=True))
        rows = await self._conn.fetch(
            """
            SELECT incident_id, source, source_event_id FROM timeline_entries
            WHERE source_event_id IS NOT NULL
              AND (incident_id, source, source_event_id) IN (
                  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]))
            """,
            incident_ids,
            sources,
            event_ids,
        )
        self._recorded.update(
            (row["incident_id"], row["source"], row["source_event_id"]) for row in rows
        )

    async def add(self, entry: TimelineEntry) -> TimelineEntry | None:
        if entry.source_event_id is not None:
            key = (entry.incident_id, entry.source, entry.source_event_id)
            if key in self._recorded:
                return None
            self._recorded.add(key)
        self._new.append(entry)
        return entry

    async def restamp_started(self, incident_id: UUID, at: datetime) -> None:
        for i, entry in enumerate(self._new):
            if entry.incident_id == incident_id and entry.kind == "started":
                self._new[i] = dataclasses.replace(entry, occurred_at=at)
                return
        await PgTimelineRepository(self._conn).restamp_started(incident_id, at)

    async def flush(self) -> None:
        if self._new:
            await PgTimelineRepository(self._conn).add_many(self._new)


class BatchUsers:
    """The active users the batch's emails may match, read once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._loaded: set[tuple[UUID, str]] = set()
        self._users: list[tuple[datetime, DirectoryUser]] = []
        """With the time of their version: newest first, then by id, as ``find_active`` orders
        them."""

    async def load(self, emails: Iterable[tuple[UUID, str]]) -> None:
        wanted = [key for key in dict.fromkeys(emails) if key not in self._loaded]
        if not wanted:
            return
        self._loaded.update(wanted)
        orgs, addresses = (list(column) for column in zip(*wanted, strict=True))
        found = await PgUserRepository(self._conn).find_many(orgs, addresses)
        by_id = sorted([*self._users, *found], key=lambda versioned: versioned[1].user_id)
        # Stable: users of the same version time stay in id order.
        self._users = sorted(by_id, key=lambda versioned: versioned[0], reverse=True)

    async def find_active(self, org_id: UUID, emails: Sequence[str]) -> list[DirectoryUser]:
        await self.load((org_id, email) for email in emails)
        wanted = set(emails)
        return [u for _, u in self._users if u.org_id == org_id and u.email in wanted]


class PgBatchUnitOfWork:
    """The incidents service's unit of work for one consumer batch, inside its transaction.

    Entering and leaving it begin and commit nothing: the batch's transaction is the consumer's,
    and a failure anywhere fails all of it (no savepoint per use case, two round trips saved).
    """

    def __init__(self, outbox: OutboxWriter, conn: Connection) -> None:
        self._outbox = outbox
        self._conn = conn
        self.incidents = BatchIncidents(conn)
        self.timeline = BatchTimeline(conn)
        self.users = BatchUsers(conn)

    async def prefetch(
        self,
        *,
        sources: Sequence[SourceKey],
        source_events: Sequence[tuple[SourceKey, str, str]],
        emails: Sequence[tuple[UUID, str]],
    ) -> None:
        """Read what the batch's use cases will ask for, and reserve its incident numbers."""
        found = await self.incidents.load(sources)
        by_source = {
            (i.org_id, i.source.kind, i.source.external_id): i.id
            for i in found
            if i.source.external_id is not None
        }
        await self.timeline.load(
            (by_source[key], entry_source, event_id)
            for key, entry_source, event_id in source_events
            if key in by_source
        )
        await self.users.load(emails)
        await self.incidents.reserve_numbers()

    async def flush(self) -> None:
        """Write what the batch's use cases did; the outbox rows follow with the batch."""
        await self.incidents.flush()
        await self.timeline.flush()

    async def publish(self, event: IncidentEventType) -> None:
        await self._outbox.add(self._conn, INCIDENTS, event)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
