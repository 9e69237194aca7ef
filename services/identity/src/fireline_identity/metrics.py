"""The identity service's own Prometheus metrics, on its runtime's registry (see bootstrap)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import Gauge

from fireline_identity.domain.keys import MAX_ACTIVE_KEYS_PER_ORG
from fireline_identity.service_layer import keys
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def install(runtime: ServiceRuntime, uow: UnitOfWorkFactory[UnitOfWork]) -> None:
    registry = runtime.metrics.registry
    # Labelled by how many keys, never by which org: tenant ids do not belong in a monitoring
    # system (anyone reading it learns them) and one series per org grows without bound.
    orgs = Gauge(
        "fireline_orgs_by_active_keys",
        "Orgs having exactly `active_keys` active (not revoked, not expired) API keys, 1 to the "
        "limit (sampled at scrape time).",
        ["active_keys"],
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
        tally = Counter(min(count, MAX_ACTIVE_KEYS_PER_ORG) for count in counts.values())
        for active_keys in range(1, MAX_ACTIVE_KEYS_PER_ORG + 1):
            orgs.labels(str(active_keys)).set(tally[active_keys])

    runtime.on_scrape(sample)
