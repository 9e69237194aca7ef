"""The background loops: the dispatcher that sends due deliveries, and the log's pruner."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fireline_notifications.service_layer.deliveries import prune_deliveries
from fireline_notifications.service_layer.dispatch import Dispatcher
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.periodic import run_periodically
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 600.0
"""Retention is counted in days; every ten minutes is plenty."""


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
