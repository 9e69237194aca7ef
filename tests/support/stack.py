"""The four services as separate processes, wired exactly as a deployment would wire them.

Each stack gets fresh databases, a fresh topic prefix and free ports; the broker sits behind a
:class:`~support.tcp_proxy.FaultProxy` so a test can take it away and bring it back.
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

from fireline_runtime.devrun import SERVICES, ServiceProcess, stack_env, wait_ready
from fireline_runtime.infra import Postgres, drop_database, ensure_database, free_port
from support.infra import ARTIFACTS, Broker


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

    def url(self, service: str) -> str:
        return self.processes[service].url

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
) -> Stack:
    """Start the four services; ``extra_env`` adds or overrides variables per service name."""
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
    stack.envs = stack_env(
        postgres=postgres,
        bootstrap=broker.bootstrap,
        ports={s.name: free_port() for s in SERVICES},
        secrets_={"signing_key_encryption_key": _key(), "ingest_encryption_key": _key()},
        topic_prefix=stack.topic_prefix,
        database_suffix=suffix,
        extra={"FIRELINE_TOPIC_PARTITIONS": "2"},
    )
    stack.envs["identity"]["FIRELINE_ADMIN_EMAIL"] = stack.admin_email
    stack.envs["identity"]["FIRELINE_ADMIN_PASSWORD"] = stack.admin_password
    for name, variables in (extra_env or {}).items():
        stack.envs[name].update(variables)
    for spec in SERVICES:
        proc = ServiceProcess(spec, stack.envs[spec.name], stack.log_dir / f"{spec.name}.log")
        proc.start()
        stack.processes[spec.name] = proc
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
def running_stack(postgres: Postgres, broker: Broker) -> Iterator[Stack]:
    stack = asyncio.run(start_stack(postgres, broker))
    try:
        yield stack
    finally:
        stack.stop()
        asyncio.run(drop_stack_databases(stack))
