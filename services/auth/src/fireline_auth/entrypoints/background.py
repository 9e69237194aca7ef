"""auth's background loops, all started here: the signing-key schedule, the failed-exchange
reports and the API-key cache's listener."""

from __future__ import annotations

from datetime import timedelta

from fireline_auth.adapters.key_cache import CachedKeys
from fireline_auth.config import Settings
from fireline_auth.service_layer import signing_keys
from fireline_auth.service_layer.context import AuthContext
from fireline_auth.service_layer.exchange_failures import report_failures
from fireline_runtime.periodic import run_periodically
from fireline_runtime.service import ServiceRuntime

# Well under a minute, so a finished minute is reported within seconds of its end.
REPORT_INTERVAL_S = 10.0


def start(
    runtime: ServiceRuntime, ctx: AuthContext, settings: Settings, *, keys: CachedKeys
) -> None:
    """Spawn every loop; called once the signing keys are loaded (an ``on_start`` hook)."""
    runtime.spawn(keys.cache.run(settings.database_url), "api-key-cache-listener")
    schedule = run_signing_key_schedule(
        ctx, refresh_s=settings.signing_key_refresh_s, retention=settings.signing_key_retention
    )
    runtime.spawn(schedule, "signing-key-schedule")
    runtime.spawn(report_exchange_failures(ctx), "exchange-failure-reports")


async def run_signing_key_schedule(
    ctx: AuthContext, *, refresh_s: float, retention: timedelta
) -> None:
    """Every ``refresh_s``: rotate if due (any replica may; the lock makes it once) and reload."""
    policy = ctx.policy

    async def rotate_and_reload() -> None:
        await signing_keys.scheduled_rotation(
            ctx.uow(),
            box=ctx.box,
            algorithm=policy.signing_algorithm,
            now=ctx.clock(),
            rotation_period=timedelta(seconds=policy.rotation_period_s),
            publish_ahead=timedelta(seconds=policy.publish_ahead_s),
            retention=retention,
            algorithm_chosen_at=policy.algorithm_chosen_at,
        )
        await signing_keys.load_signing_keys(ctx.uow(), ctx.keyring)

    # Start-up already loaded the keys: the first pass is one period away.
    await run_periodically(
        "signing key schedule",
        rotate_and_reload,
        interval_s=refresh_s,
        initial_delay_s=refresh_s,
        max_backoff_s=max(refresh_s, 30.0),
    )


async def report_exchange_failures(ctx: AuthContext) -> None:
    """Publish each finished minute's failed key exchanges (for the audit log)."""

    async def report() -> None:
        await report_failures(ctx.uow(), ctx.exchange_failures, ctx.clock())

    await run_periodically("failed exchange reports", report, interval_s=REPORT_INTERVAL_S)
