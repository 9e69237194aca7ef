"""Use cases of the enrichment worker: claim stored deliveries, enrich and publish them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from fireline_pagerduty_ingest.adapters.crypto import api_token_context
from fireline_pagerduty_ingest.domain.alert import build_alert
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.delivery import ClaimedDelivery, FailedAttempt
from fireline_pagerduty_ingest.domain.enrichment import ApiCredentials, Enrichment
from fireline_pagerduty_ingest.domain.errors import UnstorableValue
from fireline_pagerduty_ingest.domain.webhook import WebhookEvent, parse_delivery
from fireline_pagerduty_ingest.service_layer.enrichment import enrich
from fireline_pagerduty_ingest.service_layer.ports import EmailDirectory
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.secret_box import SecretBox, UndecryptableSecret

log = logging.getLogger(__name__)

Outcome = Literal["published", "lost_claim"]


class UnpublishableDelivery(Exception):
    """The stored delivery can never become its alert; retrying it would only delay the
    deliveries queued behind it for the same PagerDuty incident."""


# What a delivery's own content can raise while it becomes an alert: the same on every attempt.
# ValueError covers unparseable bodies, pydantic validation and serialisation errors, and
# UnstorableValue (a ValueError too) a value the database refuses.
_DETERMINISTIC = (ValueError,)

PRUNE_BATCH = 1000
"""Deliveries deleted per statement: short transactions, however much has piled up."""


@dataclass(frozen=True)
class Claim:
    """A batch of deliveries leased by one worker pass."""

    id: UUID
    deliveries: list[ClaimedDelivery]


async def claim_deliveries(*, uow: UnitOfWork, limit: int, lease_s: float) -> Claim:
    """Lease up to ``limit`` pending deliveries, at most one (the oldest) per PagerDuty incident."""
    claim_id = uuid.uuid4()
    async with uow:
        claimed = await uow.deliveries.claim(limit=limit, claim_id=claim_id, lease_s=lease_s)
    return Claim(id=claim_id, deliveries=claimed)


async def publish_delivery(
    *,
    uow: UnitOfWork,
    box: SecretBox,
    directory: EmailDirectory,
    delivery: ClaimedDelivery,
    claim_id: UUID,
    budget_s: float,
    on_enriched: Callable[[str], None] = lambda status: None,
) -> Outcome:
    """Enrich one claimed delivery and publish its alert, marking it published in one transaction.

    ``on_enriched`` is told the enrichment's status (complete, partial, failed, skipped).

    The PagerDuty calls happen outside any transaction; the outbox row and the status change
    commit together, so a crash at any point either published the alert and recorded it, or did
    neither and the delivery is claimed again once its lease runs out.
    """
    with _poison_is_unpublishable():
        # it parsed when received; the bytes are the same
        event = parse_delivery(delivery.body)
    credentials, severities = await _publishing_settings(uow, box, delivery.integration_id)
    enrichment = await enrich(
        directory=directory, credentials=credentials, event=event, budget_s=budget_s
    )
    on_enriched(enrichment.status)
    with _poison_is_unpublishable():
        return await _finish(
            uow=uow,
            delivery=delivery,
            claim_id=claim_id,
            event=event,
            enrichment=enrichment,
            priority_severities=severities,
        )


async def _finish(
    *,
    uow: UnitOfWork,
    delivery: ClaimedDelivery,
    claim_id: UUID,
    event: WebhookEvent,
    enrichment: Enrichment,
    priority_severities: Mapping[str, str],
) -> Outcome:
    alert = build_alert(
        event,
        org_id=delivery.org_id,
        integration_id=delivery.integration_id,
        dedupe_key=delivery.dedupe_key,
        classification=Classification(
            incident_type=delivery.incident_type, severity=delivery.severity
        ),
        enrichment=enrichment,
        correlation_id=delivery.correlation_id,
        received_at=delivery.received_at,
        priority_severities=priority_severities,
    )
    async with uow:
        if not await uow.deliveries.lock_claim(delivery_id=delivery.id, claim_id=claim_id):
            # Our lease ran out and another worker took the delivery over: it publishes it.
            return "lost_claim"
        await uow.publish(alert)
        await uow.deliveries.mark_published(
            delivery_id=delivery.id, enrichment_status=enrichment.status
        )
    log.info(
        "alert published",
        extra={
            "delivery_id": delivery.dedupe_key,
            "event_type": alert.event_type,
            "external_id": alert.payload.external_id,
            "enrichment_status": enrichment.status,
        },
    )
    return "published"


@contextmanager
def _poison_is_unpublishable() -> Iterator[None]:
    try:
        yield
    except _DETERMINISTIC as exc:
        # A refused value is named by the database's own error, as it is in the logs.
        shown = exc.__cause__ if isinstance(exc, UnstorableValue) and exc.__cause__ else exc
        raise UnpublishableDelivery(f"{type(shown).__name__}: {str(shown)[:300]}") from exc


async def release_delivery(
    *,
    uow: UnitOfWork,
    delivery: ClaimedDelivery,
    claim_id: UUID,
    error: str,
    retry_in_s: float,
    max_attempts: int,
    hopeless: bool = False,
) -> bool:
    """Hand a delivery that failed back for a retry; after ``max_attempts``, or at once when it
    is ``hopeless``, mark it failed so the incident's next delivery can go.

    Returns True when the delivery was given up on.
    """
    give_up = hopeless or delivery.attempts >= max_attempts
    async with uow:
        await uow.deliveries.release(
            delivery_id=delivery.id,
            claim_id=claim_id,
            failure=FailedAttempt(error=error, retry_in_s=retry_in_s, give_up=give_up),
        )
    return give_up


async def prune_deliveries(
    *, uow: UnitOfWork, finished_before: datetime, batch_size: int = PRUNE_BATCH
) -> int:
    """Delete deliveries (raw bodies included) finished before the cutoff; how many went.

    Pending deliveries are never deleted. Once a delivery is gone its dedupe key is forgotten, so
    the caller's cutoff must lie further back than PagerDuty's 48 hours of retries (the retention
    setting enforces that): a retry arriving later still would be accepted as a new delivery.
    """
    total = 0
    while True:
        # One short transaction per batch, however much has piled up.
        async with uow:
            deleted = await uow.deliveries.delete_finished(
                finished_before=finished_before, limit=batch_size
            )
        total += deleted
        if deleted < batch_size:
            return total


async def _publishing_settings(
    uow: UnitOfWork, box: SecretBox, integration_id: UUID
) -> tuple[ApiCredentials | None, Mapping[str, str]]:
    """The integration's opened REST credentials (if any) and its priority → severity map, as
    they are now: a map edited after a delivery arrived applies when it is published."""
    async with uow.reading():
        sealed = await uow.integrations.credentials(integration_id)
    if sealed is None:
        return None, {}
    credentials = _opened(box, integration_id, sealed.token_ciphertext, sealed.base_url)
    return credentials, sealed.priority_severities


def _opened(
    box: SecretBox, integration_id: UUID, token_ciphertext: bytes | None, base_url: str
) -> ApiCredentials | None:
    if token_ciphertext is None:
        return None
    try:
        token = box.open_text(token_ciphertext, context=api_token_context(integration_id))
    except UndecryptableSecret:
        log.error(
            "the PagerDuty API token does not decrypt; is FIRELINE_INGEST_ENCRYPTION_KEY right?",
            extra={"integration_id": str(integration_id)},
        )
        return None
    return ApiCredentials(base_url=base_url, token=token)
