"""The webhook receiver's use case: check a delivery and store it durably, nothing slower."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fireline_pagerduty_ingest.domain.alert import AlertEventType, build_alert
from fireline_pagerduty_ingest.domain.classification import Classification, classify
from fireline_pagerduty_ingest.domain.delivery import (
    NewDelivery,
    Receipt,
    dedupe_key,
    initial_status,
    needs_worker,
)
from fireline_pagerduty_ingest.domain.enrichment import SKIPPED
from fireline_pagerduty_ingest.domain.errors import (
    IntegrationNotFound,
    InvalidSignature,
    StorageUnavailable,
    VerificationUnavailable,
)
from fireline_pagerduty_ingest.domain.signature import verify
from fireline_pagerduty_ingest.domain.target import WebhookTarget
from fireline_pagerduty_ingest.domain.webhook import WebhookEvent, parse_delivery, stored_form
from fireline_pagerduty_ingest.service_layer.ports import DeliveryInbox, WebhookTargets
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)

STORE_DEADLINE_S = 3.0
"""PagerDuty waits 5 s for an answer; a database slower than this gets a 503 (and a retry)."""


@dataclass(frozen=True)
class WebhookReceiver:
    """What receiving a delivery needs; ``bootstrap.py`` builds it once."""

    targets: WebhookTargets
    """Integrations with their signing secrets opened, cached per replica."""
    inbox: DeliveryInbox
    """Stores deliveries; concurrent ones share one INSERT."""
    unit_of_work: Callable[[], UnitOfWork]
    """Only for a duplicate: reading the status the first copy was stored with."""
    on_stored: Callable[[], None]
    """Wakes the enrichment worker after a delivery it has to publish was stored."""
    on_published: Callable[[str], None] = lambda enrichment_status: None
    """Counts an alert published on receipt, by its enrichment status (as the worker does)."""


@dataclass(frozen=True)
class IncomingWebhook:
    """One delivery as it came in: the URL's integration id and query, headers and raw body."""

    integration_id: str
    body: bytes
    signature: str | None
    webhook_id: str | None
    query_incident_type: str | None
    query_severity: str | None
    correlation_id: str | None

    def __repr__(self) -> str:
        return f"IncomingWebhook(integration={self.integration_id[:64]!r}, {len(self.body)} bytes)"


async def load_target(uow: UnitOfWork, integration_id: UUID) -> WebhookTarget | None:
    """The live integration with its sealed secrets, read in one statement (the target cache's
    loader)."""
    async with uow.reading():
        return await uow.integrations.webhook_target(integration_id)


async def receive_webhook(receiver: WebhookReceiver, webhook: IncomingWebhook) -> Receipt:
    """Verify, parse and store one delivery; wakes the enrichment worker when it has work.

    A delivery of an integration that publishes on receipt (``WebhookTarget``) is stored with
    its alert, in one statement: nothing in it waits for PagerDuty, and the worker's claim,
    publication and hop are saved. It still goes to the worker when an earlier delivery of its
    incident is pending there (the alerts keep PagerDuty's order), or when it may be an echo.

    Raises, in the order PagerDuty's retry rules need: IntegrationNotFound, InvalidSignature,
    MalformedDelivery / InvalidWebhookQuery, StorageUnavailable. It never calls PagerDuty.
    """
    target_id = _target_id(webhook.integration_id)
    try:
        async with asyncio.timeout(STORE_DEADLINE_S):
            target = await _verified_target(receiver.targets, target_id, webhook)
            delivery = _new_delivery(target, webhook)
            stored = await receiver.inbox.add(delivery)
            if stored is None:
                return await _duplicate(receiver, delivery)
    except TRANSIENT_DB_ERRORS as exc:
        log.warning(
            "webhook delivery could not be stored; asking PagerDuty to retry",
            # The id comes from the URL as sent: bounded, since anyone can send anything there.
            extra={"integration_id": webhook.integration_id[:64], "error": type(exc).__name__},
        )
        raise StorageUnavailable() from None
    log.info(
        "webhook delivery stored",
        extra={
            "integration_id": str(delivery.integration_id),
            "delivery_id": delivery.dedupe_key,
            "event_type": delivery.event_type,
            "status": stored.status,
        },
    )
    if stored.status == "received":
        receiver.on_stored()
    elif stored.status == "published":
        receiver.on_published(SKIPPED.status)
    return Receipt(delivery_id=delivery.dedupe_key, duplicate=False, status=stored.status)


