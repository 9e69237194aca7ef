"""Incident events as the incidents service publishes them, for the consumers' tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from fireline_contracts import (
    IncidentSource,
    IncidentStarted,
    IncidentStartedPayload,
    IncidentStatusChanged,
    IncidentStatusChangedPayload,
    IncidentTimelineEntryAdded,
    IncidentTimelineEntryPayload,
    TimelineActor,
)


def incident_started(
    org_id: uuid.UUID,
    *,
    incident_id: uuid.UUID | None = None,
    number: int = 7,
    title: str = "Checkout down",
    severity: str = "SEV1",
    source: IncidentSource | None = None,
    at: datetime | None = None,
    first_entries: tuple[str, ...] = (),
) -> IncidentStarted:
    """``first_entries``: the kinds of the timeline entries the start carries."""
    incident_id = incident_id or uuid.uuid4()
    return IncidentStarted(
        org_id=org_id,
        payload=IncidentStartedPayload(
            incident_id=incident_id,
            number=number,
            title=title,
            status="triggered",
            severity=severity,
            incident_type="Default",
            source=source,
            created_at=at or datetime.now(UTC),
            timeline=tuple(
                timeline_entry(org_id, incident_id, kind=kind, source="pagerduty").payload
                for kind in first_entries
            ),
        ),
    )


def from_pagerduty(external_id: str) -> IncidentSource:
    return IncidentSource(kind="pagerduty", external_id=external_id)


def status_changed(
    org_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    status: str,
    previous_status: str = "triggered",
    changed_in: Literal["api", "pagerduty"] = "api",
) -> IncidentStatusChanged:
    return IncidentStatusChanged(
        org_id=org_id,
        payload=IncidentStatusChangedPayload(
            incident_id=incident_id,
            status=status,
            previous_status=previous_status,
            changed_at=datetime.now(UTC),
            changed_in=changed_in,
        ),
    )


def timeline_entry(
    org_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    kind: str,
    source: str,
    text: str | None = None,
) -> IncidentTimelineEntryAdded:
    return IncidentTimelineEntryAdded(
        org_id=org_id,
        payload=IncidentTimelineEntryPayload(
            incident_id=incident_id,
            entry_id=uuid.uuid4(),
            kind=kind,
            occurred_at=datetime.now(UTC),
            actor=TimelineActor(kind="user" if source == "api" else "pagerduty_user"),
            source=source,
            summary=text or kind,
            text=text,
        ),
    )
