"""PostgreSQL for local runs and tests: a server that is given or answers, else an embedded one.

Order of preference: ``FIRELINE_POSTGRES_URL`` (an admin URL); else a server on 127.0.0.1:5432 if
one answers; else a real embedded PostgreSQL from the ``pgserver`` wheel, kept in a project folder
(no server needs to be installed or started on the machine).
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from fireline_devtools.net import port_open

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 400
"""The embedded server's connection limit. PostgreSQL's default, 100, is what one stack of five
services with two replicas each already holds (a pool, a relay listener and the revocation
listeners per process), next to the test tier's session stack: a replica restarted by a fault test
then found the server full ("too many clients already") and never became ready. A connection
slot costs a few hundred kilobytes of shared memory."""


async def postgres_answers(url: str, timeout: float = 3.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except Exception:
        return False
    await conn.close()
    return True


@dataclass
class Postgres:
    """An admin URL for a PostgreSQL server, and how it was found."""

    admin_url: str
    origin: str
    _server: Any = field(default=None, repr=False)

    def database_url(self, name: str) -> str:
        """The admin URL with its database replaced by ``name`` (query parameters kept)."""
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()


async def find_postgres(state_dir: Path) -> Postgres:
    explicit = os.environ.get("FIRELINE_POSTGRES_URL")
    if explicit:
        return Postgres(explicit, "FIRELINE_POSTGRES_URL")
    if port_open("127.0.0.1", 5432) and await postgres_answers(LOCAL_POSTGRES_URL):
        return Postgres(LOCAL_POSTGRES_URL, "local server on 127.0.0.1:5432")
    import pgserver  # imported late: only machines without a server need it

    data = state_dir / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(data), cleanup_mode="stop"
    )
    if await _raise_connection_limit(server.get_uri()):
        # The limit is read only at start: stop the server and start it again on the same data.
        # pgserver stops it only if no other process holds it (a bench run, say); then the new
        # limit waits for the next start, and saying so beats a "too many clients" later.
        server.cleanup()
        server = pgserver.get_server(  # type: ignore[attr-defined]
            str(data), cleanup_mode="stop"
        )
        if await _raise_connection_limit(server.get_uri()):
            log.warning(
                "the embedded PostgreSQL in %s is shared with another process and keeps its old "
                "connection limit until it restarts",
                data,
            )
    return Postgres(server.get_uri(), f"embedded PostgreSQL in {data}", server)


async def _raise_connection_limit(admin_url: str) -> bool:
    """Set :data:`MAX_CONNECTIONS` in the data directory if it is lower; whether it was."""
    conn = await asyncpg.connect(admin_url)
    try:
        if int(await conn.fetchval("SHOW max_connections")) >= MAX_CONNECTIONS:
            return False
        await conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        return True
    finally:
        await conn.close()


async def ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{_ident(name)}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_ident(name)}" WITH (FORCE)')
    finally:
        await conn.close()


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    return name
