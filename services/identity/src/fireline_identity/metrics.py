"""The identity service's own Prometheus metrics, on its runtime's registry (see bootstrap)."""

from __future__ import annotations

from prometheus_client import Gauge

from fireline_identity.domain.keys import MAX_ACTIVE_KEYS_PER_ORG
from fireline_identity.service_layer import keys
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def install(runtime: ServiceRuntime, uow: UnitOfWorkFactory[UnitOfWork]) -> None:
    registry = runtime.metrics.registry
    active = Gauge(
        "fireline_api_keys_active",
        "Active (not revoked, not expired) API keys of each org (sampled at scrape time).",
        ["org_id"],
        registry=registry,
    )
    limit = Gauge(
        "fireline_api_keys_limit",
        "The most active API keys an org may have; one more is refused (409).",
        registry=registry,
    )
    limit.set(MAX_ACTIVE_KEYS_PER_ORG)

    async def sample() -> None:
        counts = await keys.count_active_keys_by_org(uow=uow())
        active.clear()  # an org whose keys are all revoked or gone is not reported at 0 forever
        for org_id, count in counts.items():
            active.labels(str(org_id)).set(count)

    runtime.on_scrape(sample)
