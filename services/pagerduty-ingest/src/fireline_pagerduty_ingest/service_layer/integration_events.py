"""Building the events that announce integration changes (for the audit log in identity).

They name settings and count secrets; a secret's or token's value never goes into one, sealed
or not.
"""

from __future__ import annotations

from uuid import UUID

from fireline_contracts import (
    IntegrationChanged,
    IntegrationChangedPayload,
    IntegrationCreated,
    IntegrationDeleted,
    IntegrationPayload,
    SigningSecretsRotated,
    SigningSecretsRotatedPayload,
)
from fireline_pagerduty_ingest.domain.integration import KEEP, Integration, IntegrationChanges

IntegrationEventType = (
    IntegrationCreated | IntegrationChanged | SigningSecretsRotated | IntegrationDeleted
)

_COMPARED = (
    "name",
    "pagerduty_api_url",
    "default_severity",
    "default_incident_type",
    "priority_severities",
)
_WRITE_BACK = ("sync_to_pagerduty", "sync_notes", "from_email")


def created(integration: Integration, *, by: UUID | None) -> IntegrationCreated:
    payload = IntegrationPayload(
        integration_id=integration.id, name=integration.name, changed_by_key=by
    )
    return IntegrationCreated(org_id=integration.org_id, payload=payload)


def deleted(integration: Integration, *, by: UUID | None) -> IntegrationDeleted:
    payload = IntegrationPayload(
        integration_id=integration.id, name=integration.name, changed_by_key=by
    )
    return IntegrationDeleted(org_id=integration.org_id, payload=payload)


def changed_settings(
    before: Integration, after: Integration, changes: IntegrationChanges
) -> tuple[str, ...]:
    """Names of the settings the update changed (signing secrets are reported apart)."""
    names = [n for n in _COMPARED if getattr(before, n) != getattr(after, n)]
    names += [
        n for n in _WRITE_BACK if getattr(before.write_back, n) != getattr(after.write_back, n)
    ]
    # Tokens are sealed, so a new one cannot be compared with the old: any token given counts.
    if changes.pagerduty_api_token is not KEEP:
        names.append("pagerduty_api_token")
    return tuple(names)


def changed(
    integration: Integration, *, settings: tuple[str, ...], by: UUID | None
) -> IntegrationChanged:
    payload = IntegrationChangedPayload(
        integration_id=integration.id,
        name=integration.name,
        changed_by_key=by,
        changed=settings,
    )
    return IntegrationChanged(org_id=integration.org_id, payload=payload)


def secrets_rotated(
    integration: Integration, *, added: int, retired: int, by: UUID | None
) -> SigningSecretsRotated:
    payload = SigningSecretsRotatedPayload(
        integration_id=integration.id,
        name=integration.name,
        changed_by_key=by,
        added=added,
        retired=retired,
    )
    return SigningSecretsRotated(org_id=integration.org_id, payload=payload)
