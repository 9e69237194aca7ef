"""The five services as separate processes, wired exactly as a deployment wires them.

``make run``, the e2e tier and ``make bench`` all start services through this module: one
database each, one broker, the auth service's issuer and JWKS URL for the token verifiers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fireline_devtools.postgres import Postgres
from fireline_runtime.event_signing import public_key_of


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port: int

    @property
    def database(self) -> str:
        return self.module


SERVICES = (
    ServiceSpec("identity", "fireline_identity", 8001),
    ServiceSpec("auth", "fireline_auth", 8002),
    ServiceSpec("incidents", "fireline_incidents", 8003),
    ServiceSpec("pagerduty-ingest", "fireline_pagerduty_ingest", 8004),
    ServiceSpec("notifications", "fireline_notifications", 8005),
)

ONLY_FOR = {
    # The bootstrap admin's password is identity's alone: no other service may see it, even when
    # the developer exported it in the shell that runs `make run`.
    "FIRELINE_ADMIN_PASSWORD": "identity",
    "FIRELINE_ADMIN_EMAIL": "identity",
    # Passed through from the shell of `make run` to identity alone, like any setting.
    "FIRELINE_SECRET_SCANNING_KEYS_FILE": "identity",
    # Which private hosts webhook endpoints may use (tests' loopback receivers): notifications'.
    "FIRELINE_NOTIFICATIONS_ALLOWED_HOSTS": "notifications",
}


def stack_env(
    *,
    postgres: Postgres,
    bootstrap: str,
    ports: dict[str, int],
    secrets_: dict[str, str],
    broker_env: dict[str, str] | None = None,
    principals: dict[str, dict[str, str]] | None = None,
    topic_prefix: str = "",
    database_suffix: str = "",
    extra: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Environment of each service process: one database each, shared broker and URLs.

    ``broker_env`` holds what the broker's clients must be told (Tansu's workarounds; nothing for
    Apache Kafka, whose needs are the settings' defaults); ``principals`` each service's own Kafka
    credentials (``EmbeddedBroker.service_env``), which no other service sees.
    """
    auth_url = f"http://127.0.0.1:{ports['auth']}"
    signing_key = secrets_["event_signing_key"]
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FIRELINE_TOPIC_PREFIX": topic_prefix,
        # How soon a replica that died is noticed and its partitions move on: the lowest that
        # Apache Kafka accepts by default (group.min.session.timeout.ms).
        "FIRELINE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "FIRELINE_OUTBOX_POLL_INTERVAL_S": "0.5",
        "FIRELINE_TOKEN_ISSUER": auth_url,
        "FIRELINE_TOKEN_AUDIENCE": "fireline-api",
        "FIRELINE_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
        "FIRELINE_AUTH_URL": auth_url,
        "FIRELINE_SHUTDOWN_GRACE_S": "5",
        "FIRELINE_LOG_LEVEL": "INFO",
        # A local stack listens on loopback only: its metrics may share the HTTP port.
        "FIRELINE_METRICS_ON_HTTP_PORT": "true",
        # Every service that acts on key events accepts only what identity signed.
        "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS": public_key_of(signing_key),
        **(broker_env or {}),
    }
    per_service = {
        "identity": {
            "FIRELINE_PUBLIC_URL": f"http://127.0.0.1:{ports['identity']}",
            # The same local server opened as localhost is still this origin.
            "FIRELINE_ALLOWED_ORIGINS": f"http://localhost:{ports['identity']}",
            "FIRELINE_COOKIE_SECURE": "false",
            "FIRELINE_UI_CLIENT_SECRET": secrets_["ui_client_secret"],
            "FIRELINE_INCIDENTS_URL": f"http://127.0.0.1:{ports['incidents']}",
            "FIRELINE_EVENT_SIGNING_KEY": signing_key,
        },
        "auth": {
            "FIRELINE_SIGNING_KEY_ENCRYPTION_KEY": secrets_["signing_key_encryption_key"],
            "FIRELINE_UI_CLIENT_SECRET": secrets_["ui_client_secret"],
        },
        "incidents": {},
        "pagerduty-ingest": {
            "FIRELINE_PUBLIC_URL": f"http://127.0.0.1:{ports['pagerduty-ingest']}",
            "FIRELINE_INGEST_ENCRYPTION_KEY": secrets_["ingest_encryption_key"],
            # PagerDuty's hosts plus loopback, where the e2e tests run a fake PagerDuty.
            "FIRELINE_PAGERDUTY_ALLOWED_HOSTS": (
                "api.pagerduty.com,api.eu.pagerduty.com,127.0.0.1,localhost"
            ),
        },
        "notifications": {
            "FIRELINE_NOTIFICATIONS_ENCRYPTION_KEY": secrets_["notifications_encryption_key"],
            "FIRELINE_INCIDENTS_UI_URL": f"http://127.0.0.1:{ports['incidents']}/v1/incidents",
        },
    }
    envs: dict[str, dict[str, str]] = {}
    for spec in SERVICES:
        envs[spec.name] = {
            **common,
            **per_service[spec.name],
            **(principals or {}).get(spec.name, {}),
            "DATABASE_URL": postgres.database_url(spec.database + database_suffix),
            "FIRELINE_HTTP_PORT": str(ports[spec.name]),
            **(extra or {}),
        }
    return envs


def inherited_env(service: str) -> dict[str, str]:
    """The parent's environment minus the variables that belong to another service."""
    return {k: v for k, v in os.environ.items() if ONLY_FOR.get(k, service) == service}


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    env: dict[str, str]
    log_path: Path
    inherit: bool = True
    """Whether the process also sees this one's environment; a test that must prove a
    deployment's variables are complete and spelled right passes exactly those (plus PATH)."""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['FIRELINE_HTTP_PORT']}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.spec.module],
            env={**self._base_env(), **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )

    def _base_env(self) -> dict[str, str]:
        if self.inherit:
            return inherited_env(self.spec.name)
        return {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        """kill -9: no shutdown hooks, nothing flushed, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def wait_ready(processes: list[ServiceProcess], timeout: float = 60.0) -> dict[str, float]:
    """Wait until every /readyz answers 200; returns seconds each took. Raises on timeout."""
    started = time.monotonic()
    ready: dict[str, float] = {}
    last: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=2.0) as client:
        while len(ready) < len(processes):
            for p in processes:
                if p.log_path.name in ready:
                    continue
                if p.proc is not None and p.proc.poll() is not None:
                    raise RuntimeError(
                        f"{p.spec.name} exited with code {p.proc.returncode}; see {p.log_path}"
                    )
                try:
                    r = await client.get(f"{p.url}/readyz")
                    if r.status_code == 200:
                        ready[p.log_path.name] = time.monotonic() - started
                    last[p.log_path.name] = r.text
                except httpx.HTTPError as exc:
                    last[p.log_path.name] = repr(exc)
            if time.monotonic() - started > timeout:
                missing = [p.log_path.name for p in processes if p.log_path.name not in ready]
                detail = "; ".join(f"{m}: {last.get(m, 'no answer')}" for m in missing)
                raise TimeoutError(f"not ready after {timeout:.0f}s: {detail}")
            await asyncio.sleep(0.2)
    return {p.spec.name: ready[p.log_path.name] for p in processes}
