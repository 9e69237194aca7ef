"""Real infrastructure for the integration and e2e tiers.

PostgreSQL: ``FIRELINE_POSTGRES_URL``, else 127.0.0.1:5432, else embedded ``pgserver``; or, with
``FIRELINE_TEST_INFRA=containers`` and a Docker engine, a testcontainers PostgreSQL.

Kafka: ``KAFKA_BOOTSTRAP_SERVERS``, else Apache Kafka started here from Maven Central
(``FIRELINE_TEST_BROKER=tansu`` runs the suite on Tansu instead); or a testcontainers Apache Kafka.
A test that takes the broker away gets a broker of its own: on Apache Kafka it is really killed
(kill -9) and started again on its log directory; Tansu, which would lose every topic that way, is
cut off behind a TCP proxy instead.

Apache Kafka started here authenticates and authorises as ``make run``'s does (SCRAM users
created at format time, Fireline's ACLs). Every broker of a test run shares one set of users, so
the ``admin`` credentials the session puts in this process's environment (tests/conftest.py) work
on each; a stack's services each get their own (support.stack).
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

from fireline_devtools import brokers, kafka
from fireline_devtools.brokers import EmbeddedBroker
from fireline_devtools.net import free_port
from fireline_devtools.postgres import MAX_CONNECTIONS, Postgres, drop_database, ensure_database
from fireline_devtools.tansu import Tansu
from fireline_devtools.tansu import version as tansu_version
from support.tcp_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".fireline" / "test"
ARTIFACTS = ROOT / "test-artifacts"
KAFKA_CACHE = ROOT / ".fireline" / "kafka"
USERS = kafka.KafkaUsers.generate(brokers.SERVICE_USERS)
"""This test run's SCRAM users (random passwords), on every Apache Kafka it starts."""
STARTED: dict[str, Broker] = {}
"""The Apache Kafka brokers this run started, by bootstrap servers (support.kafka's clients
connect to each as its super user)."""


def use_containers() -> bool:
    if os.environ.get("FIRELINE_TEST_INFRA") != "containers":
        return False
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info"], capture_output=True, check=False)
    return probe.returncode == 0


def test_broker_kind() -> str:
    """``kafka`` (Apache Kafka, the default) or ``tansu``, from ``FIRELINE_TEST_BROKER``."""
    kind = os.environ.get("FIRELINE_TEST_BROKER", "kafka").strip().lower() or "kafka"
    if kind not in ("kafka", "tansu"):
        raise ValueError(f"FIRELINE_TEST_BROKER must be kafka or tansu, not {kind!r}")
    return kind


@contextlib.contextmanager
def container_postgres() -> Iterator[Postgres]:
    from testcontainers.postgres import PostgresContainer

    # The same connection limit as the embedded server (fireline_devtools.postgres).
    container = PostgresContainer("postgres:16-alpine", driver=None).with_command(
        f"postgres -c max_connections={MAX_CONNECTIONS}"
    )
    with container as pg:
        yield Postgres(pg.get_connection_url(), "testcontainers")


@contextlib.contextmanager
def container_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as kafka_container:
        yield kafka_container.get_bootstrap_server()


def kafka_distribution() -> kafka.KafkaDistribution:
    """The pinned Apache Kafka, resolved with Maven on the first run (then cached)."""
    return kafka.resolve(KAFKA_CACHE)


@dataclass
class Broker:
    """A broker a test may take away (:meth:`cut`) and bring back (:meth:`restore`)."""

    embedded: EmbeddedBroker
    proxy: FaultProxy | None = None

    @property
    def bootstrap(self) -> str:
        return self.embedded.bootstrap

    @property
    def kind(self) -> str:
        return self.embedded.kind

    @property
    def client_env(self) -> dict[str, str]:
        return self.embedded.client_env

    @property
    def admin_env(self) -> dict[str, str]:
        """Settings that make a client the broker's super user: tests look at topics with it."""
        return self.embedded.service_env(kafka.ADMIN)

    @property
    def cluster(self) -> kafka.KafkaCluster:
        assert self.embedded.cluster is not None, "not an Apache Kafka broker started here"
        return self.embedded.cluster

    def cut(self) -> None:
        """The broker is gone: Kafka is killed with -9, Tansu is cut off behind its proxy."""
        if self.proxy is not None:
            self.proxy.cut()
            return
        for node_id in self.cluster.nodes:
            self.cluster.kill(node_id)

    def restore(self) -> None:
        """Back again: Kafka restarts on its log directories, with every record and offset."""
        if self.proxy is not None:
            self.proxy.restore()
            return
        for node_id, node in self.cluster.nodes.items():
            if not node.running:
                self.cluster.start_node(node_id)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.embedded.cluster is not None:
            self.embedded.cluster.destroy()
        else:
            self.embedded.stop()


def start_broker(
    label: str, *, size: int = 1, faulty: bool = False, kind: str | None = None
) -> Broker:
    """A broker of ``kind`` (default: the kind this run tests on), logging into test-artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    if (kind or test_broker_kind()) == "tansu":
        return _start_tansu(label, faulty=faulty)
    cluster = kafka.KafkaCluster(
        kafka_distribution(),
        STATE / "kafka" / f"{label}-{uuid.uuid4().hex[:6]}",
        size=size,
        log_dir=ARTIFACTS / f"kafka-{label}",
        users=USERS,
    )
    cluster.start()
    embedded = EmbeddedBroker("apache-kafka", cluster.version, cluster.bootstrap, cluster=cluster)
    STARTED[embedded.bootstrap] = broker = Broker(embedded)
    return broker


def _start_tansu(label: str, *, faulty: bool) -> Broker:
    log = ARTIFACTS / f"tansu-{label}.log"
    if not faulty:
        return Broker(brokers.start_tansu(log))
    # Memory storage: a real stop would erase every topic, which no Kafka outage does. Clients
    # see only the proxy's address, and the proxy is what a test cuts.
    front = free_port()
    tansu = Tansu(log_path=log, advertised_port=front)
    proxy = FaultProxy(target_port=tansu.port, listen_port=front)
    tansu.start()
    proxy.start()
    embedded = EmbeddedBroker(
        "tansu",
        tansu_version(),
        tansu.bootstrap,
        client_env=dict(brokers.TANSU_CLIENT_ENV),
        _stop=tansu.stop,
    )
    return Broker(embedded, proxy)


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
