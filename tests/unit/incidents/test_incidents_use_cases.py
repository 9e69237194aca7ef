"""The use cases against an in-memory unit of work: idempotent alerts, numbering, events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from fireline_contracts import (
    INCIDENTS,
    IncidentAssignmentChanged,
    IncidentDetailsChanged,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
)
from fireline_incidents.domain.commands import (
    AddNote,
    ApplyAlert,
    ChangeIncidentStatus,
    OpenIncident,
    RecordActivity,
    RecordSyncAttempt,
    RecordUser,
)
from fireline_incidents.domain.errors import (
    IncidentNotFound,
    InvalidCursor,
    InvalidNote,
    UnknownCreator,
)
from fireline_incidents.domain.model import (
    Assignee,
    Assignment,
    DirectoryUser,
    Incident,
    IncidentFilter,
    Status,
)
from fireline_incidents.domain.pagination import PagePosition
from fireline_incidents.domain.timeline import (
    MAX_NOTE_LENGTH,
    Actor,
    TimelineEntry,
    TimelinePosition,
)
from fireline_incidents.service_layer import api_commands, queries, source_events, users
from fireline_incidents.service_layer.unit_of_work import IncidentEventType
from support import fake_uow

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

    async def save(self, incident: Incident) -> None:
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

    async def count_by_status(self, org_id: UUID) -> dict[str, int]:
        counted: dict[str, int] = {}
        for row in self.rows.values():
            if row.org_id == org_id:
                counted[row.status] = counted.get(row.status, 0) + 1
        return counted


class FakeTimeline:
    def __init__(self) -> None:
        self.rows: list[TimelineEntry] = []

    async def add(self, entry: TimelineEntry) -> TimelineEntry | None:
        key = (entry.incident_id, entry.source, entry.source_event_id)
        if entry.source_event_id is not None and any(
            (e.incident_id, e.source, e.source_event_id) == key for e in self.rows
        ):
            return None
        stored = replace(entry, seq=len(self.rows) + 1)
        self.rows.append(stored)
        return stored

    async def restamp_started(self, incident_id: UUID, at: datetime) -> None:
        self.rows = [
            replace(e, occurred_at=at)
            if e.incident_id == incident_id and e.kind == "started"
            else e
            for e in self.rows
        ]

    async def list(
        self, incident_id: UUID, *, after: TimelinePosition | None, limit: int
    ) -> list[TimelineEntry]:
        rows = sorted(
            (e for e in self.rows if e.incident_id == incident_id),
            key=lambda e: (e.occurred_at, e.seq),
        )
        if after is not None:
            rows = [e for e in rows if (e.occurred_at, e.seq) > (after.occurred_at, after.seq)]
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


class Store:
    def __init__(self) -> None:
        self.incidents = FakeIncidents()
        self.users = FakeUsers()
        self.timeline = FakeTimeline()


class FakeUnitOfWork(fake_uow.FakeUnitOfWork[Store, IncidentEventType]):
    def __init__(self) -> None:
        super().__init__(fake_uow.FakeDatabase(Store(), topics=(INCIDENTS,)))

    @property
    def incidents(self) -> FakeIncidents:
        return self.bound.incidents

    @property
    def users(self) -> FakeUsers:
        return self.bound.users

    @property
    def timeline(self) -> FakeTimeline:
        return self.bound.timeline


def _entry_event(event: IncidentEventType) -> bool:
    return event.event_type == "IncidentTimelineEntryAdded"


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
    await users.record_user(uow=uow, command=command)
    return user_id


async def test_a_trigger_starts_one_incident_however_often_it_arrives() -> None:
    uow = FakeUnitOfWork()

    first = await source_events.apply_alert(uow=uow, command=alert("triggered"))
    again = await source_events.apply_alert(uow=uow, command=alert("triggered", title="other"))

    assert again.id == first.id
    assert len(uow.store.incidents.rows) == 1
    assert [type(e) for e in uow.published if not _entry_event(e)] == [IncidentStarted]
    started = uow.published[0]
    assert isinstance(started, IncidentStarted)
    assert started.payload.status == "triggered"
    assert started.payload.source is not None
    assert started.payload.source.external_id == "PT4KHLK"
    assert first.severity == "SEV3"
    assert first.incident_type == "Default"


async def test_an_incident_starts_assigned_and_only_a_later_change_is_announced() -> None:
    uow = FakeUnitOfWork()
    grace = Assignment((Assignee(id="PUB3D4E", name="Grace Hopper"),), "PEP1", "Checkout")
    linus = Assignment((Assignee(id="PUC7K9M", name="Linus Pauling"),), "PEP1", "Checkout")

    await source_events.apply_alert(
        uow=uow, command=alert("triggered", event_id="T1", assignment=grace)
    )
    await source_events.apply_alert(
        uow=uow,
        command=alert(
            "triggered",
            event_id="R1",
            event_type="incident.reassigned",
            occurred_at=T0 + timedelta(minutes=1),
            assignment=linus,
        ),
    )

    [start, change] = [e for e in uow.published if not _entry_event(e)]
    assert isinstance(start, IncidentStarted), "the start's assignment is no change of its own"
    assert [(a.id, a.name) for a in start.payload.assignees] == [("PUB3D4E", "Grace Hopper")]
    assert start.payload.escalation_policy_id == "PEP1"
    assert start.payload.escalation_policy_name == "Checkout"
    assert isinstance(change, IncidentAssignmentChanged)
    assert [a.id for a in change.payload.assignees] == ["PUC7K9M"]


async def test_a_start_carries_its_first_entries_and_only_later_entries_are_events() -> None:
    uow = FakeUnitOfWork()

    made = await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="T1"))
    [start] = uow.published
    acknowledged = alert("acknowledged", event_id="A1", occurred_at=T0 + timedelta(minutes=1))
    await source_events.apply_alert(uow=uow, command=acknowledged)

    assert isinstance(start, IncidentStarted), "a start is one event, its entries inside it"
    stored = await timeline_of(uow, made.id)
    carried = start.payload.timeline
    assert [(e.entry_id, e.kind, e.source_event_id) for e in carried] == [
        (entry.id, entry.kind, entry.source_event_id) for entry in stored[:2]
    ]
    assert (carried[0].kind, carried[1].source_event_id) == ("started", "T1")
    later = [e for e in uow.published[1:] if isinstance(e, IncidentTimelineEntryAdded)]
    assert [e.payload.entry_id for e in later] == [stored[2].id]
    assert later[0].payload.source_event_id == "A1"


async def test_a_start_by_hand_or_from_a_note_carries_the_entries_it_wrote() -> None:
    by_hand, from_note = FakeUnitOfWork(), FakeUnitOfWork()

    await api_commands.open_incident(uow=by_hand, command=OpenIncident(org_id=ORG, title="x"))
    await source_events.record_activity(uow=from_note, command=activity("N1", 5))

    [manual] = by_hand.published
    assert isinstance(manual, IncidentStarted)
    assert [(e.kind, e.source) for e in manual.payload.timeline] == [("started", "api")]
    [noted] = from_note.published
    assert isinstance(noted, IncidentStarted)
    assert [(e.kind, e.source_event_id, e.text) for e in noted.payload.timeline] == [
        ("started", None, None),
        ("note", "N1", "Rolled back deploy 4812."),
    ]


async def test_the_echo_that_starts_an_incident_announces_the_start_alone() -> None:
    uow = FakeUnitOfWork()

    await source_events.apply_alert(
        uow=uow, command=alert("resolved", event_id="R1", fireline_change=uuid4())
    )
    await source_events.record_activity(
        uow=uow, command=activity("N1", 1, external_id="POTHER", fireline_change=uuid4())
    )

    starts = [e for e in uow.published if isinstance(e, IncidentStarted)]
    assert [[entry.kind for entry in e.payload.timeline] for e in starts] == [
        ["started"],
        ["started"],
    ]
    assert not any(isinstance(e, IncidentTimelineEntryAdded) for e in uow.published)


async def test_an_incident_started_from_a_note_announces_its_assignment_when_it_is_known() -> None:
    uow = FakeUnitOfWork()
    grace = Assignment((Assignee(id="PUB3D4E", name="Grace Hopper"),), "PEP1")

    await source_events.record_activity(uow=uow, command=activity("N1", 5))
    await source_events.apply_alert(
        uow=uow, command=alert("triggered", event_id="T1", assignment=grace)
    )

    [start, *changes] = [e for e in uow.published if not _entry_event(e)]
    assert isinstance(start, IncidentStarted)
    assert start.payload.assignees == ()
    assignments = [e for e in changes if isinstance(e, IncidentAssignmentChanged)]
    assert [[a.id for a in e.payload.assignees] for e in assignments] == [["PUB3D4E"]]


async def test_a_resolve_that_overtakes_its_trigger_starts_the_incident_resolved() -> None:
    uow = FakeUnitOfWork()
    resolved_at = T0 + timedelta(minutes=5)

    await source_events.apply_alert(uow=uow, command=alert("resolved", occurred_at=resolved_at))
    final = await source_events.apply_alert(uow=uow, command=alert("triggered"))

    assert final.status == "resolved"
    assert final.resolved_at == resolved_at
    assert len(uow.store.incidents.rows) == 1
    assert [e.event_type for e in uow.published if not _entry_event(e)] == [
        "IncidentStarted",
        "IncidentStatusChanged",
    ]


async def test_the_creator_is_resolved_from_the_projection() -> None:
    uow = FakeUnitOfWork()
    await add_user(uow, "gone@example.com", active=False)
    oncall = await add_user(uow, "OnCall@Example.com")

    incident = await source_events.apply_alert(
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

    a = await source_events.apply_alert(uow=uow, command=alert("triggered", external_id="A"))
    b = await api_commands.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="By hand"))
    other = await api_commands.open_incident(
        uow=uow, command=OpenIncident(org_id=uuid4(), title="x")
    )

    assert (a.number, b.number, other.number) == (1, 2, 1)


async def test_a_manual_incident_may_name_only_an_active_user_of_the_org() -> None:
    uow = FakeUnitOfWork()
    alice = await add_user(uow, "alice@example.com")
    gone = await add_user(uow, "gone@example.com", active=False)

    made = await api_commands.open_incident(
        uow=uow, command=OpenIncident(org_id=ORG, title="DB slow", creator_id=alice)
    )
    for stranger in (gone, uuid4()):
        with pytest.raises(UnknownCreator):
            await api_commands.open_incident(
                uow=uow, command=OpenIncident(org_id=ORG, title="x", creator_id=stranger)
            )

    assert made.creator_id == alice
    assert made.source.kind == "manual"
    assert len(uow.store.incidents.rows) == 1
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

    assert await users.record_user(uow=uow, command=newer)
    assert not await users.record_user(uow=uow, command=older)

    assert await uow.store.users.get_active(ORG, user_id) is None


async def test_a_status_change_emits_an_event_and_a_repeat_does_not() -> None:
    uow = FakeUnitOfWork()
    made = await api_commands.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))
    command = ChangeIncidentStatus(org_id=ORG, incident_id=made.id, status="resolved")

    await api_commands.change_incident_status(uow=uow, command=command)
    repeat = await api_commands.change_incident_status(uow=uow, command=command)

    assert repeat.status == "resolved"
    state_events = [e for e in uow.published if not _entry_event(e)]
    assert [e.event_type for e in state_events] == ["IncidentStarted", "IncidentStatusChanged"]
    changed = state_events[1]
    assert isinstance(changed, IncidentStatusChanged)
    assert (changed.payload.previous_status, changed.payload.status) == ("triggered", "resolved")


async def test_another_orgs_incident_is_not_found() -> None:
    uow = FakeUnitOfWork()
    made = await api_commands.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))

    with pytest.raises(IncidentNotFound):
        await queries.get_incident(uow=uow, org_id=uuid4(), incident_id=made.id)
    with pytest.raises(IncidentNotFound):
        await api_commands.change_incident_status(
            uow=uow,
            command=ChangeIncidentStatus(org_id=uuid4(), incident_id=made.id, status="resolved"),
        )


async def test_pages_chain_through_every_incident_once() -> None:
    uow = FakeUnitOfWork()
    for n in range(5):
        await source_events.apply_alert(
            uow=uow,
            command=alert("triggered", external_id=f"P{n}", occurred_at=T0 + timedelta(n)),
        )

    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await queries.list_incidents(
            uow=uow, org_id=ORG, filters=IncidentFilter(), limit=2, cursor=cursor
        )
        seen += [i.number for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [5, 4, 3, 2, 1]
    with pytest.raises(InvalidCursor):
        await queries.list_incidents(
            uow=uow, org_id=ORG, filters=IncidentFilter(), limit=2, cursor="garbage"
        )


KEY = Actor(kind="api_key", id="fk_live_key1")
GRACE = Actor(kind="pagerduty_user", id="PUB3D4E", name="Grace Hopper")


def activity(event_id: str, minute: int, **fields: object) -> RecordActivity:
    base = RecordActivity(
        org_id=ORG,
        source="pagerduty",
        external_id="PT4KHLK",
        title="Checkout is down",
        html_url=None,
        event_id=event_id,
        event_type="incident.annotated",
        kind="note",
        summary="Note by Grace Hopper",
        text="Rolled back deploy 4812.",
        actor=GRACE,
        occurred_at=T0 + timedelta(minutes=minute),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def timeline_of(uow: FakeUnitOfWork, incident_id: UUID) -> list[TimelineEntry]:
    page = await queries.list_timeline(
        uow=uow, org_id=ORG, incident_id=incident_id, limit=100, cursor=None
    )
    return page.items


async def test_a_replayed_pagerduty_event_adds_no_second_entry_and_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    ack = alert("acknowledged", event_type="incident.acknowledged", event_id="E2", actor=GRACE)
    await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="E1"))
    incident = await source_events.apply_alert(uow=uow, command=ack)
    published = len(uow.published)
    entries = len(uow.store.timeline.rows)

    for _ in range(3):
        await source_events.apply_alert(uow=uow, command=ack)
        await source_events.record_activity(uow=uow, command=activity("E3", 1))
    await source_events.record_activity(uow=uow, command=activity("E3", 1))

    assert len(uow.store.timeline.rows) == entries + 1, "only the note is new"
    assert len(uow.published) == published + 1
    assert (await uow.store.incidents.get(ORG, incident.id)) == incident


async def test_a_note_that_overtakes_every_full_event_starts_the_incident_and_waits() -> None:
    uow = FakeUnitOfWork()

    early = await source_events.record_activity(uow=uow, command=activity("N1", 5))
    later = await source_events.apply_alert(
        uow=uow,
        command=alert("triggered", event_id="T1", severity="SEV2", service_name="Checkout"),
    )

    assert later.id == early.id
    assert later.source.service_name == "Checkout", "the trigger fills in the details"
    [details] = [e for e in uow.published if e.event_type == "IncidentDetailsChanged"]
    assert isinstance(details, IncidentDetailsChanged)
    assert details.payload.title == "Checkout is down"
    assert details.payload.source is not None
    assert details.payload.source.service_name == "Checkout"
    assert later.severity == "SEV2"
    assert later.created_at == T0, "created at the earliest PagerDuty time"
    kinds = [(e.kind, e.occurred_at) for e in await timeline_of(uow, later.id)]
    assert kinds == [
        ("started", T0),
        ("status_changed", T0),
        ("note", T0 + timedelta(minutes=5)),
    ]


async def test_a_note_is_added_by_its_key_and_an_oversized_one_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    made = await api_commands.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))

    note = await api_commands.add_note(
        uow=uow, command=AddNote(org_id=ORG, incident_id=made.id, text=" Paged DBA ", actor=KEY)
    )
    before = (len(uow.store.timeline.rows), len(uow.published))
    with pytest.raises(InvalidNote):
        await api_commands.add_note(
            uow=uow,
            command=AddNote(
                org_id=ORG, incident_id=made.id, text="x" * (MAX_NOTE_LENGTH + 1), actor=KEY
            ),
        )
    with pytest.raises(IncidentNotFound):
        await api_commands.add_note(
            uow=uow, command=AddNote(org_id=uuid4(), incident_id=made.id, text="hi", actor=KEY)
        )

    assert (note.text, note.source, note.actor) == ("Paged DBA", "api", KEY)
    assert (len(uow.store.timeline.rows), len(uow.published)) == before


async def test_timeline_pages_chain_and_refuse_another_incidents_cursor() -> None:
    uow = FakeUnitOfWork()
    made = await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="T1"))
    other = await source_events.apply_alert(
        uow=uow, command=alert("triggered", external_id="OTHER", event_id="T9")
    )
    for minute in range(1, 4):
        await source_events.record_activity(uow=uow, command=activity(f"N{minute}", minute))

    first = await queries.list_timeline(
        uow=uow, org_id=ORG, incident_id=made.id, limit=3, cursor=None
    )
    assert first.next_cursor is not None
    second = await queries.list_timeline(
        uow=uow, org_id=ORG, incident_id=made.id, limit=3, cursor=first.next_cursor
    )

    assert [e.kind for e in first.items + second.items] == [
        "started",
        "status_changed",
        "note",
        "note",
        "note",
    ]
    assert second.next_cursor is None
    with pytest.raises(InvalidCursor):
        await queries.list_timeline(
            uow=uow, org_id=ORG, incident_id=other.id, limit=3, cursor=first.next_cursor
        )


async def test_a_patch_lands_on_the_timeline_with_its_key() -> None:
    uow = FakeUnitOfWork()
    made = await api_commands.open_incident(uow=uow, command=OpenIncident(org_id=ORG, title="x"))

    await api_commands.change_incident_status(
        uow=uow,
        command=ChangeIncidentStatus(
            org_id=ORG, incident_id=made.id, status="acknowledged", severity="SEV1", actor=KEY
        ),
    )

    entries = await timeline_of(uow, made.id)
    assert [(e.kind, e.actor, e.source) for e in entries[1:]] == [
        ("status_changed", KEY, "api"),
        ("severity_changed", KEY, "api"),
    ]
    assert entries[2].summary == "Severity set to SEV1 by API key fk_live_key1"
    assert [e.event_type for e in uow.published if not _entry_event(e)][1:] == [
        "IncidentStatusChanged",
        "IncidentSeverityChanged",
    ]


async def test_a_change_in_fireline_says_so_and_its_echo_adds_nothing() -> None:
    uow = FakeUnitOfWork()
    made = await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="E1"))
    await api_commands.change_incident_status(
        uow=uow,
        command=ChangeIncidentStatus(org_id=ORG, incident_id=made.id, status="resolved", actor=KEY),
    )
    before = await timeline_of(uow, made.id)
    published = len(uow.published)

    echo = alert(
        "resolved",
        event_type="incident.resolved",
        event_id="E2",
        occurred_at=T0 + timedelta(minutes=1),
        fireline_change=uuid4(),
    )
    after = await source_events.apply_alert(uow=uow, command=echo)

    changed = [e for e in uow.published if isinstance(e, IncidentStatusChanged)]
    assert [e.payload.changed_in for e in changed] == ["api"]
    assert after.status == "resolved"
    assert await timeline_of(uow, made.id) == before
    assert len(uow.published) == published


async def test_each_pagerduty_sync_attempt_is_one_timeline_entry() -> None:
    uow = FakeUnitOfWork()
    made = await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="E1"))
    refused = RecordSyncAttempt(
        org_id=ORG,
        incident_id=made.id,
        event_id=str(uuid4()),
        action="resolve",
        outcome="refused",
        attempt=1,
        status_code=403,
        detail="Access Denied",
        next_attempt_at=None,
        attempted_at=T0 + timedelta(minutes=2),
    )

    assert await source_events.record_sync_attempt(uow=uow, command=refused)
    assert not await source_events.record_sync_attempt(uow=uow, command=refused)

    last = (await timeline_of(uow, made.id))[-1]
    assert (last.kind, last.source) == ("pagerduty_sync", "pagerduty_sync")
    assert last.summary == "PagerDuty refused the resolution: 403 Access Denied"


async def test_the_echo_of_a_note_fireline_posted_adds_no_entry() -> None:
    uow = FakeUnitOfWork()
    made = await source_events.apply_alert(uow=uow, command=alert("triggered", event_id="E1"))
    before = await timeline_of(uow, made.id)

    await source_events.record_activity(uow=uow, command=activity("N1", 1, fireline_change=uuid4()))
    assert await timeline_of(uow, made.id) == before
    await source_events.record_activity(uow=uow, command=activity("N2", 2))
    assert [e.source_event_id for e in await timeline_of(uow, made.id)][-1] == "N2"
