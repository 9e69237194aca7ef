"""identity's background loops, all started here: session pruning, audit retention and the keys
topic's watermarks."""

from __future__ import annotations

from datetime import timedelta

from fireline_contracts import utc_now
from fireline_identity.adapters.watermarks import RelayedKeysTopic
from fireline_identity.config import Settings
from fireline_identity.service_layer import audit, sessions, watermarks
from fireline_identity.service_layer.context import IdentityContext
from fireline_runtime.periodic import run_periodically
from fireline_runtime.service import ServiceRuntime

PRUNE_INTERVAL_S = 600.0
AUDIT_RETENTION_INTERVAL_S = 3600.0


def start(
    runtime: ServiceRuntime, context: IdentityContext, settings: Settings, *, watermarks_on: bool
) -> None:
    """Spawn every loop; called once the migrations ran (an ``on_start`` hook)."""
    runtime.spawn(_prune_forever(context), "identity-prune")
    if watermarks_on:
        interval = settings.keys_watermark_interval_s
        topic = RelayedKeysTopic(runtime)
        runtime.spawn(_watermarks_forever(context, topic, interval), "keys-watermarks")
    retention = timedelta(days=settings.audit_retention_days)
    runtime.spawn(_apply_audit_retention_forever(context, retention), "identity-audit-retention")


async def _watermarks_forever(
    context: IdentityContext, topic: RelayedKeysTopic, interval_s: float
) -> None:
    async def step() -> None:
        await watermarks.write_watermarks(context.uow(), topic, utc_now)

    await run_periodically("keys watermarks", step, interval_s=interval_s, max_backoff_s=5.0)


async def _prune_forever(context: IdentityContext) -> None:
    async def prune() -> None:
        await sessions.prune(uow=context.uow(), policy=context.policy)

    await run_periodically("session pruning", prune, interval_s=PRUNE_INTERVAL_S)


async def _apply_audit_retention_forever(context: IdentityContext, retention: timedelta) -> None:
    async def prune() -> bool:
        return await audit.prune(uow=context.uow(), retention=retention)

    await run_periodically("audit retention", prune, interval_s=AUDIT_RETENTION_INTERVAL_S)
