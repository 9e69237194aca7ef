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
from fireline_runtime.db import Connection, listen
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.messaging import EventHandler
from fireline_runtime.revocation import RevokedKeys, Rotation
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import TokenSettings
from fireline_runtime.tokens import JwksCache, TokenVerifier

log = logging.getLogger(__name__)

REVOKED_CHANNEL = "fireline_revoked_keys"
ROTATED_CHANNEL = "fireline_key_rotations"
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
    runtime.bearer_auth = bearer
    runtime.revoked_keys = revoked

    async def record(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeysWatermark):
            await keys_view.record(conn, event)
            return
        if isinstance(event, KeyRotated):
            await _record_rotation(conn, event)
            return
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
        if isinstance(event, KeysWatermark) and view is not None:
            keys_view.remember(view, event)
        elif isinstance(event, KeyRevoked):
            revoked.add(str(event.payload.key_id))
        elif isinstance(event, SessionRevoked):
            revoked.add(str(event.payload.session_id))
        elif isinstance(event, KeyRotated):
            revoked.rotated(str(event.payload.key_id), _rotation(event))

    async def load(conn: Connection) -> None:
        for row in await conn.fetch(
            "SELECT key_id AS id FROM revoked_keys"
            " UNION ALL SELECT session_id FROM revoked_sessions"
        ):
            revoked.add(str(row["id"]))
        rows = await conn.fetch(
            "SELECT key_id, current_fingerprint, previous_fingerprint,"
            " extract(epoch FROM valid_until) AS valid_until,"
            " extract(epoch FROM rotated_at) AS rotated_at FROM key_rotations"
        )
        for row in rows:
            rotation = Rotation(
                current=row["current_fingerprint"],
                previous=row["previous_fingerprint"],
                valid_until=float(row["valid_until"]),
                rotated_at=float(row["rotated_at"]),
            )
            revoked.rotated(str(row["key_id"]), rotation)

    def on_notify(_conn: object, _pid: int, channel: str, payload: object) -> None:
        if channel == ROTATED_CHANNEL:
            revoked.rotated(*_parse_notice(str(payload)))
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
    runtime.consume(
        EventHandler(
            name=f"{runtime.service}.revoked-keys",
            topic=KEYS,
            handle=record,
            after_commit=remember,
            description="Keeps the deny list of revoked API keys and of secrets rotations retired.",
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


async def _record_rotation(conn: Connection, event: KeyRotated) -> None:
    """Store the key's latest rotation (an older one never overwrites it) and tell every
    replica's listener at commit."""
    rotation = _rotation(event)
    await conn.execute(
        """
        INSERT INTO key_rotations (key_id, current_fingerprint, previous_fingerprint,
                                   valid_until, rotated_at)
        VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5))
        ON CONFLICT (key_id) DO UPDATE SET
            current_fingerprint = EXCLUDED.current_fingerprint,
            previous_fingerprint = EXCLUDED.previous_fingerprint,
            valid_until = EXCLUDED.valid_until,
            rotated_at = EXCLUDED.rotated_at
        WHERE key_rotations.rotated_at <= EXCLUDED.rotated_at
        """,
        event.payload.key_id,
        rotation.current,
        rotation.previous,
        rotation.valid_until,
        rotation.rotated_at,
    )
    await conn.execute(
        "SELECT pg_notify($1, $2)",
        ROTATED_CHANNEL,
        _notice(str(event.payload.key_id), rotation),
    )


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


def _notice(key_id: str, rotation: Rotation) -> str:
    previous = rotation.previous or "-"
    return (
        f"{key_id} {rotation.current} {previous} {rotation.valid_until!r} {rotation.rotated_at!r}"
    )


def _parse_notice(payload: str) -> tuple[str, Rotation]:
    key_id, current, previous, valid_until, rotated_at = payload.split(" ")
    rotation = Rotation(
        current=current,
        previous=None if previous == "-" else previous,
        valid_until=float(valid_until),
        rotated_at=float(rotated_at),
    )
    return key_id, rotation