def _target_id(integration_id: str) -> UUID:
    try:
        return UUID(integration_id)
    except ValueError:
        raise IntegrationNotFound() from None


async def _verified_target(
    targets: WebhookTargets, target_id: UUID, webhook: IncomingWebhook
) -> WebhookTarget:
    """The integration the delivery is for, once its signature matched an active secret."""
    opened = await targets.get(target_id)
    if opened is None:
        raise IntegrationNotFound()
    if not verify(webhook.body, webhook.signature, opened.secrets):
        if opened.unreadable:
            raise VerificationUnavailable()
        raise InvalidSignature()
    return opened.target


def _new_delivery(target: WebhookTarget, webhook: IncomingWebhook) -> NewDelivery:
    """The verified delivery as it is stored: parsed, classified and given its dedupe key."""
    event = parse_delivery(webhook.body)
    classification = classify(
        query_incident_type=webhook.query_incident_type,
        query_severity=webhook.query_severity,
        default_incident_type=target.default_incident_type,
        default_severity=target.default_severity,
    )
    status = initial_status(event)
    key = dedupe_key(webhook.webhook_id, event)
    alert = (
        _alert_on_receipt(target, webhook, event, classification, key)
        if status == "received"
        else None
    )
    return NewDelivery(
        integration_id=target.id,
        org_id=target.org_id,
        dedupe_key=key,
        event_id=event.id,
        event_type=event.event_type,
        incident_id=event.incident.id if event.incident is not None else None,
        status=status,
        body=webhook.body,
        incident_type=classification.incident_type,
        severity=classification.severity,
        correlation_id=webhook.correlation_id,
        # Stored with the body, before the 202: the worker reads the event back instead of
        # parsing the body again. An ignored delivery is never published, so it needs none, and
        # one published on receipt rarely goes to the worker (it parses the body then).
        parsed_event=stored_form(event) if status == "received" and alert is None else None,
        alert=alert,
    )


def _alert_on_receipt(
    target: WebhookTarget,
    webhook: IncomingWebhook,
    event: WebhookEvent,
    classification: Classification,
    key: str,
) -> AlertEventType | None:
    """The alert of a delivery to publish, when the receiver may publish it: built as the worker
    would, with enrichment skipped (the integration has no API token)."""
    if not target.publishes_on_receipt or needs_worker(event):
        return None
    try:
        return build_alert(
            event,
            org_id=target.org_id,
            integration_id=target.id,
            dedupe_key=key,
            classification=classification,
            enrichment=SKIPPED,
            correlation_id=webhook.correlation_id,
            received_at=datetime.now(UTC),
            priority_severities=target.priority_severities,
        )
    except ValueError:
        # Content that cannot become an alert: the worker records why and fails it, as for any
        # other integration's delivery.
        return None


async def _duplicate(receiver: WebhookReceiver, delivery: NewDelivery) -> Receipt:
    """The receipt of a delivery stored before: with the status its first copy has now."""
    uow = receiver.unit_of_work()
    async with uow.reading():
        previous = await uow.deliveries.status_of(
            integration_id=delivery.integration_id, dedupe_key=delivery.dedupe_key
        )
    log.info(
        "webhook delivery already stored",
        extra={"integration_id": str(delivery.integration_id), "delivery_id": delivery.dedupe_key},
    )
    return Receipt(
        delivery_id=delivery.dedupe_key, duplicate=True, status=previous or delivery.status
    )
