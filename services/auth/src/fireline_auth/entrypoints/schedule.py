"""Background loop: keep this replica's signing keys current and rotate them on schedule."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fireline_auth.service_layer import signing_keys
from fireline_auth.service_layer.context import AuthContext
from fireline_runtime.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


async def run_signing_key_schedule(
    ctx: AuthContext, *, refresh_s: float, retention: timedelta
) -> None:
    """Every ``refresh_s``: rotate if due (any replica may; the lock makes it once) and reload."""
    policy = ctx.policy
    while True:
        await asyncio.sleep(refresh_s)
        try:
            async with ctx.pool.acquire() as conn:
                await signing_keys.scheduled_rotation(
                    conn,
                    box=ctx.box,
                    now=ctx.clock(),
                    rotation_period=timedelta(seconds=policy.rotation_period_s),
                    publish_ahead=timedelta(seconds=policy.publish_ahead_s),
                    retention=retention,
                )
                await ctx.keyring.refresh(conn)
        except asyncio.CancelledError:
            raise
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("signing keys not refreshed: no database", extra={"error": repr(exc)})
        except Exception:
            log.exception("signing key schedule failed; retrying")
