"""``make run``: the whole system on embedded defaults.

Starts (or finds) PostgreSQL and a Kafka broker (Apache Kafka when Java and Maven are present,
else Tansu; see :mod:`fireline_devtools.brokers`), creates one database per service, starts the
four services as separate processes, waits until every ``/readyz`` answers 200, prints where
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
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from fireline_devtools.brokers import EmbeddedBroker, start_local_broker
from fireline_devtools.net import port_open
from fireline_devtools.postgres import Postgres, drop_database, ensure_database, find_postgres
from fireline_devtools.processes import SERVICES, ServiceProcess, stack_env, wait_ready
from fireline_runtime.event_signing import generate_private_key


def dev_secrets(state_dir: Path) -> dict[str, str]:
    """Local-only keys, generated once and kept in the git-ignored state folder."""
    path = state_dir / "dev-secrets.json"
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted: dict[str, Callable[[], str]] = {
        "signing_key_encryption_key": _random_key,
        "ingest_encryption_key": _random_key,
        "ui_client_secret": _random_key,
        "notifications_encryption_key": _random_key,
        "event_signing_key": generate_private_key,
    }
    # A state folder from before a secret existed gets the new one and keeps the others.
    missing = {name: make() for name, make in wanted.items() if name not in values}
    if missing:
        values.update(missing)
        path.write_text(json.dumps(values))
        path.chmod(0o600)
    return values


def _random_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _checkout_suffix(state_dir: Path) -> str:
    """Databases of this checkout: two clones on one PostgreSQL server must not share them.

    Each checkout keeps its own dev secrets (signing-key encryption key, admin password) in its
    state folder; databases written with another checkout's keys would be unreadable here.
    """
    return "_" + hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]


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


async def _can_log_in(identity_url: str, email: str, password: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.post(
            f"{identity_url}/v1/session", json={"email": email, "password": password}
        )
        return r.status_code == 200


@dataclass
class Run:
    """What one ``make run`` started, in the order it is stopped (last first)."""

    state_dir: Path
    postgres: Postgres
    broker: EmbeddedBroker
    processes: list[ServiceProcess]

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def stop(self) -> None:
        print("\nStopping...", flush=True)
        for p in reversed(self.processes):
            print(f"  {p.spec.name} stopped ({p.stop()})", flush=True)
        self.broker.stop()
        self.postgres.stop()
        print("Stopped.", flush=True)


async def _start_services(run: Run, admin_email: str, admin_password: str, level: str) -> None:
    suffix = _checkout_suffix(run.state_dir)
    for spec in SERVICES:
        await ensure_database(run.postgres.admin_url, spec.database + suffix)
    envs = stack_env(
        postgres=run.postgres,
        bootstrap=run.broker.bootstrap,
        broker_env=run.broker.client_env,
        principals={s.name: run.broker.service_env(s.name) for s in SERVICES},
        ports={s.name: s.port for s in SERVICES},
        secrets_=dev_secrets(run.state_dir),
        database_suffix=suffix,
        extra={"FIRELINE_LOG_LEVEL": level},
    )
    envs["identity"]["FIRELINE_ADMIN_EMAIL"] = admin_email
    envs["identity"]["FIRELINE_ADMIN_PASSWORD"] = admin_password
    for spec in SERVICES:
        if port_open("127.0.0.1", spec.port):
            raise RuntimeError(f"port {spec.port} ({spec.name}) is already in use")
        proc = ServiceProcess(spec, envs[spec.name], run.logs / f"{spec.name}.log")
        proc.start()
        run.processes.append(proc)


async def _print_banner(
    run: Run, took: dict[str, float], elapsed: float, admin: tuple[str, str, bool]
) -> None:
    admin_email, admin_password, generated = admin
    print(f"\nFireline is up in {elapsed:.1f}s", flush=True)
    print(f"  PostgreSQL: {run.postgres.origin}")
    print(f"  Kafka:      {run.broker.description} at {run.broker.bootstrap}")
    if run.broker.note:
        print(f"              ({run.broker.note})")
    for p in run.processes:
        print(f"  {p.spec.name:<17} {p.url}   (ready after {took[p.spec.name]:.1f}s)")
    identity = run.processes[0].url
    print(f"\n  Web UI:   {identity}/ui/")
    print(f"  Log in:   {admin_email}")
    if not await _can_log_in(identity, admin_email, admin_password):
        # The admin is only created when no org exists; these databases already had one.
        print("  Password: not this run's: the identity database already has an admin from")
        print("            an earlier run. Use that password, or start over with")
        print("            `make reset-db` (drops Fireline's local databases and Kafka data).")
    elif generated:
        print(f"  Password: {admin_password}   (generated now and shown once; set")
        print("            FIRELINE_ADMIN_PASSWORD to choose your own)")
    elif not os.environ.get("FIRELINE_ADMIN_PASSWORD"):
        print(f"  Password: as printed on the first run ({run.state_dir}/admin-password)")
    print(f"  Logs:     {run.logs}/\n\nCtrl-C stops everything.", flush=True)


async def _wait_for_stop(processes: list[ServiceProcess]) -> None:
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


async def _run(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    postgres = await find_postgres(state_dir)
    try:
        print(
            "Starting Kafka (the first run resolves Apache Kafka's jars with Maven)...", flush=True
        )
        broker = start_local_broker(state_dir, show_progress=True)
    except BaseException:
        postgres.stop()
        raise
    try:
        await broker.grant()
    except BaseException:
        broker.stop()
        postgres.stop()
        raise
    run = Run(state_dir, postgres, broker, [])
    try:
        admin_email = os.environ.get("FIRELINE_ADMIN_EMAIL") or "admin@fireline.local"
        admin_password, generated = _admin_password(state_dir)
        await _start_services(run, admin_email, admin_password, args.log_level)
        took = await wait_ready(run.processes, timeout=args.ready_timeout)
        admin = (admin_email, admin_password, generated)
        await _print_banner(run, took, time.monotonic() - t0, admin)
        await _wait_for_stop(run.processes)
        return 0
    finally:
        run.stop()


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
    # Kafka's topics hold the old databases' events (keys among them): they go too.
    shutil.rmtree(state_dir / "kafka-data", ignore_errors=True)
    print("dropped the local Kafka data")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", default=".fireline", help="git-ignored local state")
    parser.add_argument("--ready-timeout", type=float, default=90.0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop the services' local databases and Kafka data, and exit",
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(_reset(args) if args.reset else _run(args)))


if __name__ == "__main__":
    main()
