"""asyncpg pool creation with the retry a freshly started service needs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now", as opposed to a bug in a query. Consumers
# and the relay wait these out instead of dead-lettering a message or dropping an event.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A connection whose server went away mid-answer (a restart sends FATAL, then closes) can be
    # handed out again before asyncpg has seen the close; the next query on it fails with "cannot
    # switch to state 12; another operation (2) is in progress". Nothing is wrong with the query.
    asyncpg.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns come back as Python objects and go in from dicts, so adapters never dump by hand.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Release a pooled connection as it is.

    asyncpg's default reset costs a round trip on every release (``pg_advisory_unlock_all``,
    ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``): 4% of a webhook's CPU in the profile. Fireline
    never leaves session state on a pooled connection: LISTEN and the relay's session lock live on
    connections of their own, and the migration lock is released in a ``finally``. asyncpg still
    rolls back a transaction left open before it calls this.
    """


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, wait_s: float = 30.0
) -> asyncpg.Pool:
    """Create a pool, retrying while the server is still starting (up to ``wait_s``)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    delay = 0.2
    while True:
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                reset=_no_session_reset,
                # asyncpg prepares every statement, and after five runs PostgreSQL may keep a
                # generic plan for it, made for the table as it was then. Services start on empty
                # tables, so those plans are sequential scans; `make bench` caught lookups and the
                # ingest claim turning linear (then quadratic) as tables grew, until one claim
                # took 10 s. Autoanalyze would invalidate them eventually, but may be slow or off.
                # Planning each run costs tens of microseconds of database CPU per statement.
                server_settings={"plan_cache_mode": "force_custom_plan"},
                command_timeout=30,
            )
            return pool
        except TRANSIENT_DB_ERRORS as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            log.warning("database not reachable yet, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ping(pool: asyncpg.Pool, timeout: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT 1") == 1)
    except Exception:
        return False


Notified = Callable[[object, int, str, object], None]
"""asyncpg's listener callback: (connection, backend pid, channel, payload)."""

_LIVENESS_CHECK_S = 5.0


async def listen(
    dsn: str,
    channel: str,
    on_notify: Notified,
    *,
    on_listening: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    on_lost: Callable[[], None] | None = None,
) -> None:
    """LISTEN on ``channel`` for the service's lifetime, on a connection of its own.

    ``on_listening`` runs once LISTEN is in effect, on every (re)connection: whatever it loads
    then cannot miss a change, since changes committed later are notified. ``on_lost`` runs as
    soon as the connection is known to be gone; notifications sent until the next ``on_listening``
    are lost. Reconnects with back-off; only cancellation ends it.
    """
    delay = 0.2
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(channel, on_notify)
            if on_lost is not None:
                # A closed socket is noticed at once, not at the next liveness check.
                conn.add_termination_listener(lambda _c: on_lost())
            if on_listening is not None:
                await on_listening(conn)
            delay = 0.2
            while True:
                # A silently dead connection says nothing by itself; a query finds out.
                await asyncio.sleep(_LIVENESS_CHECK_S)
                await conn.fetchval("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "listener lost; reconnecting", extra={"channel": channel, "error": repr(exc)}
            )
        finally:
            if on_lost is not None:
                on_lost()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


Record = asyncpg.Record
# What use cases and repositories accept: a plain connection or one borrowed from the pool.
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:  # the stubs' generics do not exist at run time
    Connection = asyncpg.Connection | PoolConnectionProxy
