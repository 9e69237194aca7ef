"""What the receiver and the worker read of an integration: its webhook target and REST settings.

Secrets and the API token stay sealed (encrypted) in these records until a use case opens them
with the service's ``SecretBox``; ``OpenTarget`` is a target whose signing secrets were opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from fireline_pagerduty_ingest.domain.integration import OFF, WriteBack


@dataclass(frozen=True)
class SealedSecret:
    """An active signing secret, still encrypted."""

    id: UUID
    ciphertext: bytes


@dataclass(frozen=True)
class WebhookTarget:
    """What the receiver needs to check and file a delivery for one integration."""

    id: UUID
    org_id: UUID
    default_severity: str | None
    default_incident_type: str | None
    secrets: tuple[SealedSecret, ...]
    publishes_on_receipt: bool = False
    """No API token and no write-back: its alerts need no PagerDuty lookup and no echo check,
    so the receiver can publish them in the statement that stores their deliveries."""
    priority_severities: Mapping[str, str] = field(default_factory=dict)
    """The priority → severity map, for the alerts the receiver publishes."""


@dataclass(frozen=True)
class OpenTarget:
    """A live integration with its active signing secrets in clear text."""

    target: WebhookTarget
    secrets: tuple[str, ...]
    unreadable: bool
    """True when some active secret did not decrypt (a wrong encryption key)."""

    def __repr__(self) -> str:
        return f"OpenTarget(integration={self.target.id}, secrets={len(self.secrets)})"


@dataclass(frozen=True)
class SealedCredentials:
    """What the worker reads of an integration: its REST settings with the token still
    encrypted (None: no token), and the priority → severity map its alerts are published with."""

    integration_id: UUID
    base_url: str
    token_ciphertext: bytes | None
    priority_severities: Mapping[str, str] = field(default_factory=dict)
    write_back: WriteBack = OFF
