"""Composition root of the pagerduty-ingest service."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from fireline_contracts import ALERTS, INTEGRATIONS, PAGERDUTY_SYNC
from fireline_pagerduty_ingest.adapters.delivery_writer import DeliveryWriter
from fireline_pagerduty_ingest.adapters.pagerduty import PagerDutyClient
from fireline_pagerduty_ingest.adapters.pagerduty_writer import PagerDutyWriterClient
from fireline_pagerduty_ingest.adapters.postgres import PgUnitOfWork
from fireline_pagerduty_ingest.adapters.target_cache import CachedTargets
from fireline_pagerduty_ingest.config import Settings
from fireline_pagerduty_ingest.domain.sync import parse_schedule
from fireline_pagerduty_ingest.entrypoints import background, integrations, webhooks
from fireline_pagerduty_ingest.entrypoints.background import DeliveryWorker, WorkerSettings
from fireline_pagerduty_ingest.entrypoints.consumers import incidents_consumer
from fireline_pagerduty_ingest.entrypoints.errors import ERRORS
from fireline_pagerduty_ingest.metrics import IngestMetrics
from fireline_pagerduty_ingest.migrations import migrations
from fireline_pagerduty_ingest.service_layer.context import IngestContext
from fireline_pagerduty_ingest.service_layer.sync import SyncDispatcher, SyncDispatchSettings
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_pagerduty_ingest.service_layer.webhooks import WebhookReceiver, load_target
from fireline_runtime.outbox import RelayWaker, deferred_wake
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.token_guard import enable_bearer_auth
from fireline_runtime.unit_of_work import UnitOfWorkFactory

SERVICE = "pagerduty-ingest"

DESCRIPTION = """
PagerDuty integrations and the V3 webhook receiver.

A delivery is verified (HMAC over the raw body), stored and answered with 202 at once; a
background worker then looks up emails in PagerDuty's REST API (bounded, cached, degrading to
"no email" on any failure) and publishes `AlertTriggered` / `AlertAcknowledged` /
`AlertResolved` on the alerts topic through the outbox, in PagerDuty's order per incident. For
an integration with no API token and no write-back the receiver stores the alert with the
delivery, in the same statement.
"""


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=migrations(),
        topics=[ALERTS, INTEGRATIONS, PAGERDUTY_SYNC],
    )
    enable_bearer_auth(runtime, settings)
    metrics = IngestMetrics(runtime)
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(
            runtime.outbox, conn=conn, pool=runtime.pool if conn is None else None
        )
    )
    box = SecretBox.from_text(settings.ingest_encryption_key.get_secret_value())
    # Redirects are not followed: a PagerDuty answer that redirects is not one we understand,
    # and following it could carry the API token to another host.
    http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "fireline-ingest"})
    allowed_api_hosts = settings.pagerduty_allowed_hosts
    directory = PagerDutyClient(
        http,
        allowed_hosts=allowed_api_hosts,
        call_timeout_s=settings.pagerduty_call_timeout_s,
        user_ttl_s=settings.email_cache_ttl_s,
        oncall_ttl_s=settings.oncall_cache_ttl_s,
        on_answer=metrics.pagerduty_answered,
    )
    worker = DeliveryWorker(
        uow=uow,
        box=box,
        directory=directory,
        settings=WorkerSettings(
            batch_size=settings.ingest_worker_batch,
            lease_s=settings.ingest_lease_s,
            poll_interval_s=settings.ingest_poll_interval_s,
            budget_s=settings.enrichment_budget_s,
            max_attempts=settings.ingest_max_attempts,
        ),
        batch_wake=lambda: deferred_wake(runtime.pool),
        on_enriched=metrics.enriched,
    )

    # Fireline → PagerDuty: changes made in Fireline, from the incidents topic to PagerDuty's API.
    dispatcher = SyncDispatcher(
        uow=uow,
        box=box,
        writer=PagerDutyWriterClient(
            http,
            allowed_hosts=allowed_api_hosts,
            call_timeout_s=settings.pagerduty_call_timeout_s,
        ),
        settings=SyncDispatchSettings(
            schedule=parse_schedule(settings.pagerduty_sync_retry_schedule_s),
            lease=timedelta(seconds=settings.ingest_lease_s),
            batch_size=settings.pagerduty_sync_batch,
        ),
        on_outcome=metrics.synced,
    )
    runtime.consume(incidents_consumer(uow, wake=dispatcher.wake.set))

    targets = CachedTargets(box, lambda integration_id: load_target(uow(), integration_id))
    relay_waker = RelayWaker(lambda: runtime.pool, lambda: runtime.relay)
    writer = DeliveryWriter(lambda: runtime.pool, runtime.outbox, wake_relay=relay_waker.wake)
    context = IngestContext(
        uow=uow,
        box=box,
        public_url=settings.public_url,
        default_api_url=settings.pagerduty_api_url,
        allowed_api_hosts=allowed_api_hosts,
    )

    async def start_background(rt: ServiceRuntime) -> None:
        background.start(
            rt, context, settings, worker=worker, dispatcher=dispatcher, targets=targets
        )

    async def close_http(_: ServiceRuntime) -> None:
        await writer.close()
        # The last batches' wakes, before the pool they are sent on closes.
        await relay_waker.sent()
        await http.aclose()

    runtime.on_start(start_background)
    runtime.on_stop(close_http)

    receiver = WebhookReceiver(
        targets=targets,
        inbox=writer,
        unit_of_work=uow,
        on_stored=worker.wake,
        on_published=metrics.enriched,
    )
    app = runtime.build_app(
        title="Fireline pagerduty-ingest",
        description=DESCRIPTION,
        routers=[integrations.router, webhooks.router],
        raw_endpoints=[webhooks.raw_endpoint(receiver)],
    )
    app.state.context = context
    ERRORS.install(app)
    return app
