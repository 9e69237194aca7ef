"""Use cases of the enrichment worker: claim stored deliveries, enrich and publish them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from fireline_contracts import AlertActivityPayload
from fireline_pagerduty_ingest.domain.alert import AlertEventType, build_alert
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.delivery import ClaimedDelivery, FailedAttempt
from fireline_pagerduty_ingest.domain.enrichment import ApiCredentials
from fireline_pagerduty_ingest.domain.errors import UnstorableValue
from fireline_pagerduty_ingest.domain.sealing import api_token_context
from fireline_pagerduty_ingest.domain.sync import ECHO_EVENT_TYPES
from fireline_pagerduty_ingest.domain.webhook import restored
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


PublishingSettings = tuple[ApiCredentials | None, Mapping[str, str]]
"""An integration's opened REST credentials (if any) and its priority → severity map."""

SettingsOf = Callable[[UUID], Awaitable[PublishingSettings]]


@dataclass(frozen=True)
class ReadyAlert:
    """A claimed delivery's alert, enriched and built: what remains is to publish it."""

    delivery: ClaimedDelivery
    claim_id: UUID
    alert: AlertEventType
    enrichment_status: str


async def prepare_alert(
    *,
    settings_of: SettingsOf,
    directory: EmailDirectory,
    delivery: ClaimedDelivery,
    claim_id: UUID,
    budget_s: float,
    on_enriched: Callable[[str], None] = lambda status: None,
) -> ReadyAlert:
    """Enrich one claimed delivery and build its alert; nothing is written.

    ``settings_of`` gives the integration's settings as they are now (a map edited after a
    delivery arrived applies when it is published; see :func:`publishing_settings`).
    ``on_enriched`` is told the enrichment's status (complete, partial, failed, skipped). The
    PagerDuty calls happen here, outside any transaction.
    """
    with _poison_is_unpublishable():
        event = restored(delivery.parsed_event, delivery.body)
    credentials, severities = await settings_of(delivery.integration_id)
    enrichment = await enrich(
        directory=directory, credentials=credentials, event=event, budget_s=budget_s
    )
    on_enriched(enrichment.status)
    with _poison_is_unpublishable():
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
            priority_severities=severities,
        )
    return ReadyAlert(
        delivery=delivery, claim_id=claim_id, alert=alert, enrichment_status=enrichment.status
    )


async def publish_alerts(*, uow: UnitOfWork, ready: Sequence[ReadyAlert]) -> list[Outcome]:
    """Publish alerts and mark their deliveries published, all in one transaction.

    The outbox rows and the status changes commit together, so a crash at any point either
    published an alert and recorded it, or did neither and its delivery is claimed again once
    its lease runs out. A delivery whose lease ran out and that another worker took over is left
    to that worker ("lost_claim").
    """
    with _poison_is_unpublishable():
        async with uow:
            held = await uow.deliveries.lock_claims([(r.delivery.id, r.claim_id) for r in ready])
            publishing = [r for r in ready if r.delivery.id in held]
            for r in publishing:
                await uow.publish(await _marked_if_echo(uow, r))
            if publishing:
                await uow.deliveries.mark_published(
                    [(r.delivery.id, r.enrichment_status) for r in publishing]
                )
    return ["published" if r.delivery.id in held else "lost_claim" for r in ready]


async def _marked_if_echo(uow: UnitOfWork, ready: ReadyAlert) -> AlertEventType:
    """The alert, marked as the echo of Fireline's own change when it is one.

    PagerDuty answers every status change (and note) made through its API with the usual
    webhook, its agent the ``From`` user. The sync request for that change was claimed (its
    attempt time recorded) before the call, so its webhook, which can only come after the
    call, finds the request here: same integration, PagerDuty incident and status (or note
    text), agent a user (the one PagerDuty's answer named, once known), within
    ``ECHO_WINDOW`` of the call. Each request takes one echo, in this transaction with the
    alert's outbox row, so a redelivered or re-claimed delivery cannot mark a second event,
    and a later acknowledgement by someone in PagerDuty is mirrored as usual.
    """
    alert = ready.alert
    payload = alert.payload
    action = ECHO_EVENT_TYPES.get(payload.pagerduty_event_type)
    agent = payload.agent
    event_id = payload.pagerduty_event_id
    if action is None or event_id is None or agent is None or agent.type != "user_reference":
        return alert
    # A note's echo is told by its text too: notes are not one state, but many.
    note = payload.text if isinstance(payload, AlertActivityPayload) else None
    if action == "note" and note is None:
        return alert
    matched = await uow.sync.match_echo(
        integration_id=payload.integration_id,
        external_id=payload.external_id,
        action=action,
        agent_id=agent.id,
        received_at=ready.delivery.received_at,
        event_id=event_id,
        note=note,
    )
    if matched is None:
        return alert
    return alert.model_copy(
        update={"payload": payload.model_copy(update={"fireline_change": matched})}
    )


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


async def publishing_settings(
    uow: UnitOfWork, box: SecretBox, integration_id: UUID
) -> PublishingSettings:
    """The integration's opened REST credentials (if any) and its priority → severity map, as
    they are now: a map edited after a delivery arrived applies when it is published."""
    async with uow.reading():
        sealed = await uow.integrations.credentials(integration_id)
    if sealed is None:
        return None, {}
    credentials = opened_credentials(box, integration_id, sealed.token_ciphertext, sealed.base_url)
    return credentials, sealed.priority_severities


def opened_credentials(
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
