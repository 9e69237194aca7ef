"""ingest's background loops, all started here: the enrichment worker, the deliveries' pruner,
the PagerDuty sync dispatcher and the webhook targets' cache listener.

The enrichment worker drains stored deliveries into alerts, after the webhook's 202. One loop per
process. Each pass leases a batch of pending deliveries — at most the oldest one of each PagerDuty
incident, so an incident's alerts keep PagerDuty's order — and handles the batch concurrently
(different incidents never wait on each other's PagerDuty lookups). The loop wakes when the
receiver stores a delivery, and polls as well, which picks up deliveries stored by other replicas
and deliveries left pending by a process that died (their lease runs out).

The pruner deletes finished deliveries, raw bodies included, once they are old: without it every
delivery body PagerDuty ever sent would stay in the database. One loop per process; replicas
pruning at the same time skip each other's rows instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fireline_pagerduty_ingest.adapters.target_cache import CachedTargets
from fireline_pagerduty_ingest.config import Settings
from fireline_pagerduty_ingest.domain.delivery import ClaimedDelivery
from fireline_pagerduty_ingest.service_layer.context import IngestContext
from fireline_pagerduty_ingest.service_layer.deliveries import (
    Outcome,
    PublishingSettings,
    ReadyAlert,
    UnpublishableDelivery,
    claim_deliveries,
    prepare_alert,
    prune_deliveries,
    publish_alerts,
    publishing_settings,
    release_delivery,
)
from fireline_pagerduty_ingest.service_layer.ports import EmailDirectory
from fireline_pagerduty_ingest.service_layer.sync import SyncDispatcher
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime import correlation, tracing
from fireline_runtime.db import TRANSIENT_DB_ERRORS
from fireline_runtime.group_commit import GroupCommit
from fireline_runtime.periodic import run_periodically
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 600.0
"""How often old deliveries are looked for: retention is counted in days, so minutes are plenty,
and each pass is an index range scan over what it deletes."""


def start(
    runtime: ServiceRuntime,
    context: IngestContext,
    settings: Settings,
    *,
    worker: DeliveryWorker,
    dispatcher: SyncDispatcher,
    targets: CachedTargets,
) -> None:
    """Spawn every loop; called once the migrations ran (an ``on_start`` hook), so the first
    pass already finds the deliveries a previous process left."""
    runtime.spawn(worker.run(), "delivery-worker")
    pruner = DeliveryPruner(uow=context.uow, retention_s=settings.delivery_retention_s)
    runtime.spawn(pruner.run(), "delivery-pruner")
    runtime.spawn(
        run_sync_dispatcher(dispatcher, poll_interval_s=settings.pagerduty_sync_poll_interval_s),
        "pagerduty-sync-dispatcher",
    )
    runtime.spawn(targets.cache.run(settings.database_url), "webhook-target-cache-listener")


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker paces itself."""

    batch_size: int
    lease_s: float
    poll_interval_s: float
    budget_s: float
    max_attempts: int


