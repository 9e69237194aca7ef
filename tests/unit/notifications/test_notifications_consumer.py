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
)
from fireline_notifications.domain.message import IncidentSnapshot
from fireline_notifications.entrypoints.consumers import notice_of

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
