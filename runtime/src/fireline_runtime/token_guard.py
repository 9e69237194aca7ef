"""Bearer-token protection for a service, wired in one call from its composition root.

It builds the one verifier (JWKS from the auth service, cached), and keeps the deny list that the
request path checks in memory: revoked API keys, and ended sessions of people (whose tokens name
their session as ``sid``):

* consumers of the keys and sessions topics record every ``KeyRevoked`` and ``SessionRevoked``
  (a logout, or a deactivated user's sessions) in the service's own database, so a restart
  forgets nothing;
* the service's replicas share one consumer group, so only one of them receives each event. The
  consumer therefore also sends a NOTIFY in the same transaction, and every replica LISTENs and adds
  the key to its own set; a replica that (re)connects reloads the whole table, so a notification
  missed while it was away is not a revocation missed.
"""

from __future__ import annotations

import logging

import httpx

from fireline_contracts import KEYS, SESSIONS, EventEnvelope, KeyRevoked, SessionRevoked
from fireline_runtime.db import Connection, listen
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.messaging import EventHandler
from fireline_runtime.revocation import RevokedKeys
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import TokenSettings
from fireline_runtime.tokens import JwksCache, TokenVerifier

log = logging.getLogger(__name__)

REVOKED_CHANNEL = "fireline_revoked_keys"
_INSERT_KEY = """
    INSERT INTO revoked_keys (key_id, org_id, revoked_at) VALUES ($1, $2, $3)
    ON CONFLICT (key_id) DO NOTHING
"""
_INSERT_SESSION = """
    INSERT INTO revoked_sessions (session_id, org_id, revoked_at) VALUES ($1, $2, $3)
    ON CONFLICT (session_id) DO NOTHING
"""


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
        algorithms=settings.token_algorithms,
    )
    bearer = BearerAuth(verifier, revoked)
    runtime.bearer_auth = bearer
    runtime.revoked_keys = revoked

    async def record(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeyRevoked):
            insert, denied, at = _INSERT_KEY, event.payload.key_id, event.payload.revoked_at
        elif isinstance(event, SessionRevoked):
            insert, denied, at = _INSERT_SESSION, event.payload.session_id, event.occurred_at
        else:
            return
        await conn.execute(insert, denied, event.org_id, at)
        # Delivered to every replica's listener at commit, never for a rolled-back insert. Key
        # and session ids are both random UUIDs, so one set and one channel serve both.
        await conn.execute("SELECT pg_notify($1, $2)", REVOKED_CHANNEL, str(denied))

    def remember(event: EventEnvelope) -> None:
        if isinstance(event, KeyRevoked):
            revoked.add(str(event.payload.key_id))
        elif isinstance(event, SessionRevoked):
            revoked.add(str(event.payload.session_id))

    async def load(conn: Connection) -> None:
        for row in await conn.fetch(
            "SELECT key_id AS id FROM revoked_keys"
            " UNION ALL SELECT session_id FROM revoked_sessions"
        ):
            revoked.add(str(row["id"]))

    def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        revoked.add(str(payload))

    async def start(rt: ServiceRuntime) -> None:
        async with rt.pool.acquire() as conn:
            await load(conn)  # before traffic is served
        # After every (re)connection the table is read again: a revocation notified while this
        # replica was not listening is still in it.
        listener = listen(rt.settings.database_url, REVOKED_CHANNEL, on_notify, on_listening=load)
        rt.spawn(listener, "revoked-keys-listener")

    async def close(_: ServiceRuntime) -> None:
        await client.aclose()

    runtime.on_start(start)
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
    runtime.consume(
        EventHandler(
            name=f"{runtime.service}.revoked-sessions",
            topic=SESSIONS,
            handle=record,
            after_commit=remember,
            description="Keeps the deny list of ended sessions, whose people's tokens it refuses.",
        )
    )
    return bearer
