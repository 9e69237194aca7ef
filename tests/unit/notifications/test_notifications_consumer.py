"""What the incidents consumer makes of each contract event: type, data, summary, snapshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fireline_contracts import (
    IncidentAssignee,
    IncidentAssignmentChanged,
    IncidentAssignmentChangedPayload,
    IncidentSource,
    IncidentStarted,
    IncidentStartedPayload,
    IncidentStatusChanged,
    IncidentStatusChangedPayload,
    IncidentTimelineEntryAdded,
    IncidentTimelineEntryPayload,
    TimelineActor,
)
from fireline_notifications.domain.message import IncidentSnapshot
from fireline_notifications.entrypoints.consumers import notice_of, notices_of

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORG = uuid.uuid4()
INCIDENT = uuid.uuid4()


def started(**fields: Any) -> IncidentStarted:
    payload: dict[str, Any] = {
        "incident_id": INCIDENT,
        "number": 12,
        "title": "Checkout down",
        "status": "triggered",
        "severity": "SEV1",
        "incident_type": "Default",
        "created_at": AT,
    }
    return IncidentStarted(org_id=ORG, payload=IncidentStartedPayload(**(payload | fields)))


def test_a_started_incident_says_everything_slack_shows() -> None:
    event = started(
        source=IncidentSource(
            kind="pagerduty", external_id="P1", html_url="https://acme.pagerduty.com/i/P1"
        )
    )

    notice = notice_of(event)

    assert notice.event_type == "incident.started"
    assert notice.event_id == event.event_id  # what makes the webhook-id stable across replays
    assert notice.data["title"] == "Checkout down"
    assert notice.data["source"]["external_id"] == "P1"
    assert notice.summary == "Incident #12 started: Checkout down"
    assert notice.snapshot == IncidentSnapshot(
        INCIDENT,
        ORG,
        number=12,
        title="Checkout down",
        severity="SEV1",
        status="triggered",
        pagerduty_url="https://acme.pagerduty.com/i/P1",
    )


def entry(kind: str, summary: str, **fields: Any) -> IncidentTimelineEntryPayload:
    return IncidentTimelineEntryPayload(
        incident_id=INCIDENT,
        entry_id=uuid.uuid4(),
        kind=kind,
        occurred_at=AT,
        actor=TimelineActor(kind="system"),
        source="pagerduty",
        summary=summary,
        **fields,
    )


def test_a_start_is_also_a_timeline_notice_for_each_entry_it_carries() -> None:
    # Subscribers to incident.timeline_entry_added got a start's entries as events of their own
    # before IncidentStarted carried them: they still get one message each, with the same data.
    first = entry("started", "Incident started by PagerDuty incident.triggered")
    trigger = entry("triggered", "Triggered in PagerDuty", source_event_id="T1")
    event = started(timeline=(first, trigger))
    alone = IncidentTimelineEntryAdded(org_id=ORG, payload=trigger)

    start, *entries = notices_of(event)

    assert start == notice_of(event)
    assert start.event_type == "incident.started"
    assert "timeline" not in start.data, "each entry is its own message, not repeated here"
    assert [(n.event_type, n.event_id, n.summary) for n in entries] == [
        ("incident.timeline_entry_added", first.entry_id, first.summary),
        ("incident.timeline_entry_added", trigger.entry_id, trigger.summary),
    ]
    assert entries[1].data == notice_of(alone).data
    assert {n.incident_id for n in entries} == {INCIDENT}
    assert notices_of(event) == [start, *entries], "the same ids however often it arrives"


def test_a_start_names_the_assignees_it_starts_with() -> None:
    # A new incident's first assignment has no incident.assignment_changed of its own, so a
    # channel that hears of the start hears who has it from the start's notice.
    event = started(
        number=13,
        assignees=(IncidentAssignee(id="PU1", name="Ada"), IncidentAssignee(id="PU2")),
        escalation_policy_id="PEP1",
    )

    notice = notice_of(event)

    assert notice.summary == "Incident #13 started: Checkout down (assigned to Ada, PU2)"
    assert notice.data["assignees"] == [{"id": "PU1", "name": "Ada"}, {"id": "PU2", "name": None}]
    assert notice.data["escalation_policy_id"] == "PEP1"


def test_a_status_change_updates_only_the_status() -> None:
    event = IncidentStatusChanged(
        org_id=ORG,
        payload=IncidentStatusChangedPayload(
            incident_id=INCIDENT, status="resolved", previous_status="acknowledged", changed_at=AT
        ),
    )

    notice = notice_of(event)

    assert notice.event_type == "incident.status_changed"
    assert notice.summary == "Status changed from acknowledged to resolved"
    assert notice.snapshot == IncidentSnapshot(INCIDENT, ORG, status="resolved")


def test_an_assignment_names_the_assignees() -> None:
    event = IncidentAssignmentChanged(
        org_id=ORG,
        payload=IncidentAssignmentChangedPayload(
            incident_id=INCIDENT,
            assignees=(IncidentAssignee(id="PU1", name="Ada"), IncidentAssignee(id="PU2")),
            changed_at=AT,
        ),
    )

    notice = notice_of(event)

    assert notice.event_type == "incident.assignment_changed"
    assert notice.summary == "Assigned to Ada, PU2"
    assert notice.snapshot == IncidentSnapshot(INCIDENT, ORG)
