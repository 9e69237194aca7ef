"""Which Kafka-protocol broker a local run gets, and what its clients must be told about it.

``KAFKA_BOOTSTRAP_SERVERS`` always wins (a broker someone else runs). Otherwise Apache Kafka from
Maven Central (:mod:`fireline_devtools.kafka`) when Java and Maven are there, else Tansu, the
zero-Java fallback, with the reason printed. ``FIRELINE_BROKER`` (``kafka`` or ``tansu``) chooses
explicitly; asking for ``kafka`` on a machine that cannot run it is an error, not a fallback.

Apache Kafka started here authenticates every client (SASL/SCRAM, a principal per service) and
authorises it by Fireline's ACLs (:mod:`fireline_devtools.kafka`): whoever starts it grants them
(:meth:`EmbeddedBroker.grant`) and tells each service its credentials
(:meth:`EmbeddedBroker.service_env`). Tansu has no SASL: a stack on it is unauthenticated, for
development only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fireline_devtools import kafka, tansu
from fireline_devtools.net import port_open
from fireline_devtools.processes import SERVICES
from fireline_runtime.kafka_acls import apply_acls, fireline_acls
from fireline_runtime.kafka_security import KafkaSecurity

SERVICE_USERS = tuple(spec.name for spec in SERVICES)
"""Each service's Kafka principal is its name (fireline_runtime.kafka_acls)."""

BrokerKind = Literal["apache-kafka", "tansu", "external"]

TANSU_CLIENT_ENV = {
    # Tansu has no idempotent producer (InitProducerId is not implemented).
    "FIRELINE_KAFKA_IDEMPOTENCE": "false",
    # Tansu answers an idle fetch at its deadline, not when data arrives as Kafka does: a short
    # deadline keeps event latency in tens of milliseconds on it.
    "FIRELINE_KAFKA_FETCH_MAX_WAIT_MS": "20",
}
"""Settings every client of Tansu needs; Apache Kafka needs none (the defaults are for it)."""


@dataclass
class EmbeddedBroker:
    """A broker a local run started (or was given), and how to talk to it."""

    kind: BrokerKind
    version: str
    bootstrap: str
    client_env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    cluster: kafka.KafkaCluster | None = None
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def users(self) -> kafka.KafkaUsers | None:
        return self.cluster.users if self.cluster is not None else None

    def security(self, user: str = kafka.ADMIN) -> KafkaSecurity:
        """How ``user`` connects: its SCRAM credentials, or nothing on a broker without SASL."""
        if self.users is None:
            return KafkaSecurity()
        return KafkaSecurity(username=user, password=self.users.password(user))

    def service_env(self, user: str) -> dict[str, str]:
        """The settings that make ``user`` (a service, or ``admin``) its own principal."""
        if self.users is None:
            return {}
        return {
            "FIRELINE_KAFKA_SASL_USERNAME": user,
            "FIRELINE_KAFKA_SASL_PASSWORD": self.users.password(user),
        }

    async def grant(self, topic_prefix: str = "") -> None:
        """Create the ACLs Fireline's services need on topics named with ``topic_prefix``."""
        if self.users is not None:
            await apply_acls(self.bootstrap, self.security(), fireline_acls(topic_prefix))

    @property
    def description(self) -> str:
        if self.kind == "apache-kafka":
            size = len(self.cluster.nodes) if self.cluster else 1
            return f"Apache Kafka {self.version} ({size} KRaft node{'s' if size > 1 else ''})"
        if self.kind == "tansu":
            return f"Tansu {self.version} (embedded, memory only)"
        return "given by KAFKA_BOOTSTRAP_SERVERS"

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()


def wanted() -> str:
    """``FIRELINE_BROKER``: ``kafka``, ``tansu`` or ``auto`` (the default)."""
    choice = os.environ.get("FIRELINE_BROKER", "auto").strip().lower() or "auto"
    if choice not in ("auto", "kafka", "tansu"):
        raise ValueError(f"FIRELINE_BROKER must be kafka, tansu or auto, not {choice!r}")
    return choice


def start_apache_kafka(
    state_dir: Path,
    data_dir: Path,
    *,
    size: int = 1,
    fixed_ports: bool = False,
    show_progress: bool = False,
    heap: str = kafka.DEFAULT_HEAP,
    log_dir: Path | None = None,
) -> EmbeddedBroker:
    """Apache Kafka with its logs in ``data_dir`` (kept across runs, as a deployed broker's),
    and its SCRAM users' passwords beside them."""
    users_file = data_dir / "scram-users.json"
    if (data_dir / "node-1" / "data" / "meta.properties").exists() and not users_file.exists():
        # Its metadata has no SCRAM users, and nobody could log in to add them.
        raise RuntimeError(
            f"{data_dir} was formatted before Kafka authentication and has no SCRAM users; "
            "`make reset-db` starts it afresh"
        )
    distribution = kafka.resolve(state_dir / "kafka", show_progress=show_progress)
    users = kafka.KafkaUsers.kept_in(users_file, SERVICE_USERS)
    ports = None
    if fixed_ports and size == 1 and not port_open("127.0.0.1", 9092):
        ports = {1: (9092, 9093)}
    cluster = kafka.KafkaCluster(
        distribution, data_dir, size=size, ports=ports, heap=heap, log_dir=log_dir, users=users
    )
    cluster.start()
    return EmbeddedBroker(
        "apache-kafka",
        distribution.version,
        cluster.bootstrap,
        cluster=cluster,
        _stop=cluster.stop,
    )


def start_tansu(log_path: Path, *, fixed_port: bool = False, note: str = "") -> EmbeddedBroker:
    port = 9092 if fixed_port and not port_open("127.0.0.1", 9092) else None
    broker = tansu.Tansu(port, log_path=log_path)
    bootstrap = broker.start()
    return EmbeddedBroker(
        "tansu",
        tansu.version(),
        bootstrap,
        client_env=dict(TANSU_CLIENT_ENV),
        note=note,
        _stop=broker.stop,
    )


def start_local_broker(state_dir: Path, *, show_progress: bool = False) -> EmbeddedBroker:
    """The broker ``make run`` and ``make bench`` use, by the rules in this module's docstring."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        return EmbeddedBroker("external", "unknown", given)
    choice = wanted()
    logs = state_dir / "logs"
    if choice == "tansu":
        return start_tansu(logs / "tansu.log", fixed_port=True)
    try:
        return start_apache_kafka(
            state_dir,
            state_dir / "kafka-data",
            fixed_ports=True,
            show_progress=show_progress,
            log_dir=logs,
        )
    except kafka.KafkaUnavailable as exc:
        if choice == "kafka":
            raise
        return start_tansu(
            logs / "tansu.log", fixed_port=True, note=f"Apache Kafka not started: {exc}"
        )
