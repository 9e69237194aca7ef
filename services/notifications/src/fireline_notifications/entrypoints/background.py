"""notifications' background loops, all started here: the dispatcher that sends due deliveries,
and the delivery log's pruner."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fireline_notifications.config import Settings
from fireline_notifications.service_layer.context import NotificationsContext
from fireline_notifications.service_layer.deliveries import prune_deliveries
from fireline_notifications.service_layer.dispatch import Dispatcher
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.periodic import run_periodically
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 600.0
"""Retention is counted in days; every ten minutes is plenty."""


def start(
    runtime: ServiceRuntime,
    context: NotificationsContext,
    settings: Settings,
    *,
    dispatcher: Dispatcher,
) -> None:
    """Spawn every loop; called once the migrations ran (an ``on_start`` hook), so the first
    pass finds what a previous process left pending."""
    runtime.spawn(
        run_dispatcher(dispatcher, poll_interval_s=settings.notifications_poll_interval_s),
        "webhook-dispatcher",
    )
    runtime.spawn(
        run_pruner(context.uow, retention_s=settings.notifications_retention_s),
        "delivery-log-pruner",
    )


async def run_dispatcher(dispatcher: Dispatcher, *, poll_interval_s: float) -> None:
    """Claim and send until cancelled; woken early by new deliveries and freed slots."""
    await run_periodically(
        "webhook dispatch", dispatcher.pass_once, interval_s=poll_interval_s, wake=dispatcher.wake
    )


async def run_pruner(uow: UnitOfWorkFactory[UnitOfWork], *, retention_s: float) -> None:
    retention = timedelta(seconds=retention_s)

    async def prune() -> bool:
        deleted = await prune_deliveries(uow=uow(), finished_before=datetime.now(UTC) - retention)
        if deleted:
            log.info("old deliveries deleted", extra={"deleted": deleted})
        return False

    await run_periodically("delivery log pruning", prune, interval_s=PRUNE_INTERVAL_S)
