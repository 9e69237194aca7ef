"""The five services as separate processes, wired exactly as a deployment would wire them.

Each stack gets fresh databases, a fresh topic prefix and free ports, on a broker the caller
gives (one a test may take away and bring back: :class:`support.infra.Broker`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fireline_devtools.net import free_port
from fireline_devtools.postgres import Postgres, drop_database, ensure_database
from fireline_devtools.processes import SERVICES, ServiceProcess, stack_env, wait_ready
from fireline_runtime.event_signing import generate_private_key
from support.infra import ARTIFACTS, Broker

LIVE: list[Stack] = []
"""The stacks running now, whose logs a failed test's report quotes (tests/e2e/conftest.py)."""


@dataclass
class Stack:
    postgres: Postgres
    broker: Broker
    run_id: str
    topic_prefix: str
    admin_email: str
    admin_password: str
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    log_dir: Path = ARTIFACTS
    unready_since: str | None = None
    """Set when the stack stopped answering /readyz after a test: which test, and the checks."""

    def url(self, service: str) -> str:
        """A process's URL: ``incidents`` is the first replica, ``incidents#2`` the second."""
        return self.processes[service].url

    def replicas(self, service: str) -> list[str]:
        """The names of ``service``'s processes, first replica first."""
        return [n for n, p in self.processes.items() if p.spec.name == service]

    def env(self, service: str) -> dict[str, str]:
        return dict(self.envs[service])

    def database_url(self, service: str) -> str:
        return self.envs[service]["DATABASE_URL"]

    def logs(self) -> str:
        """Everything every service has logged so far."""
        return "\n".join(
            p.log_path.read_text(errors="replace")
            for p in self.processes.values()
            if p.log_path.exists()
        )

    def complaints(self, limit: int = 30) -> str:
        """Each process's last ``limit`` warnings and errors: what a failed test's report shows,
        since a CI machine's log files are gone with it."""
        parts = []
        for name, p in self.processes.items():
            if not p.log_path.exists():
                continue
            lines = [
                line
                for line in p.log_path.read_text(errors="replace").splitlines()
                if any(f'"level":"{level}"' in line for level in ("warning", "error", "critical"))
            ]
            if lines:
                parts.append(f"--- {name} ({len(lines)}) ---\n" + "\n".join(lines[-limit:]))
        return "\n".join(parts)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run identity's ``fireline`` console script against this stack's identity database."""
        return subprocess.run(
            [sys.executable, "-m", "fireline_identity.entrypoints.cli", *args],
            env={**os.environ, **self.envs["identity"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every process's /readyz answers 200 again: after the broker was taken away,
        the token-checking services refuse (503) until identity's watermarks reach them, and the
        readiness check is the signal that they do (``keys_view``)."""
        asyncio.run(wait_ready(list(self.processes.values()), timeout=timeout))

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for name in reversed(list(self.processes)):
            codes[name] = self.processes[name].stop()
        return codes


async def start_stack(
    postgres: Postgres,
    broker: Broker,
    *,
    ready_timeout: float = 90.0,
    extra_env: dict[str, dict[str, str]] | None = None,
    common_env: dict[str, str] | None = None,
    replicas: dict[str, int] | None = None,
) -> Stack:
    """Start the four services; ``extra_env`` adds or overrides variables per service name,
    ``common_env`` for all of them; ``replicas`` runs more than one process of a service (same
    database and group, a port each), as a scaled-out deployment does."""
    run_id = uuid.uuid4().hex[:8]
    stack = Stack(
        postgres=postgres,
        broker=broker,
        run_id=run_id,
        topic_prefix=f"e2e{run_id}.",
        admin_email=f"admin-{run_id}@example.com",
        admin_password=secrets.token_urlsafe(16),
        log_dir=ARTIFACTS / "e2e" / run_id,
    )
    suffix = f"_{run_id}"
    for spec in SERVICES:
        await ensure_database(postgres.admin_url, spec.database + suffix)
    await broker.embedded.grant(stack.topic_prefix)
    stack.envs = stack_env(
        postgres=postgres,
        bootstrap=broker.bootstrap,
        broker_env=broker.client_env,
        principals={s.name: broker.embedded.service_env(s.name) for s in SERVICES},
        ports={s.name: free_port() for s in SERVICES},
        secrets_={
            "signing_key_encryption_key": _key(),
            "ingest_encryption_key": _key(),
            "ui_client_secret": _key(),
            "notifications_encryption_key": _key(),
            "event_signing_key": generate_private_key(),
        },
        topic_prefix=stack.topic_prefix,
        database_suffix=suffix,
        extra={"FIRELINE_TOPIC_PARTITIONS": "2", **(common_env or {})},
    )
    stack.envs["identity"]["FIRELINE_ADMIN_EMAIL"] = stack.admin_email
    stack.envs["identity"]["FIRELINE_ADMIN_PASSWORD"] = stack.admin_password
    for name, variables in (extra_env or {}).items():
        stack.envs[name].update(variables)
    for spec in SERVICES:
        for replica in range(1, (replicas or {}).get(spec.name, 1) + 1):
            name = spec.name if replica == 1 else f"{spec.name}#{replica}"
            env = dict(stack.envs[spec.name])
            if replica > 1:
                env["FIRELINE_HTTP_PORT"] = str(free_port())
            proc = ServiceProcess(spec, env, stack.log_dir / f"{name.replace('#', '-')}.log")
            proc.start()
            stack.processes[name] = proc
    try:
        await wait_ready(list(stack.processes.values()), timeout=ready_timeout)
    except BaseException:
        stack.stop()
        raise
    return stack


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


async def drop_stack_databases(stack: Stack) -> None:
    for spec in SERVICES:
        await drop_database(stack.postgres.admin_url, f"{spec.database}_{stack.run_id}")


@contextmanager
def running_stack(postgres: Postgres, broker: Broker, **options: Any) -> Iterator[Stack]:
    """:func:`start_stack` for a block; the processes stop and the databases go after it."""
    stack = asyncio.run(start_stack(postgres, broker, **options))
    LIVE.append(stack)
    try:
        yield stack
    finally:
        LIVE.remove(stack)
        stack.stop()
        asyncio.run(drop_stack_databases(stack))
