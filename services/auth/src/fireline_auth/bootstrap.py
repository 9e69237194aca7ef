"""Composition root of the auth service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_auth import metrics
from fireline_auth.adapters.key_cache import CachedKeys
from fireline_auth.adapters.keyring import KeyRing
from fireline_auth.adapters.postgres import PgUnitOfWork
from fireline_auth.adapters.rate_limit import SlidingWindowLimiter
from fireline_auth.config import Settings
from fireline_auth.domain.errors import ConfigurationError
from fireline_auth.entrypoints import background, consumers, oauth, wellknown
from fireline_auth.entrypoints.errors import ERRORS, oauth_error
from fireline_auth.migrations import migrations
from fireline_auth.service_layer import introspection, signing_keys
from fireline_auth.service_layer.authentication import ADDRESS
from fireline_auth.service_layer.context import AuthContext, Clock, TokenPolicy, utc_now
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import KEY_EXCHANGE_FAILURES, KEY_USAGE
from fireline_runtime import keys_view
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory

SERVICE = "auth"

DESCRIPTION = """Exchanges API keys for short-lived access tokens (RFC 6749 client credentials,
RFC 9068 JWTs signed with RS256 by default, or ES256 or Ed25519), publishes the signing keys
(JWKS) and server metadata (RFC 8414), and introspects tokens (RFC 7662). OAuth endpoints answer
errors in the RFC 6749 §5.2 shape. Failed client authentications are rate-limited per client id
and per address, in each process's memory (so N replicas allow N times the budget); a correct
secret is only ever refused for its address's failures, never for its client id's."""


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=migrations(),
        topics=[KEY_USAGE, KEY_EXCHANGE_FAILURES],
    )
    # Signing keys sealed before the box was versioned still open; new ones are sealed versioned.
    box = SecretBox(settings.encryption_key, accept_unversioned=True)
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(
            runtime.outbox, conn=conn, pool=runtime.pool if conn is None else None
        )
    )
    keys = CachedKeys(uow)
    view = keys_view.follow_identity_keys(runtime, settings)
    retention = settings.signing_key_retention
    ctx = AuthContext(
        uow=uow,
        box=box,
        keyring=KeyRing(box, lambda: retention),
        limiter=SlidingWindowLimiter(
            limit=settings.failed_auth_limit,
            window_s=settings.failed_auth_window_s,
            limits_by_kind={ADDRESS: settings.failed_auth_address_limit},
        ),
        policy=TokenPolicy(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            lifetime_s=settings.token_ttl_s,
            key_usage_interval_s=settings.key_usage_interval_s,
            publish_ahead_s=settings.signing_key_publish_ahead_s,
            rotation_period_s=settings.signing_key_rotation_s,
            signing_algorithm=settings.token_signing_alg,
            algorithm_chosen_at=clock(),
        ),
        keys=keys,
        clock=clock,
        ui_client=settings.ui_client,
        keys_view=view,
        trusted_proxy_hops=settings.trusted_proxy_hops,
        jwks_max_age_s=settings.jwks_max_age_s,
    )
    runtime.consume(consumers.key_projection(uow, view))
    metrics.install(runtime, ctx)

    async def start_signing(rt: ServiceRuntime) -> None:
        await signing_keys.ensure_signing_key(
            uow(), box=box, algorithm=settings.token_signing_alg, now=clock()
        )
        await signing_keys.load_signing_keys(uow(), ctx.keyring)
        if ctx.keyring.signer(clock()) is None:
            raise ConfigurationError(
                "the current signing key does not decrypt with "
                "FIRELINE_SIGNING_KEY_ENCRYPTION_KEY; "
                "restore the previous encryption key, or run `fireline-auth rotate-keys "
                "--immediate` with the new one to start signing with a fresh key"
            )
        background.start(rt, ctx, settings, keys=keys)

    runtime.on_start(start_signing)
    app = runtime.build_app(
        title="Fireline auth", description=DESCRIPTION, routers=[oauth.router, wellknown.router]
    )
    app.state.context = ctx
    app.state.auth_verifier = introspection.local_verifier(ctx)
    ERRORS.install(app, render=oauth_error)
    return app
