"""Composition root of the notifications service."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from fireline_contracts import NOTIFICATIONS
from fireline_notifications.adapters.http import DnsResolver, HttpSender
from fireline_notifications.adapters.postgres import PgUnitOfWork
from fireline_notifications.config import Settings
from fireline_notifications.entrypoints import api, background, consumers
from fireline_notifications.entrypoints.errors import ERRORS
from fireline_notifications.metrics import NotificationsMetrics
from fireline_notifications.migrations import migrations
from fireline_notifications.service_layer.context import NotificationsContext
from fireline_notifications.service_layer.dispatch import Dispatcher, DispatchSettings
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_notifications.service_layer.urls import UrlPolicy
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.token_guard import enable_bearer_auth
from fireline_runtime.unit_of_work import UnitOfWorkFactory

SERVICE = "notifications"

DESCRIPTION = """
Incident events delivered to the org's webhook endpoints: signed per the Standard Webhooks
specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`), or as Slack Block Kit
messages. At least once, retried on a schedule with jitter under the same `webhook-id`; every
attempt is in the endpoint's delivery log.
"""


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=migrations(),
        topics=[NOTIFICATIONS],
        # Every delivery in flight records its attempt in a transaction of its own.
        pool_max_size=20,
    )
    enable_bearer_auth(runtime, settings)
    box = SecretBox.from_text(settings.notifications_encryption_key.get_secret_value())
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(
            runtime.outbox, box, conn=conn, pool=runtime.pool if conn is None else None
        )
    )
    metrics = NotificationsMetrics(runtime, uow)
    urls = UrlPolicy(settings.allow_list, DnsResolver())
    # Redirects are never followed: a 3xx is a failed attempt, not a hop to an unchecked host.
    http = httpx.AsyncClient(
        follow_redirects=False,
        headers={"User-Agent": "fireline-webhooks"},
        limits=httpx.Limits(max_connections=settings.notifications_max_in_flight),
    )
    dispatcher = Dispatcher(
        uow=uow,
        sender=HttpSender(http, urls=urls, timeout_s=settings.notifications_timeout_s),
        settings=DispatchSettings(
            schedule=settings.retry_schedule,
            disable_after=timedelta(seconds=settings.notifications_disable_after_s),
            per_endpoint=settings.notifications_per_endpoint_concurrency,
            max_in_flight=settings.notifications_max_in_flight,
            lease=timedelta(seconds=settings.notifications_lease_s),
        ),
        on_outcome=metrics.attempted,
    )
    runtime.consume(
        consumers.incidents_consumer(
            uow, incident_url_base=settings.incidents_ui_url, wake=dispatcher.wake.set
        )
    )

    context = NotificationsContext(uow=uow, urls=urls, wake_dispatcher=dispatcher.wake.set)

    async def start_background(rt: ServiceRuntime) -> None:
        background.start(rt, context, settings, dispatcher=dispatcher)

    async def stop_sending(_: ServiceRuntime) -> None:
        await dispatcher.stop()
        await http.aclose()

    runtime.on_start(start_background)
    runtime.on_stop(stop_sending)
    app = runtime.build_app(
        title="Fireline notifications",
        description=DESCRIPTION,
        routers=[api.router],
    )
    app.state.context = context
    ERRORS.install(app)
    return app
