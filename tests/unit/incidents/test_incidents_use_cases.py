"""The use cases against an in-memory unit of work: idempotent alerts, numbering, events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID, uuid4

import pytest

from fireline_contracts import IncidentStarted, IncidentStatusChanged
from fireline_incidents.domain.commands import (
    ApplyAlert,
    ChangeIncidentStatus,
    OpenIncident,
    RecordUser,
)
from fireline_incidents.domain.errors import IncidentNotFound, InvalidCursor, UnknownCreator
from fireline_incidents.domain.model import (
    DirectoryUser,
    Incident,
    IncidentFilter,
    Status,
)
from fireline_incidents.domain.pagination import PagePosition
from fireline_incidents.service_layer import services

ORG = uuid4()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeIncidents:
    def __init__(self) -> None:
        self.rows: dict[UUID, Incident] = {}
        self.counters: dict[UUID, int] = {}

    async def reserve_number(self, org_id: UUID) -> int:
        self.counters[org_id] = self.counters.get(org_id, 0) + 1
        return self.counters[org_id]

    async def unreserve_number(self, org_id: UUID, number: int) -> None:
        if self.counters.get(org_id) == number:
            self.counters[org_id] = number - 1

    async def get(
        self, org_id: UUID, incident_id: UUID, *, for_update: bool = False
    ) -> Incident | None:
        found = self.rows.get(incident_id)
        return found if found is not None and found.org_id == org_id else None

    async def get_by_source(
        self, org_id: UUID, source: str, external_id: str, *, for_update: bool = False
    ) -> Incident | None:
        for row in self.rows.values():
            key = (row.org_id, row.source.kind, row.source.external_id)
            if key == (org_id, source, external_id):
                return row
        return None

    async def add(self, incident: Incident) -> None:
        self.rows[incident.id] = incident

    async def save_status(self, incident: Incident) -> None:
        self.rows[incident.id] = incident

    async def list(
        self, org_id: UUID, filters: IncidentFilter, *, after: PagePosition | None, limit: int
    ) -> list[Incident]:
        rows = sorted(
            (r for r in self.rows.values() if r.org_id == org_id),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        if after is not None:
            rows = [r for r in rows if (r.created_at, r.id) < (after.created_at, after.incident_id)]
        return rows[:limit]


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[DirectoryUser, datetime]] = {}

    async def record(self, user: DirectoryUser, *, version_at: datetime) -> bool:
        stored = self.rows.get(user.user_id)
        if stored is not None and stored[1] > version_at:
            return False
        self.rows[user.user_id] = (user, version_at)
        return True

    async def find_active(self, org_id: UUID, emails: Sequence[str]) -> list[DirectoryUser]:
        return [
            u
            for u, _ in self.rows.values()
            if u.org_id == org_id and u.active and u.email in emails
        ]

    async def get_active(self, org_id: UUID, user_id: UUID) -> DirectoryUser | None:
        stored = self.rows.get(user_id)
        if stored is None or not stored[0].active or stored[0].org_id != org_id:
            return None
        return stored[0]


class FakeUnitOfWork:
    """Commits by keeping what was written; a failing use case discards its events."""

    def __init__(self) -> None:
        self.incidents = FakeIncidents()
        self.users = FakeUsers()
        self.published: list[IncidentStarted | IncidentStatusChanged] = []
        self._pending: list[IncidentStarted | IncidentStatusChanged] = []

    async def publish(self, event: IncidentStarted | IncidentStatusChanged) -> None:
        self._pending.append(event)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Self]:
        yield self

    async def __aenter__(self) -> Self:
        self._pending = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.published.extend(self._pending)
        self._pending = []


def alert(status: Status, external_id: str = "PT4KHLK", **fields: object) -> ApplyAlert:
    base = ApplyAlert(
        org_id=ORG,
        status=status,
        source="pagerduty",
        external_id=external_id,
        title="Checkout is down",
        severity=None,
        incident_type=None,
        creator_email=None,
        oncall_emails=(),
        html_url="https://acme.pagerduty.com/incidents/PT4KHLK",
        service_id="PSVC1",
        service_name="Checkout",
        occurred_at=T0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def add_user(uow: FakeUnitOfWork, email: str, *, active: bool = True) -> UUID:
    user_id = uuid4()
    command = RecordUser(user_id=user_id, org_id=ORG, email=email, active=active, version_at=T0)
    await services.record_user(uow=uow, command=command)
    return user_id


async def test_a_trigger_starts_one_incident_however_often_it_arrives() -> None:
    uow = FakeUnitOfWork()

    first = await services.apply_alert(uow=uow, command=alert("triggered"))
    again = await services.apply_alert(uow=uow, command=alert("triggered", title="other"))

    assert again.id == first.id
    assert len(uow.incidents.rows) == 1
    assert [type(e) for e in uow.published] == [IncidentStarted]
    started = uow.published[0]
    assert isinstance(started, IncidentStarted)
    assert started.payload.status == "triggered"
    assert started.payload.source is not None
    assert started.payload.source.external_id == "PT4KHLK"
    assert first.severity == "SEV3"
    assert first.incident_type == "Default"


async def test_a_resolve_that_overtakes_its_trigger_starts_the_incident_resolved() -> None:
    uow = FakeUnitOfWork()
    resolved_at = T0 + timedelta(minutes=5)

    await services.apply_alert(uow=uow, command=alert("resolved", occurred_at=resolved_at))
    final = await services.apply_alert(uow=uow, command=alert("triggered"))

    assert final.status == "resolved"
    assert final.resolved_at == resolved_at
    assert len(uow.incidents.rows) == 1
    assert [e.event_type for e in uow.published] == ["IncidentStarted", "IncidentStatusChanged"]


async def test_the_creator_is_resolved_from_the_projection() -> None:
    uow = FakeUnitOfWork()
    await add_user(uow, "gone@example.com", active=False)
    oncall = await add_user(uow, "OnCall@Example.com")

    incident = await services.apply_alert(
        uow=uow,
        command=alert(
            "triggered",
            creator_email="gone@example.com",
            oncall_emails=("nobody@example.com", "oncall@example.com"),
        ),
    )

    assert incident.creator_id == oncall


async def test_numbers_are_sequential_per_org() -> None:
    uow = FakeUnitOfWork()

    a = await services.apply_alert(uow=uow, command=alert("triggered", external_id="A"))
    b = await services.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="By hand"))
    other = await services.open_incident(uow=uow, command=OpenIncident(org_id=uuid4(), title="x"))

    assert (a.number, b.number, other.number) == (1, 2, 1)


async def test_a_manual_incident_may_name_only_an_active_user_of_the_org() -> None:
    uow = FakeUnitOfWork()
    alice = await add_user(uow, "alice@example.com")
    gone = await add_user(uow, "gone@example.com", active=False)

    made = await services.open_incident(
        uow=uow, command=OpenIncident(org_id=ORG, title="DB slow", creator_id=alice)
    )
    for stranger in (gone, uuid4()):
        with pytest.raises(UnknownCreator):
            await services.open_incident(
                uow=uow, command=OpenIncident(org_id=ORG, title="x", creator_id=stranger)
            )

    assert made.creator_id == alice
    assert made.source.kind == "manual"
    assert len(uow.incidents.rows) == 1
    started = uow.published[0]
    assert isinstance(started, IncidentStarted)
    assert started.payload.source is None, "the contract has no source for manual incidents"


async def test_an_older_user_state_never_overwrites_a_newer_one() -> None:
    uow = FakeUnitOfWork()
    user_id = uuid4()
    newer = RecordUser(
        user_id=user_id,
        org_id=ORG,
        email="a@example.com",
        active=False,
        version_at=T0 + timedelta(seconds=1),
    )
    older = replace(newer, active=True, version_at=T0)

    assert await services.record_user(uow=uow, command=newer)
    assert not await services.record_user(uow=uow, command=older)

    assert await uow.users.get_active(ORG, user_id) is None


async def test_a_status_change_emits_an_event_and_a_repeat_does_not() -> None:
    uow = FakeUnitOfWork()
    made = await services.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))
    command = ChangeIncidentStatus(org_id=ORG, incident_id=made.id, status="resolved")

    await services.change_incident_status(uow=uow, command=command)
    repeat = await services.change_incident_status(uow=uow, command=command)

    assert repeat.status == "resolved"
    assert [e.event_type for e in uow.published] == ["IncidentStarted", "IncidentStatusChanged"]
    changed = uow.published[1]
    assert isinstance(changed, IncidentStatusChanged)
    assert (changed.payload.previous_status, changed.payload.status) == ("triggered", "resolved")


async def test_another_orgs_incident_is_not_found() -> None:
    uow = FakeUnitOfWork()
    made = await services.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))

    with pytest.raises(IncidentNotFound):
        await services.get_incident(uow=uow, org_id=uuid4(), incident_id=made.id)
    with pytest.raises(IncidentNotFound):
        await services.change_incident_status(
            uow=uow,
            command=ChangeIncidentStatus(org_id=uuid4(), incident_id=made.id, status="resolved"),
        )


async def test_pages_chain_through_every_incident_once() -> None:
    uow = FakeUnitOfWork()
    for n in range(5):
        await services.apply_alert(
            uow=uow,
            command=alert("triggered", external_id=f"P{n}", occurred_at=T0 + timedelta(n)),
        )

    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await services.list_incidents(
            uow=uow, org_id=ORG, filters=IncidentFilter(), limit=2, cursor=cursor
        )
        seen += [i.number for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [5, 4, 3, 2, 1]
    with pytest.raises(InvalidCursor):
        await services.list_incidents(
            uow=uow, org_id=ORG, filters=IncidentFilter(), limit=2, cursor="garbage"
        )
