"""Background loop: publish each finished minute's failed key exchanges (for the audit log)."""

from __future__ import annotations

from fireline_auth.service_layer.context import AuthContext
from fireline_auth.service_layer.exchange_failures import report_failures
from fireline_runtime.periodic import run_periodically
from fireline_runtime.service import Hook, ServiceRuntime

# Well under a minute, so a finished minute is reported within seconds of its end.
REPORT_INTERVAL_S = 10.0


def start(ctx: AuthContext) -> Hook:
    """The start hook that runs the loop for the service's lifetime."""

    async def report() -> None:
        await report_failures(ctx.uow(), ctx.exchange_failures, ctx.clock())

    async def spawn(rt: ServiceRuntime) -> None:
        rt.spawn(
            run_periodically("failed exchange reports", report, interval_s=REPORT_INTERVAL_S),
            "exchange-failure-reports",
        )

    return spawn
