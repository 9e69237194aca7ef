"""The audit events of admins' changes to endpoints: who, which endpoint (by host), what changed.

Never a secret, a URL (a Slack URL is a credential) or a value: names of settings only.
"""

from __future__ import annotations

from uuid import UUID

from fireline_contracts import (
    WebhookEndpointChanged,
    WebhookEndpointChangedPayload,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointPayload,
    WebhookEndpointSecretRotated,
)
from fireline_notifications.domain.endpoint import Endpoint


def _payload(endpoint: Endpoint, by: UUID | None) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(endpoint_id=endpoint.id, host=endpoint.host, changed_by_key=by)


def created(endpoint: Endpoint, by: UUID | None) -> WebhookEndpointCreated:
    return WebhookEndpointCreated(org_id=endpoint.org_id, payload=_payload(endpoint, by))


def changed(before: Endpoint, after: Endpoint, by: UUID | None) -> WebhookEndpointChanged | None:
    """The event for what differs between ``before`` and ``after``; None when nothing does."""
    names = tuple(
        name
        for name in ("url", "description", "event_types", "enabled")
        if getattr(before, name) != getattr(after, name)
    )
    if not names:
        return None
    payload = WebhookEndpointChangedPayload(
        endpoint_id=after.id, host=after.host, changed_by_key=by, changed=names
    )
    return WebhookEndpointChanged(org_id=after.org_id, payload=payload)


def secret_rotated(endpoint: Endpoint, by: UUID | None) -> WebhookEndpointSecretRotated:
    return WebhookEndpointSecretRotated(org_id=endpoint.org_id, payload=_payload(endpoint, by))


def deleted(endpoint: Endpoint, by: UUID | None) -> WebhookEndpointDeleted:
    return WebhookEndpointDeleted(org_id=endpoint.org_id, payload=_payload(endpoint, by))
