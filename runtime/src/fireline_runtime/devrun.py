"""``make run``: the whole system on embedded defaults, and the process launcher tests reuse.

Starts (or finds) PostgreSQL and a Kafka-protocol broker, creates one database per service, starts
the four services as separate processes, waits until every ``/readyz`` answers 200, prints where
everything is, and on Ctrl-C (SIGINT) or SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fireline_runtime.infra import (
    Postgres,
    Tansu,
    drop_database,
    ensure_database,
    find_postgres,
    port_open,
)


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
)


def stack_env(
    *,
    postgres: Postgres,
    bootstrap: str,
    ports: dict[str, int],
    secrets_: dict[str, str],
    topic_prefix: str = "",
    database_suffix: str = "",
    extra: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Environment of each service process: one database each, shared broker and URLs."""
    auth_url = f"http://127.0.0.1:{ports['auth']}"
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FIRELINE_TOPIC_PREFIX": topic_prefix,
        # A first consumer-group join waits about half the session timeout; keep start-up short.
        "FIRELINE_KAFKA_SESSION_TIMEOUT_MS": "3000",
        # Tansu answers an idle fetch at its deadline, not when data arrives (real Kafka does):
        # a short deadline keeps event latency in tens of milliseconds on the embedded broker.
        "FIRELINE_KAFKA_FETCH_MAX_WAIT_MS": "20",
        "FIRELINE_OUTBOX_POLL_INTERVAL_S": "0.5",
        "FIRELINE_TOKEN_ISSUER": auth_url,
        "FIRELINE_TOKEN_AUDIENCE": "fireline-api",
        "FIRELINE_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
        "FIRELINE_AUTH_URL": auth_url,
        "FIRELINE_SHUTDOWN_GRACE_S": "5",
        "FIRELINE_LOG_LEVEL": "INFO",
    }
    per_service = {
        "identity": {
            "FIRELINE_PUBLIC_URL": f"http://127.0.0.1:{ports['identity']}",
            # The same local server opened as localhost is still this origin.
            "FIRELINE_ALLOWED_ORIGINS": f"http://localhost:{ports['identity']}",
            "FIRELINE_COOKIE_SECURE": "false",
        },
        "auth": {"FIRELINE_SIGNING_KEY_ENCRYPTION_KEY": secrets_["signing_key_encryption_key"]},
        "incidents": {},
        "pagerduty-ingest": {
            "FIRELINE_PUBLIC_URL": f"http://127.0.0.1:{ports['pagerduty-ingest']}",
            "FIRELINE_INGEST_ENCRYPTION_KEY": secrets_["ingest_encryption_key"],
            # PagerDuty's hosts plus loopback, where the e2e tests run a fake PagerDuty.
            "FIRELINE_PAGERDUTY_ALLOWED_HOSTS": (
                "api.pagerduty.com,api.eu.pagerduty.com,127.0.0.1,localhost"
            ),
        },
    }
    envs: dict[str, dict[str, str]] = {}
    for spec in SERVICES:
        envs[spec.name] = {
            **common,
            **per_service[spec.name],
            "DATABASE_URL": postgres.database_url(spec.database + database_suffix),
            "FIRELINE_HTTP_PORT": str(ports[spec.name]),
            **(extra or {}),
        }
    return envs


def dev_secrets(state_dir: Path) -> dict[str, str]:
    """Local-only keys, generated once and kept in the git-ignored state folder."""
    path = state_dir / "dev-secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    values = {
        "signing_key_encryption_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ingest_encryption_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _checkout_suffix(state_dir: Path) -> str:
    """Databases of this checkout: two clones on one PostgreSQL server must not share them.

    Each checkout keeps its own dev secrets (signing-key encryption key, admin password) in its
    state folder; databases written with another checkout's keys would be unreadable here.
    """
    return "_" + hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]


