"""The notifications service's own Prometheus metrics, on its runtime's registry (see bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from fireline_notifications.domain.delivery import OUTCOMES, Outcome
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory


class NotificationsMetrics:
    def __init__(self, runtime: ServiceRuntime, uow: UnitOfWorkFactory[UnitOfWork]) -> None:
        registry = runtime.metrics.registry
        self._uow = uow
        self.attempts = Counter(
            "fireline_notification_attempts",
            "Outgoing webhook attempts by outcome: succeeded (2xx), retrying (failed, retried "
            "later), rate_limited (429 with Retry-After), failed (out of retries), gone (410).",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:  # at 0 from the start, so increase() sees the first one
            self.attempts.labels(outcome)
        self.backlog = Gauge(
            "fireline_notification_backlog",
            "Outgoing webhook deliveries pending (due or waiting for a retry).",
            registry=registry,
        )
        self.oldest_pending = Gauge(
            "fireline_notification_oldest_pending_age_seconds",
            "Age of the oldest pending delivery, per endpoint with any pending.",
            ["endpoint_id"],
            registry=registry,
        )
        runtime.on_scrape(self._sample)

    def attempted(self, outcome: Outcome) -> None:
        self.attempts.labels(outcome).inc()

    async def _sample(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        async with self._uow().reading() as uow:
            ages = await uow.deliveries.pending_ages(now())
        self.backlog.set(sum(a.pending for a in ages))
        # Endpoints come and go; one with nothing pending is not reported.
        self.oldest_pending.clear()
        for age in ages:
            self.oldest_pending.labels(str(age.endpoint_id)).set(age.oldest_age_s)
