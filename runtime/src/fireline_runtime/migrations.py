"""Ordered SQL migrations, applied once each under an advisory lock and recorded with a checksum.

Each component (the runtime's own tables, then the service's) ships ``NNNN_name.sql`` files as
package data. Several replicas may start at once: the advisory lock makes one of them apply the
files while the others wait and then find nothing left to do.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

from fireline_runtime.db import Connection

log = logging.getLogger(__name__)

_LOCK_KEY = 0x46495245  # "FIRE": one advisory lock id for migrations in any Fireline database


@dataclass(frozen=True)
class Migration:
    component: str
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load(component: str, package: str) -> list[Migration]:
    """Read ``*.sql`` files from ``package`` (a Python package holding them), in name order."""
    files = sorted(
        (f for f in resources.files(package).iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    return [Migration(component, f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def apply(conn: Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied. Refuse edited, applied files."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component text NOT NULL,
                version text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        rows = await conn.fetch("SELECT component, version, checksum FROM schema_migrations")
        done = {(r["component"], r["version"]): r["checksum"] for r in rows}
        for m in migrations:
            previous = done.get((m.component, m.version))
            if previous is not None:
                if previous != m.checksum:
                    raise MigrationError(
                        f"migration {m.component}/{m.version} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, checksum) "
                    "VALUES ($1, $2, $3)",
                    m.component,
                    m.version,
                    m.checksum,
                )
            applied_now.append(f"{m.component}/{m.version}")
            log.info("migration applied", extra={"migration": f"{m.component}/{m.version}"})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


def runtime_migrations() -> list[Migration]:
    """The runtime's own tables (outbox, inbox); applied before a service's migrations."""
    return load("runtime", "fireline_runtime.sql")
