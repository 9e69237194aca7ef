"""Background loop: keep this replica's signing keys current and rotate them on schedule."""

from __future__ import annotations

from datetime import timedelta

from fireline_auth.service_layer import signing_keys
from fireline_auth.service_layer.context import AuthContext
from fireline_runtime.periodic import run_periodically


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
