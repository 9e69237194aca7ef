"""The webhook receiver's use case: check a delivery and store it durably, nothing slower."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

import asyncpg

from fireline_pagerduty_ingest.adapters.delivery_writer import DeliveryWriter
from fireline_pagerduty_ingest.adapters.repository import DeliveryRepository, NewDelivery
from fireline_pagerduty_ingest.adapters.target_cache import CachedTargets
from fireline_pagerduty_ingest.domain.classification import classify
from fireline_pagerduty_ingest.domain.delivery import Receipt, dedupe_key, initial_status
from fireline_pagerduty_ingest.domain.errors import (
    IntegrationNotFound,
    InvalidSignature,
    StorageUnavailable,
    VerificationUnavailable,
)
from fireline_pagerduty_ingest.domain.signature import verify
from fireline_pagerduty_ingest.domain.webhook import parse_delivery
from fireline_runtime.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)

STORE_DEADLINE_S = 3.0
"""PagerDuty waits 5 s for an answer; a database slower than this gets a 503 (and a retry)."""


async def receive_webhook(
    *,
    pool: asyncpg.Pool,
    targets: CachedTargets,
    writer: DeliveryWriter,
    integration_id: str,
    body: bytes,
    signature: str | None,
    webhook_id: str | None,
    query_incident_type: str | None,
    query_severity: str | None,
    correlation_id: str | None,
    on_stored: Callable[[], None],
) -> Receipt:
    """Verify, parse and store one delivery; ``on_stored`` wakes the enrichment worker.

    Raises, in the order PagerDuty's retry rules need: IntegrationNotFound, InvalidSignature,
    MalformedDelivery / InvalidWebhookQuery, StorageUnavailable. It never calls PagerDuty.
    """
    try:
        target_id = UUID(integration_id)
    except ValueError:
        raise IntegrationNotFound() from None
    try:
        async with asyncio.timeout(STORE_DEADLINE_S):
            opened = await targets.get(pool, target_id)
            if opened is None:
                raise IntegrationNotFound()
            target = opened.target
            if not verify(body, signature, opened.secrets):
                if opened.unreadable:
                    raise VerificationUnavailable()
                raise InvalidSignature()
            event = parse_delivery(body)
            classification = classify(
                query_incident_type=query_incident_type,
                query_severity=query_severity,
                default_incident_type=target.default_incident_type,
                default_severity=target.default_severity,
            )
            key = dedupe_key(webhook_id, event)
            status = initial_status(event)
            stored = await writer.add(
                NewDelivery(
                    integration_id=target.id,
                    org_id=target.org_id,
                    dedupe_key=key,
                    event_id=event.id,
                    event_type=event.event_type,
                    incident_id=event.incident.id if event.incident is not None else None,
                    status=status,
                    body=body,
                    incident_type=classification.incident_type,
                    severity=classification.severity,
                    correlation_id=correlation_id,
                )
            )
            if stored is None:
                async with pool.acquire() as conn:
                    previous = await DeliveryRepository(conn).status_of(
                        integration_id=target.id, dedupe_key=key
                    )
                log.info(
                    "webhook delivery already stored",
                    extra={"integration_id": str(target.id), "delivery_id": key},
                )
                return Receipt(delivery_id=key, duplicate=True, status=previous or status)
    except TRANSIENT_DB_ERRORS as exc:
        log.warning(
            "webhook delivery could not be stored; asking PagerDuty to retry",
            # The id comes from the URL as sent: bounded, since anyone can send anything there.
            extra={"integration_id": integration_id[:64], "error": type(exc).__name__},
        )
        raise StorageUnavailable() from None
    log.info(
        "webhook delivery stored",
        extra={
            "integration_id": str(target.id),
            "delivery_id": key,
            "event_type": event.event_type,
            "status": status,
        },
    )
    if status == "received":
        on_stored()
    return Receipt(delivery_id=key, duplicate=False, status=status)
