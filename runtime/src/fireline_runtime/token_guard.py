"""Bearer-token protection for a service, wired in one call from its composition root.

It builds the one verifier (JWKS from the auth service, cached), and keeps the revoked-key deny
list: a consumer of the keys topic records every ``KeyRevoked`` in the service's own database (so a
restart forgets nothing) and adds it to the in-memory set the request path checks.
"""

from __future__ import annotations

import httpx

from fireline_contracts import KEYS, EventEnvelope, KeyRevoked
from fireline_runtime.db import Connection
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.messaging import EventHandler
from fireline_runtime.revocation import RevokedKeys
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import TokenSettings
from fireline_runtime.tokens import JwksCache, TokenVerifier


def enable_bearer_auth(runtime: ServiceRuntime, settings: TokenSettings) -> BearerAuth:
    """Protect ``runtime``'s app with access tokens; the app's routes use ``require_scope``."""
    revoked = RevokedKeys()
    client = httpx.AsyncClient(timeout=5.0)
    jwks = JwksCache.from_url(client, settings.fireline_jwks_url)
    verifier = TokenVerifier(
        jwks,
        issuer=settings.fireline_token_issuer,
        audience=settings.fireline_token_audience,
        leeway_s=settings.fireline_token_leeway_s,
    )
    bearer = BearerAuth(verifier, revoked)
    runtime.bearer_auth = bearer

    async def record(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeyRevoked):
            await conn.execute(
                """
                INSERT INTO revoked_keys (key_id, org_id, revoked_at) VALUES ($1, $2, $3)
                ON CONFLICT (key_id) DO NOTHING
                """,
                event.payload.key_id,
                event.org_id,
                event.payload.revoked_at,
            )

    def remember(event: EventEnvelope) -> None:
        if isinstance(event, KeyRevoked):
            revoked.add(str(event.payload.key_id))

    async def load(rt: ServiceRuntime) -> None:
        async with rt.pool.acquire() as conn:
            for row in await conn.fetch("SELECT key_id FROM revoked_keys"):
                revoked.add(str(row["key_id"]))

    async def close(_: ServiceRuntime) -> None:
        await client.aclose()

    runtime.on_start(load)
    runtime.on_stop(close)
    runtime.consume(
        EventHandler(
            name=f"{runtime.service}.revoked-keys",
            topic=KEYS,
            handle=record,
            after_commit=remember,
            description="Keeps the deny list of revoked API keys.",
        )
    )
    return bearer
