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

``KeyRotated`` takes the same path into ``key_rotations``: the fingerprints of the new secret and
of the one it replaced, and the end of the grace period, after which only the new secret's tokens
are honoured. A token bought with a secret a later rotation issued is refused until that
rotation's event arrives here too (tens of milliseconds), as a new key's tokens would be.
"""

from __future__ import annotations

import logging

import httpx

from fireline_contracts import (
    KEYS,
    SESSIONS,
    EventEnvelope,
    KeyRevoked,
    KeyRotated,
    KeysWatermark,
    SessionRevoked,
)
from fireline_contracts.api_keys import secret_fingerprint
from fireline_runtime import keys_view
from fireline_runtime.consumers import EventHandler, Treatment
from fireline_runtime.db import Connection, listen
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.revocation import RevokedKeys, Rotation
from fireline_runtime.revocations_repository import (
    REVOKED_CHANNEL,
    ROTATED_CHANNEL,
    PgRevocationsRepository,
    parse_rotation_notice,
)
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import TokenSettings
from fireline_runtime.tokens import JwksCache, TokenVerifier

log = logging.getLogger(__name__)


def enable_bearer_auth(runtime: ServiceRuntime, settings: TokenSettings) -> BearerAuth:
    """Protect ``runtime``'s app with access tokens; the app's routes use ``require_scope``."""
    revoked = RevokedKeys()
    client = httpx.AsyncClient(timeout=5.0)
    jwks = JwksCache.from_url(client, settings.jwks_url)
    verifier = TokenVerifier(
        jwks,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        leeway_s=settings.token_leeway_s,
        algorithms=settings.token_algorithms,
    )
    view = keys_view.follow_identity_keys(runtime, settings)
    bearer = BearerAuth(verifier, revoked, view)
    runtime.use_bearer_auth(bearer)

    async def record(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeysWatermark):
            await keys_view.record(conn, event)
        elif isinstance(event, KeyRotated):
            await PgRevocationsRepository(conn).record_rotation(
                event.payload.key_id, _rotation(event)
            )
        elif isinstance(event, KeyRevoked):
            await PgRevocationsRepository(conn).revoke_key(
                event.payload.key_id, event.org_id, event.payload.revoked_at
            )
        elif isinstance(event, SessionRevoked):
            await PgRevocationsRepository(conn).revoke_session(
                event.payload.session_id, event.org_id, event.occurred_at
            )

    def remember(event: EventEnvelope) -> None:
        if isinstance(event, KeysWatermark) and view is not None:
            keys_view.remember(view, event)
        elif isinstance(event, KeyRevoked):
            revoked.add(str(event.payload.key_id))
        elif isinstance(event, SessionRevoked):
            revoked.add(str(event.payload.session_id))
        elif isinstance(event, KeyRotated):
            revoked.rotated(str(event.payload.key_id), _rotation(event))

    async def load(conn: Connection) -> None:
        stored = PgRevocationsRepository(conn)
        for denied in await stored.denied_ids():
            revoked.add(denied)
        for key_id, rotation in await stored.rotations():
            revoked.rotated(key_id, rotation)

    def on_notify(_conn: object, _pid: int, channel: str, payload: object) -> None:
        if channel == ROTATED_CHANNEL:
            revoked.rotated(*parse_rotation_notice(str(payload)))
        else:
            revoked.add(str(payload))

    async def start(rt: ServiceRuntime) -> None:
        async with rt.pool.acquire() as conn:
            await load(conn)  # before traffic is served
        # After every (re)connection the table is read again: a revocation notified while this
        # replica was not listening is still in it.
        for channel in (REVOKED_CHANNEL, ROTATED_CHANNEL):
            listener = listen(rt.settings.database_url, channel, on_notify, on_listening=load)
            rt.spawn(listener, f"{channel}-listener")

    async def close(_: ServiceRuntime) -> None:
        await client.aclose()

    runtime.on_start(start)
    runtime.on_stop(close)

    def triage(event: EventEnvelope) -> Treatment:
        # Only revocations and rotations change the deny list, each claimed once; a watermark
        # is an upsert a replay cannot undo. Key creations, renames and session starts change
        # nothing here: acknowledged without a transaction.
        if isinstance(event, KeyRevoked | KeyRotated | SessionRevoked):
            return "once"
        if isinstance(event, KeysWatermark):
            return keys_view.watermarks_idempotent(event)
        return "ignore"

    runtime.consume(
        EventHandler(
            name=f"{runtime.service}.revoked-keys",
            topic=KEYS,
            handle=record,
            after_commit=remember,
            triage=triage,
            description="Keeps the deny list of revoked API keys and of secrets rotations retired.",
        )
    )
    runtime.consume(
        EventHandler(
            name=f"{runtime.service}.revoked-sessions",
            topic=SESSIONS,
            handle=record,
            after_commit=remember,
            triage=triage,
            description="Keeps the deny list of ended sessions, whose people's tokens it refuses.",
        )
    )
    return bearer


def _rotation(event: KeyRotated) -> Rotation:
    payload = event.payload
    rotated_at = payload.rotated_at.timestamp()
    return Rotation(
        current=secret_fingerprint(payload.digest),
        previous=secret_fingerprint(payload.previous_digest) if payload.previous_digest else None,
        valid_until=(
            payload.previous_valid_until.timestamp()
            if payload.previous_valid_until is not None
            else rotated_at
        ),
        rotated_at=rotated_at,
    )
