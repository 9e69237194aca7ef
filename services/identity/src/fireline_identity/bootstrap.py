"""Composition root of the identity service."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from fireline_contracts import KEYS, SESSIONS, USERS
from fireline_identity import metrics
from fireline_identity.adapters.incidents_api import IncidentsApi
from fireline_identity.adapters.passwords import Argon2Hasher
from fireline_identity.adapters.people_tokens import PeopleTokens
from fireline_identity.adapters.postgres import PgUnitOfWork
from fireline_identity.adapters.scanning_keys import ScanningKeyFile
from fireline_identity.config import Settings
from fireline_identity.domain.origins import allowed_origins
from fireline_identity.domain.sessions import SessionPolicy
from fireline_identity.entrypoints import background
from fireline_identity.entrypoints.audit_api import router as audit_router
from fireline_identity.entrypoints.consumers import audit_consumers, key_usage_consumer
from fireline_identity.entrypoints.errors import ERRORS
from fireline_identity.entrypoints.incidents_bff import router as incidents_bff_router
from fireline_identity.entrypoints.keys_api import router as keys_router
from fireline_identity.entrypoints.origin_guard import ForeignOriginGuard
from fireline_identity.entrypoints.secret_scanning_api import router as scanning_router
from fireline_identity.entrypoints.session_api import router as session_router
from fireline_identity.entrypoints.ui import router as ui_router
from fireline_identity.entrypoints.users_api import router as users_router
from fireline_identity.migrations import migrations
from fireline_identity.service_layer import orgs
from fireline_identity.service_layer.context import CookieSettings, IdentityContext
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.event_signing import EventSigner
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

SERVICE = "identity"

DESCRIPTION = (
    "Orgs, users, human sessions and self-serve API keys. Authenticated by the session cookie "
    "that `POST /v1/session` sets; state-changing requests from a foreign `Origin` are refused."
)


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=migrations(),
        topics=[KEYS, USERS, SESSIONS],
    )
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(
            runtime.outbox, conn=conn, pool=runtime.pool if conn is None else None
        )
    )
    watermarks_on = _sign_key_events(runtime, settings)
    runtime.consume(key_usage_consumer(uow))
    for handler in audit_consumers(uow):
        runtime.consume(handler)
    metrics.install(runtime, uow)
    context = IdentityContext(
        uow=uow,
        hasher=Argon2Hasher(),
        policy=SessionPolicy(
            idle_timeout=timedelta(seconds=settings.session_idle_timeout_s),
            absolute_timeout=timedelta(seconds=settings.session_absolute_timeout_s),
        ),
        cookie=CookieSettings(secure=settings.cookie_secure),
        trusted_proxy_hops=settings.trusted_proxy_hops,
        scanning_keys=(
            ScanningKeyFile(Path(settings.secret_scanning_keys_file))
            if settings.secret_scanning_keys_file
            else None
        ),
    )
    if (ui_secret := settings.ui_client_secret) is not None:
        # One client for both upstreams; the UI's calls are short, streams have their own reads.
        upstream = httpx.AsyncClient(timeout=10.0)
        context = replace(
            context,
            people_tokens=PeopleTokens(
                upstream,
                token_url=f"{settings.auth_url.rstrip('/')}/oauth/token",
                audience=settings.token_issuer,
                client_id=settings.ui_client_id,
                secret=ui_secret,
            ),
            incidents_api=IncidentsApi(upstream, settings.incidents_url),
        )

        async def close_upstream(_: ServiceRuntime) -> None:
            await upstream.aclose()

        runtime.on_stop(close_upstream)

    async def on_start(rt: ServiceRuntime) -> None:
        email, password = settings.admin_email, settings.admin_password
        if email and password is not None:
            # A weak or malformed bootstrap credential stops start-up with the reason, rather
            # than leaving an org nobody can log in to.
            await orgs.bootstrap_default_org(
                uow=context.uow(),
                hasher=context.hasher,
                admin_email=email,
                admin_password=password.get_secret_value(),
            )
        elif email or password is not None:
            log.warning(
                "FIRELINE_ADMIN_EMAIL and FIRELINE_ADMIN_PASSWORD must both be set to bootstrap "
                "an admin; ignoring the one that is set"
            )
        background.start(rt, context, settings, watermarks_on=watermarks_on)

    runtime.on_start(on_start)
    app = runtime.build_app(
        title="Fireline identity",
        description=DESCRIPTION,
        routers=[
            session_router,
            users_router,
            keys_router,
            scanning_router,
            audit_router,
            incidents_bff_router,
            ui_router,
        ],
    )
    app.state.context = context
    ERRORS.install(app)
    app.add_middleware(
        ForeignOriginGuard,
        allowed=allowed_origins(settings.public_url, settings.extra_origins()),
    )
    return app


def _sign_key_events(runtime: ServiceRuntime, settings: Settings) -> bool:
    """Sign the keys topic's records, and read only signed ones back (the audit log)."""
    if settings.event_signing_key is None:
        log.warning(
            "FIRELINE_EVENT_SIGNING_KEY is not set: key events are not signed, and services "
            "that check signatures will refuse them"
        )
        return False
    signer = EventSigner(settings.event_signing_key.get_secret_value())
    runtime.outbox.sign(KEYS, signer)
    runtime.require_signature(KEYS, signer.verifier())
    return True
