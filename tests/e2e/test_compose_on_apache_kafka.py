"""docker-compose.yml's settings, booted for real without Docker.

The ``kafka`` service's ``KAFKA_*`` environment becomes broker properties by the rule the
apache/kafka image applies, and that broker (the same Kafka release, from Maven Central) is
started with them. The four services then run with exactly the environment compose gives them,
compose host names mapped to loopback, and nothing inherited from the test process. A Kafka
setting the broker rejects, a missing or misspelled service variable, fails here.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fireline_devtools.kafka import KafkaCluster
from fireline_devtools.net import free_port
from fireline_devtools.postgres import Postgres, drop_database, ensure_database
from fireline_devtools.processes import SERVICES, ServiceProcess, wait_ready
from fireline_runtime.event_signing import generate_private_key, public_key_of
from support import infra
from support import pagerduty_fixtures as pd
from support.credentials import exchange_at

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

IMAGE_EXCLUDES = {
    # Variables the apache/kafka image reads itself rather than turning into properties.
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPT",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
}

_EVENT_KEY = generate_private_key()
TEST_SECRETS = {
    "POSTGRES_PASSWORD": "unused-here",
    "FIRELINE_ADMIN_PASSWORD": "compose admin password 1",
    "FIRELINE_SIGNING_KEY_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "FIRELINE_INGEST_ENCRYPTION_KEY": "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
    "FIRELINE_UI_CLIENT_SECRET": "compose-ui-client-secret-0123456789abcdef",
    "FIRELINE_NOTIFICATIONS_ENCRYPTION_KEY": "YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=",
    "FIRELINE_KAFKA_ADMIN_PASSWORD": "compose-kafka-admin",
    "FIRELINE_KAFKA_IDENTITY_PASSWORD": "compose-kafka-identity",
    "FIRELINE_KAFKA_AUTH_PASSWORD": "compose-kafka-auth",
    "FIRELINE_KAFKA_INCIDENTS_PASSWORD": "compose-kafka-incidents",
    "FIRELINE_KAFKA_INGEST_PASSWORD": "compose-kafka-ingest",
    "FIRELINE_KAFKA_NOTIFICATIONS_PASSWORD": "compose-kafka-notifications",
    "FIRELINE_EVENT_SIGNING_KEY": _EVENT_KEY,
    "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS": public_key_of(_EVENT_KEY),
}
"""What a deployer puts in `.env`: compose refuses to start without them."""

SECRET = "compose-signing-secret-0123456789abcdef"


def image_property(variable: str) -> str:
    """The apache/kafka image's rule: drop ``KAFKA_``, then ``___`` -> ``-``, ``__`` -> ``_``,
    a single ``_`` -> ``.``, all lower case (``KAFKA_LOG_DIRS`` -> ``log.dirs``)."""
    name = variable.removeprefix("KAFKA_")
    name = re.sub(r"(?<=[^_])_(?=[^_])", ".", name)
    return name.replace("___", "-").replace("__", "_").lower()


def _substitute(value: str) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME:?message}``, with the test's `.env`."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in TEST_SECRETS:
            return TEST_SECRETS[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}, which the test's .env lacks")
        return rest

    return re.sub(r"\$\{([A-Z0-9_]+)(:-|:\?)?([^}]*)\}", one, value)


def _environment(service: str) -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    raw: dict[str, Any] = compose["services"][service]["environment"]
    return {k: _substitute(str(v)) for k, v in raw.items()}


def broker_properties(env: dict[str, str], port: int, controller: int) -> dict[str, str]:
    """The compose broker's properties, its host name and ports mapped to loopback."""
    to_loopback = {
        "kafka:9092": f"127.0.0.1:{port}",
        "kafka:9093": f"127.0.0.1:{controller}",
        "://:9092": f"://127.0.0.1:{port}",
        "://:9093": f"://127.0.0.1:{controller}",
    }
    properties = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in IMAGE_EXCLUDES:
            continue
        for old, new in to_loopback.items():
            value = value.replace(old, new)
        properties[image_property(name)] = value
    assert not [v for v in properties.values() if "kafka:" in v], properties
    return properties


@pytest.fixture(scope="module")
def compose_broker() -> Iterator[KafkaCluster]:
    if infra.test_broker_kind() != "kafka":
        pytest.skip("booting the compose broker's settings needs Apache Kafka")
    env = _environment("kafka")
    port, controller = free_port(), free_port()
    cluster = KafkaCluster(
        infra.kafka_distribution(),
        infra.STATE / "kafka" / f"compose-{infra.unique('')}",
        ports={1: (port, controller)},
        properties=broker_properties(env, port, controller),
        cluster_id=env["CLUSTER_ID"],
        log_dir=infra.ARTIFACTS / "kafka-compose",
    )
    cluster.start()
    try:
        _kafka_setup(cluster.bootstrap)
        yield cluster
    finally:
        cluster.destroy()


