"""What the API asks the use cases to do, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fireline_notifications.domain.endpoint import Format


@dataclass(frozen=True)
class NewEndpoint:
    org_id: UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    format: Format


@dataclass(frozen=True)
class ChangeEndpoint:
    """Only the fields that are not None change."""

    org_id: UUID
    endpoint_id: UUID
    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    enabled: bool | None = None
