"""What the bench measures: a stack it starts itself, or one already running (all URLs given)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench import cpu, pgcluster
from bench.options import External
from fireline_devtools.brokers import EmbeddedBroker
from fireline_devtools.postgres import Postgres, find_postgres
from fireline_runtime.kafka_security import KafkaClientSettings, KafkaSecurity
from support import infra
from support.stack import Stack, drop_stack_databases, start_stack

RAISED_FAILED_AUTH_LIMIT = 1_000_000
"""Auth's failed-authentication limit in the stack the bench starts. Scenarios 5 and 6 poll the
token exchange every 5 ms with keys that are not (yet, or any longer) valid; at the default (10 a
minute per address) they would measure the limiter's 429s, not key propagation."""


@dataclass(frozen=True)
class Target(External):
    """The stack under measurement: its URLs and credentials, and what the report says of it."""

    started_here: bool
    failed_auth_limit: int | None
    """The raised limit when the bench started the stack; None when it is not known."""
    postgres_version: str
    broker: str
    auth_env: dict[str, str] | None = None
    """The auth service's environment when the bench started it (scenario 7 runs auth's CLI with
    it); None for a running stack. Never written to the results."""
    processes: dict[str, cpu.Watched] = field(default_factory=dict)
    """The stack's processes by role (services, broker JVM, PostgreSQL's postmaster), when the
    bench started them; empty for a running stack, whose CPU is then not measured."""
    database_urls: dict[str, str] = field(default_factory=dict)
    """Each service's database, when the bench created them; never written to the results."""
    postgres_admin_url: str | None = None
    """The server's admin URL when the bench started the stack; never written to the results."""
    postgres: dict[str, object] = field(default_factory=dict)
    """Which PostgreSQL, its version and durability settings, and whether it counts statements."""
    notifications_url: str = ""
    """The notifications service, when the bench started it (scenarios 13 and 14)."""
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    """How the bench's own Kafka readers connect: the super user of a broker it started, else
    this shell's FIRELINE_KAFKA_SASL_* settings. Never written to the results."""

    def limiter_json(self) -> dict[str, object]:
        if self.failed_auth_limit is None:
            return {
                "failed_auth_limit": None,
                "raised": False,
                "note": "external stack: limiter as deployed; 429s are counted in scenarios 5/6",
            }
        return {
            "failed_auth_limit": self.failed_auth_limit,
            "raised": True,
            "note": "raised so scenarios 5 and 6 measure propagation, not the limiter",
        }


def external(given: External) -> Target:
    return Target(
        **vars(given),
        started_here=False,
        failed_auth_limit=None,
        postgres_version="unknown (external stack)",
        broker="external",
        kafka_security=KafkaClientSettings().kafka_security,
    )


@contextlib.asynccontextmanager
async def own_stack(
    broker_kind: str = "kafka", postgres_kind: str = "embedded"
) -> AsyncIterator[Target]:
    """The four services as processes on fresh databases, as the e2e tests start them."""
    broker, broker_name = _broker(broker_kind)
    stack: Stack | None = None
    try:
        async with _postgres(postgres_kind) as (postgres, data_dir):
            try:
                stack = await start_stack(
                    postgres,
                    broker,
                    extra_env={
                        "auth": {"FIRELINE_FAILED_AUTH_LIMIT": str(RAISED_FAILED_AUTH_LIMIT)},
                        # Scenarios 13 and 14 receive the webhooks on loopback.
                        "notifications": {"FIRELINE_NOTIFICATIONS_ALLOWED_HOSTS": "127.0.0.1"},
                        # Scenario 17's PagerDuty REST API is a fake on loopback.
                        "pagerduty-ingest": {
                            "FIRELINE_PAGERDUTY_ALLOWED_HOSTS": "api.pagerduty.com,127.0.0.1"
                        },
                    },
                )
                database_urls = {
                    name: stack.database_url(name)
                    for name in ("pagerduty-ingest", "incidents", "notifications")
                }
                described = await _describe_postgres(postgres, postgres_kind, database_urls)
                yield Target(
                    identity_url=stack.url("identity"),
                    auth_url=stack.url("auth"),
                    incidents_url=stack.url("incidents"),
                    ingest_url=stack.url("pagerduty-ingest"),
                    admin_email=stack.admin_email,
                    admin_password=stack.admin_password,
                    kafka_bootstrap=broker.bootstrap,
                    topic_prefix=stack.topic_prefix,
                    started_here=True,
                    failed_auth_limit=RAISED_FAILED_AUTH_LIMIT,
                    postgres_version=str(described["version"]),
                    broker=broker_name,
                    auth_env=stack.env("auth"),
                    notifications_url=stack.url("notifications"),
                    kafka_security=broker.embedded.security(),
                    processes=_processes(stack, broker, data_dir),
                    database_urls=database_urls,
                    postgres_admin_url=postgres.admin_url,
                    postgres=described,
                )
            finally:
                if stack is not None:
                    stack.stop()
                    await drop_stack_databases(stack)
    finally:
        broker.stop()