class DeliveryWorker:
    """Publishes stored deliveries as alerts; ``wake()`` after storing one."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory[UnitOfWork],
        box: SecretBox,
        directory: EmailDirectory,
        settings: WorkerSettings,
        batch_wake: Callable[[], AbstractAsyncContextManager[None]],
        on_enriched: Callable[[str], None] = lambda status: None,
    ) -> None:
        """``batch_wake`` wraps a batch so its alerts wake the outbox relay once, at its end
        (``fireline_runtime.outbox.deferred_wake``)."""
        self._uow = uow
        self._on_enriched = on_enriched
        self._box = box
        self._batch_wake = batch_wake
        self._directory = directory
        self._settings = settings
        self._wake = asyncio.Event()
        # The batch's alerts are published as they become ready: those whose enrichment ends
        # together share one transaction, and a slow PagerDuty lookup holds back nobody else.
        self._publisher = GroupCommit(
            self._publish, max_batch=settings.batch_size, name="alert-group-commit"
        )

    async def _publish(self, ready: Sequence[ReadyAlert]) -> list[Outcome]:
        return await publish_alerts(uow=self._uow(), ready=ready)

    def wake(self) -> None:
        """A delivery was stored: start a pass now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Run until cancelled: a pass as soon as a delivery is stored, else every poll."""
        await run_periodically(
            "delivery worker",
            self._pass,
            interval_s=self._settings.poll_interval_s,
            max_backoff_s=10.0,
            wake=self._wake,
        )

    async def _pass(self) -> bool:
        # A full batch means more may be waiting: the next pass starts at once.
        return await self.run_once() > 0

    async def run_once(self) -> int:
        """One pass: claim a batch and handle it; the number of deliveries claimed."""
        claim = await claim_deliveries(
            uow=self._uow(), limit=self._settings.batch_size, lease_s=self._settings.lease_s
        )
        if claim.deliveries:
            settings_of = _once_each(
                lambda integration_id: publishing_settings(self._uow(), self._box, integration_id)
            )
            # The batch's alerts wake the outbox relay once, when all of them have committed.
            async with self._batch_wake():
                await asyncio.gather(
                    *(
                        self._handle(delivery, claim.id, settings_of)
                        for delivery in claim.deliveries
                    )
                )
        return len(claim.deliveries)

    async def _handle(
        self,
        delivery: ClaimedDelivery,
        claim_id: UUID,
        settings_of: Callable[[UUID], Awaitable[PublishingSettings]],
    ) -> None:
        # Runs in its own task (gather), so the correlation id set here stays with this delivery
        # and reaches the outbox row and every log line about it.
        correlation.set_(delivery.correlation_id)
        try:
            # Continues the trace of the request that stored the delivery: the PagerDuty calls and
            # the alert's outbox row belong to the webhook delivery's trace.
            with tracing.continued("publish delivery", delivery.traceparent):
                ready = await prepare_alert(
                    settings_of=settings_of,
                    directory=self._directory,
                    delivery=delivery,
                    claim_id=claim_id,
                    budget_s=self._settings.budget_s,
                    on_enriched=self._on_enriched,
                )
                if tracing.enabled():
                    # Alone, in this delivery's span: its outbox row carries this trace.
                    outcome = (await self._publish([ready]))[0]
                else:
                    outcome = await self._publisher.submit(ready)
            if outcome == "published":
                log.info(
                    "alert published",
                    extra={
                        "delivery_id": delivery.dedupe_key,
                        "event_type": ready.alert.event_type,
                        "external_id": ready.alert.payload.external_id,
                        "enrichment_status": ready.enrichment_status,
                    },
                )
        except asyncio.CancelledError:
            raise
        except TRANSIENT_DB_ERRORS as exc:
            # Not the delivery's fault: the lease runs out and the next pass tries again.
            log.warning(
                "delivery not published: database unavailable",
                extra={"delivery_id": delivery.dedupe_key, "error": type(exc).__name__},
            )
        except UnpublishableDelivery as exc:
            # A poison delivery fails at once: the incident's later deliveries wait behind it.
            await self._release(delivery, claim_id, exc, hopeless=True)
        except Exception as exc:
            await self._release(delivery, claim_id, exc)

    async def _release(
        self, delivery: ClaimedDelivery, claim_id: UUID, exc: Exception, *, hopeless: bool = False
    ) -> None:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        with contextlib.suppress(*TRANSIENT_DB_ERRORS):
            gave_up = await release_delivery(
                uow=self._uow(),
                delivery=delivery,
                claim_id=claim_id,
                error=error,
                retry_in_s=min(2.0**delivery.attempts, 300.0),
                max_attempts=self._settings.max_attempts,
                hopeless=hopeless,
            )
            log.error(
                "delivery could not be published" + ("; giving up" if gave_up else "; will retry"),
                extra={
                    "delivery_id": delivery.dedupe_key,
                    "attempts": delivery.attempts,
                    "error": type(exc).__name__,
                },
                exc_info=exc,
            )


def _once_each(
    load: Callable[[UUID], Awaitable[PublishingSettings]],
) -> Callable[[UUID], Awaitable[PublishingSettings]]:
    """``load`` at most once per integration for one pass: a storm's batch is mostly one
    integration's, and its deliveries were reading the same row a hundred times."""
    loading: dict[UUID, asyncio.Task[PublishingSettings]] = {}

    def settings_of(integration_id: UUID) -> Awaitable[PublishingSettings]:
        if integration_id not in loading:
            loading[integration_id] = asyncio.ensure_future(load(integration_id))
        # Shielded: one delivery giving up must not cancel the read the others wait for.
        return asyncio.shield(loading[integration_id])

    return settings_of


class DeliveryPruner:
    """Deletes deliveries that finished more than ``retention_s`` ago, every ``interval_s``."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory[UnitOfWork],
        retention_s: float,
        interval_s: float = PRUNE_INTERVAL_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._retention = timedelta(seconds=retention_s)
        self._interval_s = interval_s
        self._now = now

    async def run(self) -> None:
        """Prune now, then every ``interval_s``, until cancelled."""
        await run_periodically("delivery pruning", self._pass, interval_s=self._interval_s)

    async def _pass(self) -> None:
        await self.run_once()

    async def run_once(self) -> int:
        """One pass; the number of deliveries deleted."""
        deleted = await prune_deliveries(
            uow=self._uow(), finished_before=self._now() - self._retention
        )
        if deleted:
            log.info(
                "old deliveries deleted",
                extra={"deleted": deleted, "retention_s": self._retention.total_seconds()},
            )
        return deleted


async def run_sync_dispatcher(dispatcher: SyncDispatcher, *, poll_interval_s: float) -> None:
    """Send Fireline's changes to PagerDuty until cancelled; woken early by new requests."""
    await run_periodically(
        "pagerduty sync", dispatcher.pass_once, interval_s=poll_interval_s, wake=dispatcher.wake
    )
