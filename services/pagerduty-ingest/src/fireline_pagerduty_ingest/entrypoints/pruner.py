"""The retention loop: deletes finished deliveries, raw bodies included, once they are old.

Without it every delivery body PagerDuty ever sent would stay in the database. One loop per
process; replicas pruning at the same time skip each other's rows instead of waiting for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fireline_pagerduty_ingest.service_layer.deliveries import prune_deliveries
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.periodic import run_periodically
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 600.0
"""How often old deliveries are looked for: retention is counted in days, so minutes are plenty,
and each pass is an index range scan over what it deletes."""


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