@contextlib.asynccontextmanager
async def _postgres(kind: str) -> AsyncIterator[tuple[Postgres, Path | None]]:
    """The server and its data folder (None when it is not this machine's to look into)."""
    if kind == "debian":
        bin_dir = pgcluster.debian_bin()
        if bin_dir is None:
            raise RuntimeError("--postgres debian: Debian's postgresql package is not installed")
        with pgcluster.private_cluster(bin_dir) as cluster:
            yield Postgres(cluster.admin_url, "private Debian cluster"), cluster.data_dir
        return
    infra.STATE.mkdir(parents=True, exist_ok=True)
    postgres = await find_postgres(infra.STATE)
    try:
        embedded = postgres.origin.startswith("embedded")
        yield postgres, infra.STATE / "pgdata" if embedded else None
    finally:
        postgres.stop()


def _processes(stack: Stack, broker: infra.Broker, data_dir: Path | None) -> dict[str, cpu.Watched]:
    """Process ids by role; a role whose process is not known here is left out (not measured)."""
    watched: dict[str, cpu.Watched] = {}
    for role, service in (
        ("ingest", "pagerduty-ingest"),
        ("incidents", "incidents"),
        ("identity", "identity"),
        ("auth", "auth"),
        ("notifications", "notifications"),
    ):
        proc = stack.processes[service].proc
        if proc is not None:
            watched[role] = cpu.Watched(proc.pid)
    cluster = broker.embedded.cluster
    if cluster is not None:
        for node_id, node in cluster.nodes.items():
            if node.proc is not None:
                role = "kafka" if len(cluster.nodes) == 1 else f"kafka-{node_id}"
                watched[role] = cpu.Watched(node.proc.pid)
    if data_dir is not None:
        watched["postgresql"] = cpu.Watched(pgcluster.postmaster_pid(data_dir), with_children=True)
    return watched


async def _describe_postgres(
    postgres: Postgres, kind: str, database_urls: dict[str, str]
) -> dict[str, object]:
    """Which server, and the settings a write's cost depends on; the extension where it exists."""
    conn = await asyncpg.connect(postgres.admin_url)
    try:
        described: dict[str, object] = {"kind": kind}
        for setting in ("server_version", "fsync", "synchronous_commit"):
            described[setting.removeprefix("server_")] = await conn.fetchval(f"SHOW {setting}")
        preload = str(await conn.fetchval("SHOW shared_preload_libraries"))
    finally:
        await conn.close()
    counting = pgcluster.STATEMENTS_EXTENSION in preload
    if counting:
        # In each service database, and in the admin one the bench reads the counters from.
        for url in (*database_urls.values(), postgres.admin_url):
            db = await asyncpg.connect(url)
            try:
                await db.execute(f"CREATE EXTENSION IF NOT EXISTS {pgcluster.STATEMENTS_EXTENSION}")
            finally:
                await db.close()
    described["pg_stat_statements"] = counting
    return described


def _broker(kind: str) -> tuple[infra.Broker, str]:
    """``KAFKA_BOOTSTRAP_SERVERS`` when set (as in the test suite), else a broker started here."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        return infra.Broker(EmbeddedBroker("external", "unknown", given)), "external"
    broker = infra.start_broker(f"bench-{kind}", kind=kind)
    return broker, broker.embedded.description
