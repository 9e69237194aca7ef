"""Composition root of the incidents service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_contracts import INCIDENTS
from fireline_incidents.adapters.postgres import PgUnitOfWork
from fireline_incidents.adapters.postgres_batch import PgBatchUnitOfWork
from fireline_incidents.config import Settings
from fireline_incidents.domain.live import LiveFeed
from fireline_incidents.entrypoints import api, background, consumers, live_api
from fireline_incidents.entrypoints.errors import ERRORS
from fireline_incidents.migrations import migrations
from fireline_incidents.service_layer.context import IncidentsContext
from fireline_incidents.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.token_guard import enable_bearer_auth
from fireline_runtime.unit_of_work import UnitOfWorkFactory

SERVICE = "incidents"


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=migrations(),
        topics=[INCIDENTS],
    )
    # Also consumes the keys topic: revoked keys' outstanding tokens are refused at once.
    enable_bearer_auth(runtime, settings)
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(
            runtime.outbox, conn=conn, pool=runtime.pool if conn is None else None
        )
    )
    runtime.consume(consumers.users_consumer(uow))
    runtime.consume(
        consumers.alerts_consumer(uow, lambda conn: PgBatchUnitOfWork(runtime.outbox, conn))
    )
    runtime.consume(consumers.pagerduty_sync_consumer(uow))
    context = IncidentsContext(uow=uow, feed=LiveFeed())

    async def start_background(rt: ServiceRuntime) -> None:
        background.start(rt, context, settings)

    runtime.on_start(start_background)
    app = runtime.build_app(
        title="Fireline incidents",
        description="Incidents started from PagerDuty alerts or by hand.",
        routers=[api.router, live_api.router],
    )
    app.state.context = context
    ERRORS.install(app)
    return app
