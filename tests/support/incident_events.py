"""Incident events as the incidents service publishes them, for the consumers' tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fireline_contracts import IncidentSource, IncidentStarted, IncidentStartedPayload


def incident_started(
    org_id: uuid.UUID,
    *,
    incident_id: uuid.UUID | None = None,
    number: int = 7,
    title: str = "Checkout down",
    severity: str = "SEV1",
    source: IncidentSource | None = None,
    at: datetime | None = None,
) -> IncidentStarted:
    return IncidentStarted(
        org_id=org_id,
        payload=IncidentStartedPayload(
            incident_id=incident_id or uuid.uuid4(),
            number=number,
            title=title,
            status="triggered",
            severity=severity,
            incident_type="Default",
            source=source,
            created_at=at or datetime.now(UTC),
        ),
    )