async def _can_log_in(identity_url: str, email: str, password: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.post(
            f"{identity_url}/v1/session", json={"email": email, "password": password}
        )
        return r.status_code == 200


async def _reset(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    postgres = await find_postgres(state_dir)
    suffix = _checkout_suffix(state_dir)
    try:
        for spec in SERVICES:
            await drop_database(postgres.admin_url, spec.database + suffix)
            print(f"dropped {spec.database + suffix}")
    finally:
        postgres.stop()
    return 0


def _admin_password(state_dir: Path) -> tuple[str, bool]:
    """FIRELINE_ADMIN_PASSWORD, else one generated on the first run and kept for the next ones.

    The admin is only created when no org exists, so a password generated anew on every run would
    be wrong from the second run on; keeping it in the git-ignored state folder avoids that.
    """
    explicit = os.environ.get("FIRELINE_ADMIN_PASSWORD")
    if explicit:
        return explicit, False
    path = state_dir / "admin-password"
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(12)
    path.write_text(password)
    path.chmod(0o600)
    return password, True


_IDENTITY_ONLY = ("FIRELINE_ADMIN_EMAIL", "FIRELINE_ADMIN_PASSWORD")


def child_env(own: dict[str, str]) -> dict[str, str]:
    """A service's environment: ours (PATH and the like) without the admin login, plus ``own``.

    The admin password may be set in the shell that runs ``make run``; only identity, which
    creates the admin, gets it, and only because its ``own`` carries it.
    """
    inherited = {k: v for k, v in os.environ.items() if k not in _IDENTITY_ONLY}
    return {**inherited, **own}


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['FIRELINE_HTTP_PORT']}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.spec.module],
            env=child_env(self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


async def wait_ready(processes: list[ServiceProcess], timeout: float = 60.0) -> dict[str, float]:
    """Wait until every /readyz answers 200; returns seconds each took. Raises on timeout."""
    started = time.monotonic()
    ready: dict[str, float] = {}
    last: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=2.0) as client:
        while len(ready) < len(processes):
            for p in processes:
                if p.spec.name in ready:
                    continue
                if p.proc is not None and p.proc.poll() is not None:
                    raise RuntimeError(
                        f"{p.spec.name} exited with code {p.proc.returncode}; see {p.log_path}"
                    )
                try:
                    r = await client.get(f"{p.url}/readyz")
                    if r.status_code == 200:
                        ready[p.spec.name] = time.monotonic() - started
                    last[p.spec.name] = r.text
                except httpx.HTTPError as exc:
                    last[p.spec.name] = repr(exc)
            if time.monotonic() - started > timeout:
                missing = [p.spec.name for p in processes if p.spec.name not in ready]
                detail = "; ".join(f"{m}: {last.get(m, 'no answer')}" for m in missing)
                raise TimeoutError(f"not ready after {timeout:.0f}s: {detail}")
            await asyncio.sleep(0.2)
    return ready


async def _run(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    logs = state_dir / "logs"
    t0 = time.monotonic()
    postgres = await find_postgres(state_dir)
    broker: Tansu | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not bootstrap:
        port = 9092 if not port_open("127.0.0.1", 9092) else None
        broker = Tansu(port, log_path=logs / "tansu.log")
        logs.mkdir(parents=True, exist_ok=True)
        bootstrap = broker.start()
    processes: list[ServiceProcess] = []
    try:
        suffix = _checkout_suffix(state_dir)
        for spec in SERVICES:
            await ensure_database(postgres.admin_url, spec.database + suffix)
        admin_email = os.environ.get("FIRELINE_ADMIN_EMAIL") or "admin@fireline.local"
        admin_password, generated = _admin_password(state_dir)
        envs = stack_env(
            postgres=postgres,
            bootstrap=bootstrap,
            ports={s.name: s.port for s in SERVICES},
            secrets_=dev_secrets(state_dir),
            database_suffix=suffix,
            extra={"FIRELINE_LOG_LEVEL": args.log_level},
        )
        envs["identity"]["FIRELINE_ADMIN_EMAIL"] = admin_email
        envs["identity"]["FIRELINE_ADMIN_PASSWORD"] = admin_password
        for spec in SERVICES:
            if port_open("127.0.0.1", spec.port):
                raise RuntimeError(f"port {spec.port} ({spec.name}) is already in use")
            proc = ServiceProcess(spec, envs[spec.name], logs / f"{spec.name}.log")
            proc.start()
            processes.append(proc)
        took = await wait_ready(processes, timeout=args.ready_timeout)
        print(f"\nFireline is up in {time.monotonic() - t0:.1f}s", flush=True)
        print(f"  PostgreSQL: {postgres.origin}")
        print(f"  Kafka:      {bootstrap}" + (" (embedded Tansu)" if broker else ""))
        for p in processes:
            print(f"  {p.spec.name:<17} {p.url}   (ready after {took[p.spec.name]:.1f}s)")
        print(f"\n  Web UI:   {processes[0].url}/ui/")
        print(f"  Log in:   {admin_email}")
        if not await _can_log_in(processes[0].url, admin_email, admin_password):
            # The admin is only created when no org exists; these databases already had one.
            print("  Password: not this run's: the identity database already has an admin from")
            print("            an earlier run. Use that password, or start over with")
            print("            `make reset-db` (drops Fireline's local databases).")
        elif generated:
            print(f"  Password: {admin_password}   (generated now and shown once; set")
            print("            FIRELINE_ADMIN_PASSWORD to choose your own)")
        elif not os.environ.get("FIRELINE_ADMIN_PASSWORD"):
            print(f"  Password: as printed on the first run ({state_dir}/admin-password)")
        print(f"  Logs:     {logs}/\n\nCtrl-C stops everything.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            for p in processes:
                if p.proc is not None and p.proc.poll() is not None:
                    print(f"{p.spec.name} exited ({p.proc.returncode}); see {p.log_path}")
                    stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return 0
    finally:
        print("\nStopping...", flush=True)
        for p in reversed(processes):
            code = p.stop()
            print(f"  {p.spec.name} stopped ({code})", flush=True)
        if broker is not None:
            broker.stop()
        postgres.stop()
        print("Stopped.", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", default=".fireline", help="git-ignored local state")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--reset", action="store_true", help="drop the services' local databases and exit"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(_reset(args) if args.reset else _run(args)))


if __name__ == "__main__":
    main()