def _kafka_setup(bootstrap: str) -> None:
    """What compose's one-shot ``kafka-setup`` runs, with its environment: the services' SCRAM
    users and the ACLs, created as the ``admin`` the broker's own configuration defines."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka-setup"]
    env = {k: v.replace("kafka:9092", bootstrap) for k, v in _environment("kafka-setup").items()}
    # The compose command, run by the interpreter under test.
    done = subprocess.run(
        [sys.executable, *service["command"][1:]],
        env={**env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_image_rule_turns_compose_variables_into_broker_properties() -> None:
    assert image_property("KAFKA_LOG_DIRS") == "log.dirs"
    assert image_property("KAFKA_CONTROLLER_QUORUM_VOTERS") == "controller.quorum.voters"
    assert image_property("KAFKA_LISTENER_NAME_INTERNAL_SSL___CLIENT__AUTH") == (
        "listener.name.internal.ssl-client_auth"
    )


def test_compose_services_run_on_the_compose_broker_with_exactly_their_compose_environment(
    postgres: Postgres, compose_broker: KafkaCluster
) -> None:
    ports = {spec.name: free_port() for spec in SERVICES}
    suffix = "_" + infra.unique("")
    processes = [
        ServiceProcess(
            spec,
            _service_env(spec.name, postgres, compose_broker.bootstrap, ports, suffix),
            infra.ARTIFACTS / "compose" / f"{spec.name}.log",
            inherit=False,
        )
        for spec in SERVICES
    ]
    for spec in SERVICES:
        asyncio.run(ensure_database(postgres.admin_url, f"fireline_{_db(spec.name)}{suffix}"))
    try:
        for process in processes:
            process.start()
        asyncio.run(wait_ready(processes, timeout=120))
        urls = {p.spec.name: p.url for p in processes}
        incident = _a_pagerduty_incident_arrives(urls)
        assert incident["status"] == "triggered"
    finally:
        for process in reversed(processes):
            process.stop()
        for spec in SERVICES:
            name = f"fireline_{_db(spec.name)}{suffix}"
            asyncio.run(drop_database(postgres.admin_url, name))


def _db(service: str) -> str:
    return service.replace("-", "_")


def _service_env(
    service: str, postgres: Postgres, bootstrap: str, ports: dict[str, int], suffix: str
) -> dict[str, str]:
    """Compose's environment of ``service`` with compose's hosts mapped to this machine."""
    to_loopback = {
        "kafka:9092": bootstrap,
        "http://auth:8002": f"http://127.0.0.1:{ports['auth']}",
        "http://incidents:8003": f"http://127.0.0.1:{ports['incidents']}",
        "http://localhost:8001": f"http://127.0.0.1:{ports['identity']}",
        "http://localhost:8002": f"http://127.0.0.1:{ports['auth']}",
        "http://localhost:8004": f"http://127.0.0.1:{ports['pagerduty-ingest']}",
        "http://localhost:8003": f"http://127.0.0.1:{ports['incidents']}",
    }
    env = {}
    for name, value in _environment(service).items():
        if name == "DATABASE_URL":
            database = value.rsplit("/", 1)[1]
            value = postgres.database_url(database + suffix)
        for old, new in to_loopback.items():
            value = value.replace(old, new)
        env[name] = value
    hosts = "|".join(
        ("kafka", "postgres", "auth", "identity", "incidents", "pagerduty-ingest", "notifications")
    )
    compose_host = re.compile(rf"((//|@)({hosts})(:\d+)?(/|$))|((^|,)({hosts}):\d+)")
    unmapped = [f"{k}={v}" for k, v in env.items() if compose_host.search(v)]
    assert not unmapped, f"compose hosts left unmapped: {unmapped}"
    # What the image and the port mapping give a container: the listening address and port,
    # and a metrics port of its own (each container has its own 9100; here they share a host).
    env["FIRELINE_HTTP_HOST"] = "127.0.0.1"
    env["FIRELINE_HTTP_PORT"] = str(ports[service])
    if "FIRELINE_METRICS_PORT" in env:
        env["FIRELINE_METRICS_PORT"] = str(free_port())
    return env


def _a_pagerduty_incident_arrives(urls: dict[str, str]) -> dict[str, Any]:
    """Key, token, integration, one signed delivery: the incident it starts."""
    login = {"email": "admin@fireline.local", "password": TEST_SECRETS["FIRELINE_ADMIN_PASSWORD"]}
    session = httpx.post(f"{urls['identity']}/v1/session", json=login, timeout=10)
    assert session.status_code == 200, session.text
    # Compose keeps FIRELINE_COOKIE_SECURE=true: a client honouring Secure would not send the
    # cookie over plain http, so the test hands it over as a reverse proxy with TLS would.
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    key = httpx.post(
        f"{urls['identity']}/v1/api-keys",
        json={"name": "compose"},
        headers={"Cookie": cookie},
        timeout=10,
    )
    assert key.status_code == 201, key.text
    credentials = (key.json()["id"], key.json()["key"])
    token = exchange_at(urls["auth"], credentials)
    bearer = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{urls['pagerduty-ingest']}/v1/integrations/pagerduty",
        json={"name": "compose", "signing_secrets": [SECRET]},
        headers=bearer,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    incident_id = pd.new_incident_id()
    body = pd.delivery("incident_triggered_agent_null", incident_id=incident_id)
    delivered = httpx.post(
        created.json()["webhook_url"], content=body, headers=pd.signed(body, [SECRET]), timeout=10
    )
    assert delivered.status_code == 202, delivered.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{urls['incidents']}/v1/incidents",
            params={"external_id": incident_id},
            headers=bearer,
            timeout=10,
        )
        assert found.status_code == 200, found.text
        if found.json()["items"]:
            item: dict[str, Any] = found.json()["items"][0]
            return item
        time.sleep(0.2)
    raise AssertionError("the delivery never became an incident")
