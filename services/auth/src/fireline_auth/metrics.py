"""The auth service's own Prometheus metrics, on its runtime's registry (see bootstrap)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from fireline_auth.domain import signing
from fireline_auth.service_layer.context import AuthContext
from fireline_runtime.service import ServiceRuntime

TOKEN_ROUTES = ("/oauth/token", "/api/v2/identity/token")


def install(runtime: ServiceRuntime, ctx: AuthContext) -> None:
    registry = runtime.metrics.registry
    exchanges = Counter(
        "fireline_token_exchanges",
        "API-key-for-token exchanges by outcome (ok: a token was issued; otherwise the OAuth "
        "error code, e.g. invalid_client, rate_limited) and HTTP status.",
        ["outcome", "status"],
        registry=registry,
    )
    for route in TOKEN_ROUTES:
        runtime.count_outcomes(route, exchanges, initial=[("ok", "200"), ("invalid_client", "401")])
    age = Gauge(
        "fireline_signing_key_age_seconds",
        "Time since the signing key this process signs with became active; +Inf when none can "
        "sign (sampled at scrape time).",
        registry=registry,
    )
    period = Gauge(
        "fireline_signing_key_rotation_period_seconds",
        "How long a signing key signs before the schedule rotates it (the setting).",
        registry=registry,
    )
    period.set(ctx.policy.rotation_period_s)

    async def sample() -> None:
        now = ctx.clock()
        current = signing.current_key(ctx.keyring.keys, now)
        age.set((now - current.activates_at).total_seconds() if current else float("inf"))

    runtime.on_scrape(sample)
